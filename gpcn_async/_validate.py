"""Argument checks, run before any request: each error names the bad value.

Pure functions (no I/O), shared by every resource so that a value is checked the same way
wherever it is taken.
"""

from __future__ import annotations

import binascii
import math
import re
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


def unique_ids(ids: Iterable[object], name: str, *, allow_empty: bool = False) -> list[str]:
    """Non-empty string ids, at least one unless ``allow_empty``; repeats dropped, order kept."""
    if isinstance(ids, str | bytes):
        raise InvalidRequestError(f"{name} must be an iterable of ids, not the single id {ids!r}")
    try:
        values = list(ids)
    except TypeError:
        raise InvalidRequestError(f"{name} must be an iterable of ids, got {ids!r}") from None
    unique: dict[str, None] = {}
    for value in values:
        unique[text(value, f"each id in {name}")] = None
    if not unique and not allow_empty:
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


def wait_seconds(value: object, name: str = "timeout") -> float:
    """A deadline in seconds: a number > 0, ``math.inf`` meaning no deadline."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or math.isnan(value)
        or value <= 0
    ):
        raise InvalidRequestError(
            f"{name} must be a number of seconds > 0 (math.inf for no deadline), got {value!r}"
        )
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


# -- SSH keys ---------------------------------------------------------------------------------

SSH_KEY_ALGORITHMS: Final = ("ed25519", "rsa-2048", "rsa-4096", "ecdsa-p256")
"""The algorithms the server generates key pairs with (gpcn-api-account.md §3.5)."""
MAX_SSH_KEY_NAME: Final = 30
# The server's own rule (the vendor's NameValidator): ASCII letters and digits at both ends.
_SSH_KEY_NAME: Final = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9 .\-_()'#]*[a-zA-Z0-9])?")
_KEY_TYPE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9@._+-]*")
_PREVIEW: Final = 40


def ssh_key_name(value: object, name: str = "name") -> str:
    """An SSH key's name as the server accepts it (1 to 30 characters of a restricted set).

    Letters, digits, space and ``. - _ ( ) ' #``, beginning and ending with a letter or a
    digit (ASCII only). The server trims a name before checking it, so one with outer blanks
    would be stored under another name: it is refused here.
    """
    if not isinstance(value, str) or not value:
        raise InvalidRequestError(f"{name} must be a non-empty string, got {value!r}")
    if len(value) > MAX_SSH_KEY_NAME:
        raise InvalidRequestError(
            f"{name} must be at most {MAX_SSH_KEY_NAME} characters, got {len(value)}: {value!r}"
        )
    if _SSH_KEY_NAME.fullmatch(value) is None:
        raise InvalidRequestError(
            f"{name} may contain only letters, digits, spaces and . - _ ( ) ' #, and must "
            f"begin and end with a letter or a digit, got {value!r}"
        )
    return value


def public_key(value: object, name: str = "public_key") -> str:
    """One line of OpenSSH public key, ``<type> <base64> [comment]``, without outer blanks.

    A key read from a ``.pub`` file keeps its final newline: outer blanks are dropped. A
    private key given by mistake is refused without being quoted.
    """
    if not isinstance(value, str):
        raise InvalidRequestError(f"{name} must be a string, got {type(value).__name__}")
    if "PRIVATE KEY" in value:
        raise InvalidRequestError(
            f"{name} holds a private key (not shown); pass the public key, the .pub file"
        )
    key = value.strip()
    parts = key.split(maxsplit=2)
    if (
        any(char in key for char in "\r\n\0")
        or len(parts) < 2
        or _KEY_TYPE.fullmatch(parts[0]) is None
        or not _is_base64(parts[1])
    ):
        shown = repr(value[:_PREVIEW]) + ("..." if len(value) > _PREVIEW else "")
        raise InvalidRequestError(
            f"{name} must be one line of OpenSSH public key, '<type> <base64> [comment]' "
            f"such as 'ssh-ed25519 AAAAC3Nza... you@host', got {shown}"
        )
    return key


def _is_base64(text: str) -> bool:
    try:
        binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error:
        return False
    return True


def ssh_key_algorithm(value: object) -> str:
    """One of the algorithms the server generates key pairs with."""
    if not isinstance(value, str) or value not in SSH_KEY_ALGORITHMS:
        raise InvalidRequestError(
            f"algorithm must be one of {', '.join(SSH_KEY_ALGORITHMS)}, got {value!r}"
        )
    return value


def passphrase(value: object) -> str | None:
    """None, or a non-empty string; the message never shows the value (it is a secret)."""
    if value is None or (isinstance(value, str) and value):
        return value
    got = "an empty string" if value == "" else f"a {type(value).__name__}"
    raise InvalidRequestError(f"passphrase must be a non-empty string or None, got {got}")
