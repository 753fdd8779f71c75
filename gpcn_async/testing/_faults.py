"""``fake.faults``: what misbehaves, and how, instead of (or on top of) the real answer.

Injected faults match in injection order; the first one that matches the method and path glob
and still has uses left wins and consumes one use. Random faults come after them. Scripted
server-side failures (a lost create race, an unsupported action, a per-id bulk failure, a
provider outage) are switches of the fake's state that the endpoints read.
"""

from __future__ import annotations

import fnmatch
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from gpcn_async.testing._checks import (
    require_int,
    require_method,
    require_path_glob,
    require_seconds,
)
from gpcn_async.testing._render import gateway_page
from gpcn_async.testing._state import ACTION_STATUS, State

__all__ = [
    "DEFAULT_RANDOM_FAULTS",
    "Fault",
    "Faults",
    "RandomFaults",
    "method_matches",
    "path_matches",
]

DEFAULT_RANDOM_FAULTS: tuple[Mapping[str, Any], ...] = (
    {"status": 500},
    {"status": 502, "body": gateway_page(502)},
    {"status": 503},
    {"status": 504},
    {"status": 429, "headers": {"Retry-After": "0.01"}},
    {"disconnect": True},
    {"disconnect": True, "after_commit": True},
    {"status": 500, "after_commit": True},
)
"""The mix ``inject_random()`` chooses from by default."""


def method_matches(pattern: str, method: str) -> bool:
    """Tell whether ``method`` matches ``pattern`` (``"*"`` or a method name, any case)."""
    return pattern == "*" or pattern.upper() == method.upper()


def path_matches(pattern: str, path: str) -> bool:
    """Tell whether ``path`` (relative to ``/v1``) matches the fnmatch glob ``pattern``."""
    return fnmatch.fnmatchcase(path, pattern)


@dataclass(eq=False)
class Fault:
    """One injected fault (see ``Faults.inject``).

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
    """Faults thrown at random requests (see ``Faults.inject_random``).

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


