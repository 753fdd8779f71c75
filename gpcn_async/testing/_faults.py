"""Injected faults: which requests they hit and what they do instead of (or on top of) the answer.

Faults match in injection order; the first one that matches the method and path glob and still has
uses left wins and consumes one use.
"""

from __future__ import annotations

import fnmatch
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gpcn_async.testing._checks import (
    require_int,
    require_method,
    require_path_glob,
    require_seconds,
)

__all__ = ["Fault", "FaultTable", "RandomFaults", "method_matches", "path_matches"]


def method_matches(pattern: str, method: str) -> bool:
    """Tell whether ``method`` matches ``pattern`` (``"*"`` or a method name, any case)."""
    return pattern == "*" or pattern.upper() == method.upper()


def path_matches(pattern: str, path: str) -> bool:
    """Tell whether ``path`` (relative to ``/v1``) matches the fnmatch glob ``pattern``."""
    return fnmatch.fnmatchcase(path, pattern)


@dataclass(eq=False)
class Fault:
    """One injected fault (see ``FakeGPCN.inject``).

    Attributes:
        method: ``"*"`` or the HTTP method it applies to.
        path: An fnmatch glob of paths relative to ``/v1``.
        status: The status to answer instead of the real one, or None.
        times: How many requests it may affect, or None for no limit.
        headers: Headers added to (or overriding) the answer.
        body: The body sent with ``status`` (None: the dialect's error body).
        delay: Seconds to wait before doing anything else.
        disconnect: Drop the connection without an HTTP answer.
        after_commit: Run the real handler (its state changes happen) before faulting.
        hits: How many requests it affected so far.
    """

    method: str
    path: str
    status: int | None = None
    times: int | None = 1
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    disconnect: bool = False
    after_commit: bool = False
    hits: int = 0

    def __post_init__(self) -> None:
        """Reject impossible combinations.

        Raises:
            ValueError: Naming the bad argument.
        """
        self.method = require_method(self.method)
        self.path = require_path_glob(self.path)
        if self.status is not None:
            require_int("status", self.status, 100, 599)
        if self.times is not None:
            require_int("times (None: forever)", self.times, 1)
        self.delay = require_seconds("delay", self.delay)
        if self.body is not None and self.status is None:
            raise ValueError(f"body {self.body!r} needs a status to be sent with")
        if self.body is not None and not isinstance(self.body, dict | list | str | bytes):
            raise ValueError(f"body must be a dict, list, str or bytes, got {self.body!r}")
        if self.disconnect and self.status is not None:
            raise ValueError(
                f"disconnect sends no answer, so status {self.status!r} cannot be sent"
            )
        pairs: list[tuple[object, object]] = list(self.headers.items())
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in pairs):
            raise ValueError(f"headers must map strings to strings, got {self.headers!r}")
        if self.disconnect and self.headers:
            raise ValueError("disconnect sends no answer, so headers cannot be sent")
        if self.after_commit and self.status is None and not self.disconnect:
            raise ValueError("after_commit needs a status or disconnect to replace the answer with")
        self.headers = dict(self.headers)

    @property
    def remaining(self) -> int | None:
        """How many more requests it may affect (None: no limit)."""
        return None if self.times is None else self.times - self.hits

    @property
    def exhausted(self) -> bool:
        """True once it has no uses left."""
        return self.times is not None and self.hits >= self.times

    def matches(self, method: str, path: str) -> bool:
        """Tell whether it applies to a request (ignoring its remaining uses)."""
        return method_matches(self.method, method) and path_matches(self.path, path)


class RandomFaults:
    """Faults thrown at random requests (see ``FakeGPCN.inject_random``).

    Attributes:
        rate: The chance, from 0 to 1, that a matching request gets a fault.
        faults: The faults to choose from, each equally likely.
        method: ``"*"`` or the HTTP method it applies to.
        path: An fnmatch glob of paths relative to ``/v1``.
        hits: How many requests it affected so far.
    """

    def __init__(
        self,
        rate: float,
        faults: Sequence[Fault],
        *,
        method: str = "*",
        path: str = "*",
        seed: int | None = None,
    ) -> None:
        """Check the set-up and seed the random source.

        Raises:
            ValueError: A rate outside [0, 1] or no faults to choose from.
        """
        given: object = rate
        if isinstance(given, bool) or not isinstance(given, int | float) or not 0 <= given <= 1:
            raise ValueError(f"rate must be a probability from 0 to 1, got {rate!r}")
        if not faults:
            raise ValueError("faults must hold at least one fault to choose from")
        self.rate = float(rate)
        self.faults = tuple(faults)
        self.method = require_method(method)
        self.path = require_path_glob(path)
        self.hits = 0
        # Chaos for tests, not security: a seeded PRNG makes a failing soak run reproducible.
        self._random = random.Random(seed)  # noqa: S311

    def take(self, method: str, path: str) -> Fault | None:
        """Return a fault for this request, by chance, or None."""
        if not (method_matches(self.method, method) and path_matches(self.path, path)):
            return None
        if self._random.random() >= self.rate:
            return None
        self.hits += 1
        fault = self._random.choice(self.faults)
        fault.hits += 1
        return fault


class FaultTable:
    """The injected faults, in injection order, then the random ones."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.random: RandomFaults | None = None

    def add(self, fault: Fault) -> Fault:
        """Add a fault after the existing ones."""
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault, random ones included."""
        self.faults.clear()
        self.random = None

    def take(self, method: str, path: str) -> Fault | None:
        """Return the first unexhausted fault matching the request, counting a hit on it."""
        for fault in self.faults:
            if not fault.exhausted and fault.matches(method, path):
                fault.hits += 1
                return fault
        return self.random.take(method, path) if self.random is not None else None
