"""Argument checks shared by the fake's public methods; each message names the bad value."""

from __future__ import annotations

import math

__all__ = ["require_int", "require_seconds"]


def require_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """Return ``value`` if it is an int (not a bool) within ``[low, high]``.

    Raises:
        ValueError: Naming ``name`` and the bad value.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bounds = f">= {low}" if high is None else f"from {low} to {high}"
        raise ValueError(f"{name} must be an int {bounds}, got {value!r}")
    return value


def require_seconds(name: str, value: object, *, positive: bool = False) -> float:
    """Return ``value`` as a float if it is a finite number of seconds (>= 0, or > 0).

    Raises:
        ValueError: Naming ``name`` and the bad value.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
    ):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number of seconds {bound}, got {value!r}")
    return float(value)