class Faults(Sequence[Fault]):
    """``fake.faults``: the injected faults (a sequence, in injection order) and the rest of chaos.

    It compares equal to a list of the same faults, as ``fake.faults`` did when it was a list.
    """

    def __init__(self, state: State) -> None:
        self._state = state
        self._injected: list[Fault] = []
        self._random: RandomFaults | None = None

    # -- the sequence of injected faults -------------------------------------------------------

    @overload
    def __getitem__(self, index: int) -> Fault: ...

    @overload
    def __getitem__(self, index: slice) -> list[Fault]: ...

    def __getitem__(self, index: int | slice) -> Fault | list[Fault]:
        return self._injected[index]

    def __len__(self) -> int:
        return len(self._injected)

    def __iter__(self) -> Iterator[Fault]:
        return iter(list(self._injected))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by content

    def __repr__(self) -> str:
        return f"Faults({self._injected!r})"

    # -- injecting -------------------------------------------------------------------------------

    def inject(
        self,
        method: str,
        path: str,
        *,
        status: int | None = None,
        times: int | None = 1,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        delay: float = 0.0,
        disconnect: bool = False,
        after_commit: bool = False,
    ) -> Fault:
        """Make matching requests misbehave.

        A fault waits ``delay`` first. With ``after_commit`` the real handler runs (its state
        changes happen) before its answer is replaced. ``disconnect`` drops the connection
        without an answer; ``status`` answers that status with ``body`` (dict/list as JSON,
        str/bytes raw) or the dialect's error body; without either, the real answer is sent (a
        slow response). ``headers`` are added to whatever is sent.

        Args:
            method: ``"*"`` or an HTTP method.
            path: An fnmatch glob relative to ``/v1``, e.g. ``"/resource/gpu/*/start"``.
            status: The status to answer instead.
            times: How many requests it affects (None: all).
            headers: Headers to add or override.
            body: The body to send with ``status``.
            delay: Seconds to wait first.
            disconnect: Drop the connection without answering.
            after_commit: Let the request take effect before faulting.

        Returns:
            The fault, whose ``hits`` and ``remaining`` tell how it was used.

        Raises:
            ValueError: An impossible combination (the message names it).
        """
        fault = Fault(
            method=method,
            path=path,
            status=status,
            times=times,
            headers=dict(headers or {}),
            body=body,
            delay=delay,
            disconnect=disconnect,
            after_commit=after_commit,
        )
        self._injected.append(fault)
        return fault

    def inject_random(
        self,
        rate: float,
        *,
        faults: Sequence[Mapping[str, Any]] | None = None,
        method: str = "*",
        path: str = "*",
        seed: int | None = None,
    ) -> RandomFaults:
        """Throw faults at random matching requests: chaos for soak tests.

        Each matching request that no injected fault takes gets, with probability ``rate``, one
        of ``faults`` (each equally likely). The default mix is what a real deployment shows:
        500, 502 with a gateway's HTML page, 503, 504, 429 with a short ``Retry-After``, and
        dropped connections, before and after the request took effect. A later call replaces
        the random faults; ``clear()`` removes them.

        Args:
            rate: The chance, from 0 to 1, that a matching request gets a fault.
            faults: ``inject()`` keyword arguments (without ``times``) of each fault to choose
                from, e.g. ``[{"status": 503}, {"disconnect": True}]``.
            method: ``"*"`` or an HTTP method.
            path: An fnmatch glob relative to ``/v1``.
            seed: Seeds the random choices, so that a run can be replayed.

        Returns:
            The random faults; ``hits`` counts the requests they affected.

        Raises:
            ValueError: A rate outside [0, 1], or a fault ``inject()`` would refuse.
        """
        specs = DEFAULT_RANDOM_FAULTS if faults is None else faults
        made = []
        for spec in specs:
            if "times" in spec:
                raise ValueError(f"random faults have no times, got {dict(spec)!r}")
            made.append(Fault(method="*", path="*", times=None, **spec))
        self._random = RandomFaults(rate, made, method=method, path=path, seed=seed)
        return self._random

    def clear(self) -> None:
        """Remove every injected fault, random ones included."""
        self._injected.clear()
        self._random = None

    def take(self, method: str, path: str) -> Fault | None:
        """Return the fault for a request, or None (the server asks, once per request).

        The first unexhausted injected fault that matches wins, else by chance a random one;
        the fault taken counts a hit.
        """
        for fault in self._injected:
            if not fault.exhausted and fault.matches(method, path):
                fault.hits += 1
                return fault
        return self._random.take(method, path) if self._random is not None else None

    # -- scripted failures of the server ---------------------------------------------------------

    def race_next_create(self, times: int = 1) -> None:
        """Make the next ``times`` valid creates lose a race: 409, configuration now unavailable.

        Raises:
            ValueError: ``times < 1``.
        """
        require_int("times", times, 1)
        self._state.race_creates += times

    def set_unsupported(self, action: str, unsupported: bool = True) -> None:
        """Make ``action`` (``"start"``, ``"stop"``, ``"reset"``) answer 501, or stop doing so.

        Raises:
            ValueError: An unknown action.
        """
        if action not in ACTION_STATUS:
            raise ValueError(f"action must be 'start', 'stop' or 'reset', got {action!r}")
        if unsupported:
            self._state.unsupported.add(action)
        else:
            self._state.unsupported.discard(action)

    def fail_bulk(self, vm_id: str, message: str, *, action: str | None = None) -> None:
        """Make bulk start/stop/reset report ``vm_id`` as failed with ``message``.

        Args:
            vm_id: The VM id (need not exist).
            message: The per-id error text.
            action: Only this bulk action; None for all three.

        Raises:
            ValueError: An empty id or message, or an unknown action.
        """
        if not vm_id or not message:
            raise ValueError(f"vm_id and message must be non-empty, got {vm_id!r}, {message!r}")
        if action is not None and action not in ACTION_STATUS:
            raise ValueError(f"action must be 'start', 'stop', 'reset' or None, got {action!r}")
        self._state.bulk_failures[vm_id, action] = message

    def clear_bulk_failures(self) -> None:
        """Forget the scripted bulk failures."""
        self._state.bulk_failures.clear()

    @property
    def provider_outage(self) -> bool:
        """When True, the GPU provider is down: inventory is empty or 503, creates answer 503."""
        return self._state.provider_outage

    @provider_outage.setter
    def provider_outage(self, value: bool) -> None:
        self._state.provider_outage = bool(value)
