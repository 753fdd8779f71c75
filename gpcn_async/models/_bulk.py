"""What a bulk start/stop/reset answer says about one id (internal: the wire's per-id record)."""

import attrs

__all__ = ["BulkOutcome"]


@attrs.frozen
class BulkOutcome:
    """One entry of a bulk answer's ``data.results``.

    Attributes:
        id: the id the entry is about.
        success: whether the server did the action for this id.
        error: the server's reason when it did not.
    """

    id: str
    success: bool
    error: str | None = None
