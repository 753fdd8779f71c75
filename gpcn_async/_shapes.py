"""Strict hooks for JSON leaves, and what a body of the wrong shape is reported as.

Pure, beside ``_convert``: the converter registers these hooks, and turns a structuring failure
into ``ResponseDecodeError`` with ``decode_error()``. Nothing is coerced (a bool is not an int, a
number is not a string); timestamps are ISO 8601 and always come out timezone-aware. Messages
say what was expected and where, never which value: a body may hold a secret.
"""

from __future__ import annotations

import functools
import math
import os
import reprlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, TypeVar, get_origin

import cattrs
from cattrs.cols import list_structure_factory
from cattrs.errors import BaseValidationError

from gpcn_async import _redact
from gpcn_async._dialects import ShapeError, kind
from gpcn_async.errors import ResponseDecodeError

__all__ = [
    "SHAPE_ERRORS",
    "decode_error",
    "exact",
    "is_list",
    "is_shape_error",
    "or_none",
    "percent",
    "secret_or_empty",
    "secret_text",
    "snippet",
    "strict_list_factory",
    "string_tuple",
    "timestamp",
]

T = TypeVar("T")

# -- a body of the wrong shape ------------------------------------------------------------

# What cattrs raises for a body of the wrong shape: a missing key, a wrong JSON kind indexed or
# iterated. Raised anywhere else (in our own hooks), these are bugs, and pass through as such.
SHAPE_ERRORS: Final = (KeyError, TypeError, ValueError)
_MAX_PROBLEMS: Final = 5

_EXPECTED: Final[Mapping[Any, str]] = {
    str: "a string",
    int: "an integer",
    bool: "a boolean",
    int | str: "an id (an integer or a string)",
    int | str | None: "an id (an integer or a string) or null",
}

_snippet_repr = reprlib.Repr()
_snippet_repr.maxlevel = 3
_snippet_repr.maxdict = _snippet_repr.maxlist = 6
_snippet_repr.maxstring = _snippet_repr.maxother = 60
_SNIPPET_CHARS: Final = 200


def describe(exc: BaseException, type_: Any) -> str:
    """Describe one leaf error for ``cattrs.transform_error``, without quoting the value."""
    if isinstance(exc, ShapeError):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required field missing"
    if type_ is None:
        return "invalid value"
    name = _EXPECTED.get(type_) or getattr(type_, "__name__", None) or repr(type_)
    return f"expected {name}"


def snippet(data: Any) -> str:
    """The start of a body for ``ResponseDecodeError.snippet``, with every secret masked."""
    return _snippet_repr.repr(_redact.mask_secret_fields(data))[:_SNIPPET_CHARS]


def is_shape_error(exc: BaseException) -> bool:
    """Whether a structuring failure is the body's fault (its shape), not a bug of ours.

    Our hooks say so by raising ``ShapeError``; cattrs' generated code by failing on a key or
    a type. Any other failure, or one raised inside our own code, is a bug.
    """
    if isinstance(exc, BaseValidationError):
        return all(is_shape_error(leaf) for leaf in exc.exceptions)
    if isinstance(exc, ShapeError):
        return True
    return isinstance(exc, SHAPE_ERRORS) and _raised_by_cattrs(exc)


def _raised_by_cattrs(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc`` is cattrs' own (its generated code included)."""
    frame = exc.__traceback__
    if frame is None:
        return False
    while frame.tb_next is not None:
        frame = frame.tb_next
    filename = frame.tb_frame.f_code.co_filename
    return filename.startswith("<cattrs") or f"{os.sep}cattrs{os.sep}" in filename


def decode_error(exc: BaseException, what: str, path: str, snippet: str) -> ResponseDecodeError:
    problems = cattrs.transform_error(exc, path=path, format_exception=describe)
    shown = "; ".join(problems[:_MAX_PROBLEMS])
    if len(problems) > _MAX_PROBLEMS:
        shown += f"; and {len(problems) - _MAX_PROBLEMS} more"
    return ResponseDecodeError(f"unexpected shape for {what}: {shown}", snippet=snippet)


# -- strict leaf hooks ---------------------------------------------------------------------


def exact(value: Any, cls: type[T]) -> T:
    """Structure hook for ``str``, ``int`` and ``bool``: the JSON type must match exactly."""
    if type(value) is cls or (
        isinstance(value, cls) and (cls is bool or not isinstance(value, bool))
    ):
        return value
    raise ShapeError(f"expected {_EXPECTED[cls]}, got {kind(value)}")


def timestamp(value: Any, _: Any) -> datetime:
    """Structure hook for ``datetime``: ISO 8601 text; a naive time is taken as UTC."""
    if not isinstance(value, str):
        raise ShapeError(f"expected an ISO 8601 timestamp, got {kind(value)}")
    return _parsetimestamp(value)


@functools.lru_cache(maxsize=256)
def _parsetimestamp(value: str) -> datetime:
    """Parse ISO 8601 text, sharing the (immutable) result among equal texts seen lately.

    The jobs of one answer usually carry the same few timestamps (createdAt = updatedAt, one
    estimatedCompletion): thousands of pending jobs then hold a few datetimes, not three each.
    """
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ShapeError("expected an ISO 8601 timestamp, got another string") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def or_none(hook: Callable[[Any, Any], T], leaf: type[T]) -> Callable[[Any, Any], T | None]:
    """The structure hook of ``leaf | None``: None, or what the leaf's own hook makes of it."""

    def structure_optional(value: Any, _: Any) -> T | None:
        return None if value is None else hook(value, leaf)

    return structure_optional


def percent(value: Any, _: Any) -> int | None:
    """Structure hook for a job's progress: a whole percentage (a fraction is rounded)."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return round(value)
    raise ShapeError(f"expected a percentage, got {kind(value)}")


def secret_text(value: Any, _: Any) -> str:
    """Structure hook for a secret: a non-empty string."""
    if isinstance(value, str) and value:
        return value
    got = "an empty one" if value == "" else kind(value)
    raise ShapeError(f"expected a non-empty string, got {got}")


def secret_or_empty(value: Any, _: Any) -> str:
    """Structure hook for a secret that may be absent: a non-empty string, or "" for null."""
    return "" if value is None else secret_text(value, None)


def string_tuple(value: Any, _: Any) -> tuple[str, ...]:
    """Structure hook for ``tuple[str, ...]``: a JSON array of strings (not any iterable)."""
    if not isinstance(value, list):
        raise ShapeError(f"expected an array, got {kind(value)}")
    return tuple(exact(item, str) for item in value)


def is_list(type_: Any) -> bool:
    return get_origin(type_) is list


def strict_list_factory(type_: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """Hook factory for ``list[X]``: only a JSON array is a list (cattrs takes any iterable)."""
    structure_items = list_structure_factory(type_, converter)

    def structure_list(value: Any, cls: Any) -> Any:
        if not isinstance(value, list):
            raise ShapeError(f"expected an array, got {kind(value)}")
        return structure_items(value, cls)

    return structure_list
