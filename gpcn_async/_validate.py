"""Argument checks, run before any request: each error names the bad value.

Pure functions (no I/O), shared by every resource so that a value is checked the same way
wherever it is taken.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final, TypeVar

from gpcn_async.errors import InvalidRequestError

GPU_COUNTS: Final = (1, 2, 4, 8)
MAX_PAGE_LIMIT: Final = 100

T = TypeVar("T")


def text(value: object, name: str) -> str:
    """A non-empty string (surrounding spaces do not count as content)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequestError(f"{name} must be a non-empty string, got {value!r}")
    return value


_NOT_IN_PATH_IDS: Final = ("/", "\\", "?", "#", "%")
"""Characters that would move a request to another path, query or fragment if put in a path."""


def path_id(value: object, name: str) -> str:
    """An id that goes into a URL path as one segment (``vm_id``), unchanged.

    An id that would change where the request goes (``"a/../b"``, ``"a?x=1"``, ``".."``) is
    refused rather than escaped: no GPCN id holds such characters, so it is a mistake (often a
    URL or a path pasted in place of the id), and sending it escaped would only earn a 404.
    """
    checked = text(value, name)
    for char in _NOT_IN_PATH_IDS:
        if char in checked:
            raise InvalidRequestError(
                f"{name} must be a bare id, got {value!r} (it holds {char!r})"
            )
    if checked in {".", ".."} or checked != checked.strip() or not checked.isprintable():
        raise InvalidRequestError(f"{name} must be a bare id, got {value!r}")
    return checked


def optional_text(value: object, name: str) -> str | None:
    """None, or a non-empty string."""
    return None if value is None else text(value, name)


def identifier(value: object, name: str) -> int | str:
    """An id the API shows as an integer or a string (``series_id``, ``team_id``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip():
        return value
    raise InvalidRequestError(f"{name} must be a non-empty string or an int, got {value!r}")


def gpu_count(value: object, name: str = "gpu_count") -> int:
    """One of the GPU counts the API sells: 1, 2, 4 or 8."""
    if isinstance(value, bool) or value not in GPU_COUNTS or not isinstance(value, int):
        raise InvalidRequestError(f"{name} must be one of 1, 2, 4, 8, got {value!r}")
    return value


def page_limit(value: object, name: str = "limit") -> int:
    """A page size the API accepts: 1 to 100."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_LIMIT:
        raise InvalidRequestError(f"{name} must be an int from 1 to 100, got {value!r}")
    return value


def spelling(
    name: str, value: T | None, old_name: str, old_value: T | None
) -> tuple[str, T | None]:
    """The argument given as ``name`` or as its old spelling ``old_name``, and the name used.

    The old spelling keeps working (code written against it goes on running, warnings as
    errors included); giving both at once is a mistake, as they may disagree.
    """
    if old_value is None:
        return name, value
    if value is not None:
        raise InvalidRequestError(
            f"{name} and {old_name} are two spellings of one argument: give only {name}"
        )
    return old_name, old_value


def page_number(value: object) -> int:
    """A 1-based page number."""
    return positive_int(value, "page")


def sort_order(value: object) -> str | None:
    """None, or ``field:asc`` / ``field:desc``."""
    if value is None:
        return None
    if isinstance(value, str):
        field, _, direction = value.partition(":")
        if field.strip() and direction in {"asc", "desc"}:
            return value
    raise InvalidRequestError(
        f"sort must look like 'createdAt:desc' (field:asc or field:desc), got {value!r}"
    )


def unique_ids(ids: Iterable[object], name: str) -> list[str]:
    """Non-empty string ids, at least one; repeats dropped, first order kept."""
    if isinstance(ids, str | bytes):
        raise InvalidRequestError(f"{name} must be an iterable of ids, not the single id {ids!r}")
    try:
        values = list(ids)
    except TypeError:
        raise InvalidRequestError(f"{name} must be an iterable of ids, got {ids!r}") from None
    unique: dict[str, None] = {}
    for value in values:
        unique[text(value, f"each id in {name}")] = None
    if not unique:
        raise InvalidRequestError(f"{name} must hold at least one id, got none")
    return list(unique)


def positive_seconds(value: object, name: str) -> float:
    """A finite number of seconds > 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidRequestError(f"{name} must be a number of seconds > 0, got {value!r}")
    return float(value)


def http_method(value: object) -> str:
    """An HTTP method name such as GET."""
    if not isinstance(value, str) or not value.isalpha():
        raise InvalidRequestError(f"method must be an HTTP method such as 'GET', got {value!r}")
    return value.upper()


def api_path(value: object) -> str:
    """A path relative to the base URL, starting with a slash."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise InvalidRequestError(f"path must start with '/', got {value!r}")
    return value


def positive_int(value: object, name: str) -> int:
    """An int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequestError(f"{name} must be an int >= 1, got {value!r}")
    return value
