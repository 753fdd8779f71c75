"""``fake.log``: the requests the fake received, with the status each was answered.

A cap (``FakeGPCN(log_cap=N)``) keeps only the newest N requests, so that a long-running
standalone server does not grow forever; ``count()`` stays exact over every request all the same.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

from gpcn_async.testing._checks import require_int, require_method, require_path_glob
from gpcn_async.testing._faults import method_matches, path_matches

__all__ = ["HeaderDict", "RecordedRequest", "RequestLog"]


class HeaderDict(dict[str, str]):
    """A plain dict of headers (as the client spelled them) whose lookups ignore case."""

    def _key(self, key: object) -> object:
        if isinstance(key, str) and not super().__contains__(key):
            folded = key.casefold()
            for candidate in self:
                if candidate.casefold() == folded:
                    return candidate
        return key

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(str(self._key(key)))

    def __contains__(self, key: object) -> bool:
        return super().__contains__(self._key(key))

    def get(self, key: str, default: Any = None) -> Any:
        """Return the header's value, whatever the case of ``key``, else ``default``."""
        return super().get(str(self._key(key)), default)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it.

    Attributes:
        method: The HTTP method.
        path: The path relative to ``/v1`` (e.g. ``"/resource/gpu/abc"``), without the query.
            Paths outside ``/v1`` are kept whole.
        query: The query parameters (the last value of a repeated one).
        json: The parsed JSON body, or None (no body, or not JSON).
        headers: The request headers; lookups ignore case.
        status: The status answered; 0 if the connection was dropped or no answer was sent.
        time: ``time.monotonic()`` when the request arrived.
        answered_at: ``time.monotonic()`` when its answer went out; None until then (and for a
            dropped connection).
    """

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    status: int
    time: float
    answered_at: float | None = None


class RequestLog:
    """``fake.log``: the requests received, in arrival order, and counts of them.

    Each entry's status is filled in when its answer goes out (0 until then, and for a dropped
    connection). With a ``cap``, ``requests`` and ``requests_to`` hold only the newest ``cap``
    requests, while ``count`` still counts every request since the last ``clear``: the log
    keeps a tally by method, path and status beside the entries.

    Args:
        cap: How many requests to keep (None: all).
    """

    def __init__(self, cap: int | None = None) -> None:
        if cap is not None:
            require_int("log_cap", cap, 0)
        self.cap = cap
        """How many requests the log keeps (None: all)."""
        self._entries: deque[RecordedRequest] = deque(maxlen=cap)
        self._tally: Counter[tuple[str, str, int]] = Counter()
        # The requests still waiting for their answer (a dict: identity, not equality).
        self._unanswered: dict[int, RecordedRequest] = {}

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received (the newest ``cap`` of them), in arrival order (a copy)."""
        return list(self._entries)

    def requests_to(
        self, method: str = "*", path: str = "*", *, status: int | None = None
    ) -> list[RecordedRequest]:
        """Return the logged requests that match, in arrival order.

        Args:
            method: ``"*"`` (any) or an HTTP method, in any case.
            path: An fnmatch glob relative to ``/v1``, e.g. ``"/resource/gpu/*/start"``.
            status: Only requests answered with this status (0: dropped or unanswered).

        Raises:
            ValueError: An unknown method, a path not starting with ``/`` or ``*`` (or starting
                with ``/v1``), or a status that is not an int from 0 to 599.
        """
        query = _query(method, path, status)
        return [
            entry
            for entry in self._entries
            if _matches(query, (entry.method, entry.path, entry.status))
        ]

    def count(self, method: str = "*", path: str = "*", *, status: int | None = None) -> int:
        """Count the requests that match (arguments as for ``requests_to``).

        Every request since the last ``clear`` counts, also one that the cap no longer keeps.

        Raises:
            ValueError: A bad method, path or status (see ``requests_to``).
        """
        query = _query(method, path, status)
        return sum(number for seen, number in self._tally.items() if _matches(query, seen))

    def clear(self) -> None:
        """Forget the requests received so far (and their counts)."""
        self._entries.clear()
        self._tally.clear()
        self._unanswered.clear()

    def arrive(self, record: RecordedRequest) -> RecordedRequest:
        """Log a request as it arrives, with status 0 for now (the server's)."""
        self._entries.append(record)
        self._tally[record.method, record.path, 0] += 1
        self._unanswered[id(record)] = record
        return record

    def answered(self, record: RecordedRequest, status: int) -> None:
        """Record the status sent for a logged request (the server's)."""
        if self._unanswered.pop(id(record), None) is None:
            return  # cleared since it arrived
        self._tally[record.method, record.path, 0] -= 1
        self._tally[record.method, record.path, status] += 1
        updated = dataclasses.replace(record, status=status, answered_at=time.monotonic())
        entries = self._entries
        for index in range(len(entries) - 1, -1, -1):  # it is most likely among the newest
            if entries[index] is record:
                entries[index] = updated
                return


def _query(method: str, path: str, status: int | None) -> tuple[str, str, int | None]:
    """A query of the log (method, path glob, status or None), checked."""
    if status is not None:
        require_int("status", status, 0, 599)
    return require_method(method), require_path_glob(path), status


def _matches(query: tuple[str, str, int | None], seen: tuple[str, str, int]) -> bool:
    """Whether a request's (method, path, status) matches a query."""
    method, path, status = query
    return (
        method_matches(method, seen[0])
        and path_matches(path, seen[1])
        and (status is None or seen[2] == status)
    )
