"""Job models: the state of a long-running operation the server accepted with 202."""

import enum
from datetime import datetime

import attrs

from gpcn_async.models._common import Model

__all__ = ["JobState", "JobStatus"]


class JobState(enum.StrEnum):
    """Where a job stands, the same for both wire dialects."""

    PENDING = "pending"
    """Accepted, not started yet."""
    RUNNING = "running"
    """In progress (also any server stage this SDK does not know)."""
    SUCCEEDED = "succeeded"
    """Finished; the resource is ready."""
    FAILED = "failed"
    """Finished without success; ``JobStatus.error`` says why."""
    CANCELLED = "cancelled"
    """Cancelled on the server."""

    @property
    def is_terminal(self) -> bool:
        """Whether the job is over: it succeeded, failed or was cancelled."""
        return self in _TERMINAL


_TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


@attrs.frozen
class JobStatus(Model):
    """One snapshot of a job, as the server last reported it.

    Attributes:
        id: the job's id.
        state: where the job stands.
        progress: percent done (0-100), when sent.
        resource_id: the resource the job works on; the guide sends it once the job completed,
            the reference may send it before.
        resource_type: the kind of resource (``"gpu"``, ``"virtual_machine"``, ...).
        error: why the job failed or was cancelled (the server's error text, else its message).
        message: the server's message about the job, such as ``"Queued"``.
        created_at: when the job was created.
        updated_at: when the job last changed.
        completed_at: when the job finished (guide dialect).
        estimated_completion: when the server expects the job to finish (reference dialect).
        stage: the server's own state text (guide ``status``, reference ``stage``), as sent.
        operation: what the job does, such as ``"create"`` (reference dialect).
        resource_name: the name of the resource (reference dialect).
    """

    id: str
    state: JobState
    progress: int | None = None
    resource_id: str | None = None
    resource_type: str | None = None
    error: str | None = None
    message: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    completed_at: datetime | None = None
    estimated_completion: datetime | None = None
    stage: str | None = None
    operation: str | None = None
    resource_name: str | None = None

    @property
    def done(self) -> bool:
        """Whether the job is over (its state is terminal)."""
        return self.state.is_terminal
