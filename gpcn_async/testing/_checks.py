"""Argument checks shared by the fake's public methods; each message names the bad value."""

from __future__ import annotations

import math

__all__ = [
    "HTTP_METHODS",
    "require_int",
    "require_method",
    "require_offset",
    "require_path_glob",
    "require_seconds",
    "require_text",
]


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


def require_offset(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number of seconds of either sign.

    Raises:
        ValueError: Naming ``name`` and the bad value.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
    return float(value)


HTTP_METHODS: frozenset[str] = frozenset(
    {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
)
"""The methods a fault or a log filter may name (besides ``"*"``)."""


def require_method(value: object) -> str:
    """Return ``value`` upper-cased if it is ``"*"`` or an HTTP method name (any case).

    Raises:
        ValueError: Naming the bad value.
    """
    if not isinstance(value, str) or (value != "*" and value.upper() not in HTTP_METHODS):
        known = ", ".join(sorted(HTTP_METHODS))
        raise ValueError(f"method must be '*' or one of {known}, got {value!r}")
    return value.upper()


def require_path_glob(value: object) -> str:
    """Return ``value`` if it is an fnmatch glob of paths relative to ``/v1``.

    Raises:
        ValueError: Naming the bad value; a glob starting with ``/v1/`` gets a hint.
    """
    if not isinstance(value, str) or not value.startswith(("/", "*")):
        raise ValueError(
            f"path must be a glob relative to /v1 such as '/resource/gpu/*', got {value!r}"
        )
    if value == "/v1" or value.startswith("/v1/"):
        raise ValueError(
            f"path {value!r} starts with /v1, but paths are relative to it: "
            f"use {value[3:] or '/'!r}"
        )
    return value


def require_text(name: str, value: object) -> str:
    """Return ``value`` if it is a non-empty string.

    Raises:
        ValueError: Naming ``name`` and the bad value.
    """
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value
