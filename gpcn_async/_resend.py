"""Which requests may be sent again, and what a failed attempt leads to: one table each.

Pure. A request that sets a state (a read, an update, start/stop, a job poll) may be sent again;
one that acts (a create, a delete, a reset, their bulk forms, an SSH-key upload, generation or
deletion) may not, once it may have reached the server: its outcome is then unknown, and
``outcome_subject`` names what it may have acted on.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "RETRYABLE_STATUSES",
    "Decision",
    "FailureKind",
    "decide_failure",
    "decide_status",
    "is_safe_to_resend",
    "outcome_subject",
]

# Start and stop set a state (a second copy changes nothing); polls only read. A reset, a
# delete, a create or an SSH-key upload each act, so a second copy is a second action.
_SAFE_POST: Final = re.compile(
    r"^/resource/(?:jobs|gpu/bulk/(?:start|stop)|gpu/[^/]+/(?:start|stop))/?$"
)
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT"})


def is_safe_to_resend(method: str, path: str) -> bool:
    """Whether sending this request twice has the same effect as sending it once.

    Reads, updates (PUT), job polls and start/stop (single and bulk) are safe. Everything else
    is not: a create could order a second, billed VM; a delete (of a VM or an SSH key), a reset
    and their bulk forms would act twice; an unknown POST is assumed to act.
    """
    method = method.upper()
    if method in _SAFE_METHODS:
        return True
    return method == "POST" and _SAFE_POST.match(path) is not None


_CREATE_PATH: Final = "/resource/gpu"
_ONE_RESOURCE: Final = re.compile(r"^/resource/(?:gpu|ssh-keys)/(?P<id>[^/]+)(?:/[a-z-]+)?/?$")
_BULK_PATH: Final = re.compile(r"^/resource/gpu/bulk/[a-z-]+/?$")


def outcome_subject(method: str, path: str, body: Any) -> tuple[str | None, tuple[str, ...]]:
    """What an action whose outcome is unknown may have acted on: ``(vm_name, ids)``.

    A create names the VM it orders; a call on one VM or SSH key names its id (from the path);
    a bulk call names the ids of its body. Anything else names nothing.
    """
    if method.upper() == "POST" and path.rstrip("/") == _CREATE_PATH:
        name = body.get("name") if isinstance(body, dict) else None
        return (name if isinstance(name, str) else None), ()
    if _BULK_PATH.match(path):
        ids = body.get("ids") if isinstance(body, dict) else None
        if isinstance(ids, list):
            return None, tuple(item for item in ids if isinstance(item, str))
        return None, ()
    match = _ONE_RESOURCE.match(path)
    if match is not None and match["id"] not in {"bulk", "inventory", "algorithms"}:
        return None, (match["id"],)
    return None, ()


class FailureKind(enum.Enum):
    """How a request failed before any HTTP answer arrived."""

    NOT_SENT = "the connection could not be made"
    LOST = "the connection was lost"
    TIMED_OUT = "the request timed out"
    FATAL = "the request could not be sent"


class Decision(enum.Enum):
    """What the transport does with a failed attempt."""

    RETRY = "retry"
    RAISE = "raise"
    OUTCOME_UNKNOWN = "outcome unknown"


# The retry rules in one table: (failure kind, safe to resend) -> decision.
_FAILURE_DECISIONS: Final[Mapping[tuple[FailureKind, bool], Decision]] = {
    (FailureKind.NOT_SENT, True): Decision.RETRY,
    (FailureKind.NOT_SENT, False): Decision.RETRY,  # the server never saw it
    (FailureKind.LOST, True): Decision.RETRY,
    (FailureKind.LOST, False): Decision.OUTCOME_UNKNOWN,
    (FailureKind.TIMED_OUT, True): Decision.RETRY,
    (FailureKind.TIMED_OUT, False): Decision.OUTCOME_UNKNOWN,
    (FailureKind.FATAL, True): Decision.RAISE,
    (FailureKind.FATAL, False): Decision.RAISE,
}

RETRYABLE_STATUSES: Final = frozenset({429, 500, 502, 503, 504})


def decide_failure(kind: FailureKind, *, safe: bool) -> Decision:
    """Decide what to do when no answer arrived."""
    return _FAILURE_DECISIONS[kind, safe]


def decide_status(status: int, *, safe: bool) -> Decision:
    """Decide what to do with an error status.

    429 is always retried (the server refused the request without acting on it). For a request
    that is not safe to resend, any other 5xx but 501 means the server may have acted: the
    outcome is unknown. Safe requests are retried on 500, 502, 503 and 504.
    """
    if status == 429:
        return Decision.RETRY
    if status >= 500 and status != 501:
        if not safe:
            return Decision.OUTCOME_UNKNOWN
        if status in RETRYABLE_STATUSES:
            return Decision.RETRY
    return Decision.RAISE
