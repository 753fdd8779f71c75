"""The request log: every request the fake received, with the status it answered."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

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
    """Requests in arrival order; an entry's status is filled in when the answer goes out."""

    def __init__(self) -> None:
        self.entries: list[RecordedRequest] = []

    def arrive(self, record: RecordedRequest) -> RecordedRequest:
        """Append a request as it arrives (status 0 for now)."""
        self.entries.append(record)
        return record

    def answered(self, record: RecordedRequest, status: int) -> RecordedRequest:
        """Record the status sent for a logged request; return the updated entry."""
        updated = dataclasses.replace(record, status=status, answered_at=time.monotonic())
        for index in range(len(self.entries) - 1, -1, -1):
            if self.entries[index] is record:
                self.entries[index] = updated
                break
        return updated

    def select(self, method: str = "*", path: str = "*") -> list[RecordedRequest]:
        """Return the requests matching a method (or ``"*"``) and an fnmatch path glob."""
        return [
            entry
            for entry in self.entries
            if method_matches(method, entry.method) and path_matches(path, entry.path)
        ]

    def clear(self) -> None:
        """Forget every request."""
        self.entries.clear()
