"""``fake.jobs``: the fake's jobs by id, and what future and running jobs will do.

Reading it brings duration-scripted jobs up to date first, so a test sees each job as it is now.
The scripts themselves are plain data (``_jobs``); the effects of a job's end are ``State``'s.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping, Sequence
from typing import TypedDict, Unpack

from gpcn_async.testing._checks import require_int, require_text
from gpcn_async.testing._jobs import JobRecord, JobScript, make_script
from gpcn_async.testing._state import State

__all__ = ["Jobs", "ScriptArgs"]


class ScriptArgs(TypedDict, total=False):
    """What a job will do, as each scripting method of ``Jobs`` takes it (see ``Jobs``)."""

    polls: int | None
    duration: float | None
    outcome: str
    error: str | None
    progress: Sequence[int] | None


class Jobs(MutableMapping[str, JobRecord]):
    """``fake.jobs``: the jobs by id (live: changes show in the next answers), and their scripts.

    A job finishes after a number of polls that include it, or a duration since its creation,
    with an outcome (``"succeeded"``, ``"failed"``, or ``"cancelled"`` in the reference dialect
    only) and an optional progress curve. Each scripting method takes the same script arguments:

    - ``polls``: finish on the ``polls``-th poll that includes the job;
    - ``duration``: finish ``duration`` seconds after creation (polled or not);
    - ``outcome``: ``"succeeded"``, ``"failed"`` or ``"cancelled"``;
    - ``error``: the failure text of a failed or cancelled job;
    - ``progress``: the values (0 to 100, never decreasing) reported while running. With polls,
      one value per poll and then the final poll, so ``polls`` defaults to (and must be)
      ``len(progress) + 1``; with ``duration``, the values take equal slices of it. Without a
      curve progress rises linearly. Success reports 100; a failure keeps the last value.

    A bad script raises ``ValueError``: both timings, ``polls < 1``, ``duration < 0``, an unknown
    or impossible outcome, an error text for a success, a bad curve, or ``polls`` that do not fit
    the curve.

    Args:
        state: The fake's state.
        dialect: The wire dialect (the guide has no cancelled jobs).
    """

    def __init__(self, state: State, dialect: str) -> None:
        self._state = state
        self._dialect = dialect

    # -- the jobs, as a dict ---------------------------------------------------------------------

    def __getitem__(self, job_id: str) -> JobRecord:
        self._state.tick()
        return self._state.jobs[job_id]

    def __setitem__(self, job_id: str, job: JobRecord) -> None:
        self._state.jobs[job_id] = job

    def __delitem__(self, job_id: str) -> None:
        del self._state.jobs[job_id]  # the server forgets it: polls no longer show it

    def __iter__(self) -> Iterator[str]:
        self._state.tick()
        return iter(list(self._state.jobs))

    def __len__(self) -> int:
        return len(self._state.jobs)

    def __repr__(self) -> str:
        return repr(self._state.jobs)

    def poll_count(self, job_id: str) -> int:
        """How many poll requests included the job.

        Raises:
            KeyError: An unknown job id.
        """
        return self._job(job_id).poll_count

    # -- scripts ---------------------------------------------------------------------------------

    def script_default(self, **script: Unpack[ScriptArgs]) -> None:
        """Set what future jobs do by default (``script_next`` scripts take precedence).

        Without ``polls``, ``duration`` and ``progress`` the current timing and curve stay.

        Raises:
            ValueError: A bad script (see ``Jobs``).
        """
        state = self._state
        state.default_script = self._make(script, default=state.default_script)

    def script_next(self, count: int = 1, **script: Unpack[ScriptArgs]) -> None:
        """Queue a script for each of the next ``count`` jobs created.

        Queued scripts are used in order, one per new job, before the defaults apply again.

        Raises:
            ValueError: ``count < 1`` or a bad script (see ``Jobs``).
        """
        require_int("count", count, 1)
        state = self._state
        made = self._make(script, default=state.default_script)
        state.next_scripts.extend([made] * count)

    def script(self, job_id: str, **script: Unpack[ScriptArgs]) -> None:
        """Change what an existing job does (polls and duration count from its creation).

        Raises:
            KeyError: An unknown job id.
            ValueError: The job already finished, or a bad script (see ``Jobs``).
        """
        job = self._running(job_id)
        self._state.rescript(job, self._make(script, default=job.script))

    def finish(self, job_id: str, *, outcome: str = "succeeded", error: str | None = None) -> None:
        """End a running job now, whatever its script; the next poll reports the end.

        Its effects apply at once, as on a scripted end: a created VM becomes ``Running`` (or is
        removed if the create failed or was cancelled), a deleted VM disappears, and so on.

        Args:
            job_id: The job.
            outcome: ``"succeeded"``, ``"failed"`` or ``"cancelled"`` (reference dialect only).
            error: The failure text (failed or cancelled only; a failure without one reports
                ``"Job failed"``).

        Raises:
            KeyError: An unknown job id.
            ValueError: The job already finished, an unknown or impossible outcome, or an error
                text for a success.
        """
        job = self._running(job_id)
        ending = self._make({"outcome": outcome, "error": error}, default=job.script)
        self._state.finish(job, ending.outcome, ending.error)

    def add(
        self,
        *,
        operation: str = "create",
        resource_id: str | None = None,
        **script: Unpack[ScriptArgs],
    ) -> str:
        """Start a bare job (e.g. one "started elsewhere", to attach to) and return its id.

        Its effects apply to ``resource_id`` if such a VM exists. Without a timing or curve it
        takes the default script (queued ``script_next`` scripts are left for real jobs).

        Raises:
            ValueError: An empty operation or a bad script (see ``Jobs``).
        """
        require_text("operation", operation)
        state = self._state
        made = self._make(script, default=state.default_script)
        return state.new_job(operation, resource_id, script=made).id

    def _job(self, job_id: str) -> JobRecord:
        job = self._state.jobs.get(job_id)
        if job is None:
            raise KeyError(f"unknown job id {job_id!r}")
        return job

    def _running(self, job_id: str) -> JobRecord:
        job = self._job(job_id)
        if job.terminal:
            raise ValueError(f"job {job_id!r} already finished ({job.state})")
        return job

    def _make(self, script: ScriptArgs, *, default: JobScript) -> JobScript:
        """Check the script arguments and build the script (``default``: timing not given)."""
        unknown = sorted(set(script) - set(ScriptArgs.__annotations__))
        if unknown:  # a TypedDict is not checked when called: a misspelt name must not pass
            raise TypeError(f"unknown job script arguments: {', '.join(unknown)}")
        return make_script(
            polls=script.get("polls"),
            duration=script.get("duration"),
            outcome=script.get("outcome", "succeeded"),
            error=script.get("error"),
            default=default,
            allow_cancelled=self._dialect != "guide",
            progress=script.get("progress"),
        )
