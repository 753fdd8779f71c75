"""A fleet's members: their names, and what the journal keeps of each (plain data, no I/O)."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from gpcn_async import InvalidRequestError

__all__ = ["Member", "MemberState", "check_count", "check_fleet_name", "member_name", "number_of"]

MAX_NAME_LENGTH: Final = 50
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class MemberState(enum.StrEnum):
    """Where a member stands in the journal.

    ``ORDERING`` is written (and fsynced) before an order is sent: until something else is
    written, nobody knows whether the order reached the server, so the next run looks the name
    up before ordering again.
    """

    ORDERING = "ordering"
    """The order is about to be sent, or was sent and its answer never recorded."""
    ORDERED = "ordered"
    """The server accepted the order (``resume_token`` kept) or its VM was found by name."""
    READY = "ready"
    """The VM exists and its creation ended (``vm_id`` and ``vm_status`` kept)."""
    FAILED = "failed"
    """The order could not be placed or its creation failed (``error`` says why)."""
    DELETING = "deleting"
    """``teardown()`` is deleting it (``resume_token`` kept once the delete was accepted)."""


@attrs.frozen
class Member:
    """What a fleet's journal keeps of one member.

    Attributes:
        name: the VM's name, ``<fleet>-000``, ``<fleet>-001``, ...
        number: the member's number (``3`` for ``<fleet>-003``).
        state: where it stands in the journal (see ``MemberState``).
        vm_id: the VM's id, once known.
        vm_status: the VM's last known status (``"Running"``, ``"Stopped"``...), once known.
        resume_token: the token of the create (or, while deleting, the delete) job to resume.
        order: the parameters it was ordered with (``code``, ``gpu_count``...), as sent.
        error: why it failed, for ``FAILED`` (or the last failed attempt to delete it).
        updated_at: when this record was written (UTC).
    """

    name: str
    number: int
    state: MemberState
    vm_id: str | None = None
    vm_status: str | None = None
    resume_token: str | None = None
    order: Mapping[str, Any] = attrs.field(factory=dict, eq=False, hash=False)
    error: str | None = None
    updated_at: datetime | None = attrs.field(default=None, eq=False)

    def to_dict(self) -> dict[str, Any]:
        """This member as a JSON-ready dict, as every model of the SDK gives (``gpcn --json``)."""
        return {
            "name": self.name,
            "number": self.number,
            "state": self.state.value,
            "vm_id": self.vm_id,
            "vm_status": self.vm_status,
            "resume_token": self.resume_token,
            "order": dict(self.order),
            "error": self.error,
            "updated_at": None if self.updated_at is None else self.updated_at.isoformat(),
        }

    def moved(self, state: MemberState, **changes: Any) -> Member:
        """This member in another state, with ``changes`` (the time is set by the journal)."""
        return attrs.evolve(self, state=state, updated_at=None, **changes)


def check_fleet_name(name: object) -> str:
    """A fleet name whose members are valid VM names: 1-50 of ``A-Z a-z 0-9 . _ -``.

    It starts with a letter or digit. Member names are found on the server by search and
    matched exactly, so they hold no spaces, slashes or other characters a search or a
    hostname would mangle.

    Raises:
        InvalidRequestError: the name breaks these rules.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        raise InvalidRequestError(
            f"fleet name must be 1 to {MAX_NAME_LENGTH} letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit (it makes VM names such as '<name>-000'), "
            f"got {name!r}"
        )
    return name


def check_count(count: object) -> int:
    """How many members ``ensure()`` wants: an int >= 0.

    Raises:
        InvalidRequestError: not an int, or negative.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InvalidRequestError(f"count must be an int >= 0, got {count!r}")
    return count


def member_name(fleet: str, number: int) -> str:
    """The name of member ``number``: ``train-a-007`` (at least three digits)."""
    return f"{fleet}-{number:03d}"


def number_of(fleet: str, vm_name: str) -> int | None:
    """The member number ``vm_name`` has in the fleet, or None if it is not a member's name.

    Only the exact form ``member_name`` makes counts: ``train-a-7``, ``train-a-0007`` and
    ``train-a-007-old`` are not members of ``train-a``.
    """
    prefix = f"{fleet}-"
    digits = vm_name.removeprefix(prefix)
    if digits == vm_name or not digits.isdigit() or not digits.isascii():
        return None
    number = int(digits)
    return number if member_name(fleet, number) == vm_name else None
