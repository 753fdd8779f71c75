"""Concurrent work of a fleet: the first error of a task group, as itself."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["one_error"]


@contextmanager
def one_error() -> Iterator[None]:
    """Raise the first error of a task group as itself, not wrapped in an ``ExceptionGroup``.

    A fleet's tasks return each member's API errors as values; what escapes one is a reason to
    stop them all (the journal cannot be written, a bug), which the caller should see as the
    error it is, as from any other call.
    """
    try:
        yield
    except ExceptionGroup as group:
        first = group.exceptions[0]
        raise first from first.__cause__
