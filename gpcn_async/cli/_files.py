"""Writing secrets to disk: files only their owner can read, from the first byte on."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["PRIVATE_MODE", "write_private_file"]

PRIVATE_MODE = 0o600
"""Read and write for the owner, nothing for anyone else (what ssh demands of a key file)."""


def write_private_file(path: Path, text: str, *, replace: bool = False) -> None:
    """Write ``text`` to ``path`` with mode 0600; the file is never readable by others.

    The file is created with its final mode in the same call (``O_CREAT | O_EXCL``), so there
    is no moment when it exists with looser permissions, and a symlink planted at ``path`` is
    not followed. With ``replace``, the text goes to a new private file next to ``path`` first,
    which then takes ``path``'s place atomically.

    Raises:
        FileExistsError: ``path`` exists and ``replace`` is False.
        OSError: the file could not be written.
    """
    data = text.encode()
    if not replace:
        _write_new(path, data)
        return
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        _write_new(temporary, data)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)  # gone already when the replace succeeded


def _write_new(path: Path, data: bytes) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(path, flags, PRIVATE_MODE)
    try:
        with os.fdopen(descriptor, "wb") as file:
            if hasattr(os, "fchmod"):  # exactly 0600 whatever the umask (it only removes bits)
                os.fchmod(file.fileno(), PRIVATE_MODE)
            file.write(data)
    except BaseException:
        path.unlink(missing_ok=True)  # we created it (O_EXCL): leave no half-written key
        raise
