"""Retry and poll policies: the client's timing, as plain frozen values.

Every delay the SDK takes comes from one of these, so tests can make them milliseconds long.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from gpcn_async.errors import ConfigurationError

__all__ = ["PollPolicy", "RetryPolicy"]


def _non_negative(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(
            f"{type(instance).__name__}.{attribute.name} must be a finite number, got {value!r}"
        )
    if value < 0:
        raise ConfigurationError(
            f"{type(instance).__name__}.{attribute.name} must be >= 0, got {value!r}"
        )


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    _non_negative(instance, attribute, value)
    if value == 0:
        raise ConfigurationError(
            f"{type(instance).__name__}.{attribute.name} must be > 0, got {value!r}"
        )


def _count(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(
            f"{type(instance).__name__}.{attribute.name} must be an int >= 0, got {value!r}"
        )


@attrs.frozen
class RetryPolicy:
    """How failed requests are retried.

    Retries wait exponentially from ``base_delay`` (doubling, full jitter), capped at
    ``max_delay``. A failure that persists is tried ``max_retries + 1`` times in all. A 429 whose
    wait (``Retry-After``) is longer than ``max_rate_limit_wait`` raises ``RateLimitError`` at
    once instead of sleeping.

    A 429 is not a fault: other processes may share the key, and the budget refills. Waiting
    one out does not use up ``max_retries``; instead a call gives up with ``RateLimitError``
    once its 429 waits together exceed ``max_rate_limit_wait``. (A 429 that asks for no wait at
    all counts as a retry, so that a server answering so forever is not asked forever.) All
    durations are in seconds.

    Attributes:
        max_retries: how many times a failed request is tried again (default 3).
        base_delay: the first wait before a retry (default 0.5).
        max_delay: the longest wait before a retry (default 30.0).
        max_rate_limit_wait: the longest 429 pause the client sleeps out (default 120.0);
            a longer one raises ``RateLimitError`` with ``.retry_after`` at once, and so does
            a call whose 429 pauses together would exceed it.
    """

    max_retries: int = attrs.field(default=3, validator=_count)
    base_delay: float = attrs.field(default=0.5, validator=_non_negative)
    max_delay: float = attrs.field(default=30.0, validator=_non_negative)
    max_rate_limit_wait: float = attrs.field(default=120.0, validator=_non_negative)


@attrs.frozen
class PollPolicy:
    """How jobs are polled.

    The first poll comes ``interval`` seconds after a job is registered; the gap grows by
    ``multiplier`` up to ``max_interval``. ``timeout`` is the default deadline of a whole
    ``Job.wait()``. Server hints (``estimatedCompletion``) may move a poll only within
    ``[interval, max_interval]``. All durations are in seconds.

    Attributes:
        interval: the delay before a job's first poll (default 1.0).
        max_interval: the longest delay between two polls of a job (default 10.0).
        multiplier: how much the delay grows after each poll (default 2.0).
        timeout: the default deadline of a whole ``Job.wait()`` (default 600.0).
    """

    interval: float = attrs.field(default=1.0, validator=_positive)
    max_interval: float = attrs.field(default=10.0, validator=_positive)
    multiplier: float = attrs.field(default=2.0, validator=_positive)
    timeout: float = attrs.field(default=600.0, validator=_positive)

    @max_interval.validator
    def _check_max_interval(self, attribute: attrs.Attribute[float], value: float) -> None:
        if value < self.interval:
            raise ConfigurationError(
                f"PollPolicy.max_interval ({value!r}) must be >= interval ({self.interval!r})"
            )

    @multiplier.validator
    def _check_multiplier(self, attribute: attrs.Attribute[float], value: float) -> None:
        if value < 1:
            raise ConfigurationError(f"PollPolicy.multiplier must be >= 1, got {value!r}")
