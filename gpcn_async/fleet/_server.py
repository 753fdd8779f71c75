"""What the server holds of a fleet: its members found by name, and waits read from listings.

A VM found by name has no job to follow (the answer that named the job was lost), so whether it
is still being created, or gone, is read from the VM list: one listing (a request per 100 VMs)
answers for every member waited on, on the client's poll cadence. The VMs of members whose
create jobs ended are read together the same way (``CreatedVms``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Final

from gpcn_async import Client, GPCNError, GpuVm, PollPolicy
from gpcn_async.fleet._members import number_of

__all__ = [
    "CREATING",
    "CreatedVms",
    "Found",
    "find_members",
    "is_creating",
    "pick",
    "settle",
    "wait_gone",
]

logger = logging.getLogger("gpcn_async.fleet")

CREATING: Final = frozenset({"provisioning", "creating", "pending"})
"""VM statuses (case-insensitive) of a VM whose creation has not ended yet."""

Found = dict[str, list[GpuVm]]
"""The fleet's VMs on the server by member name (more than one only if made elsewhere)."""
PAGE: Final = 100
"""VMs per page of a listing (``gpu.list()``'s page size)."""


def is_creating(vm: GpuVm) -> bool:
    """Whether the VM is still being created (its status says so)."""
    return (vm.status or "").casefold() in CREATING


async def find_members(gpcn: Client, fleet: str) -> Found:
    """Every VM on the server named as a member of ``fleet`` (``<fleet>-NNN`` exactly).

    The server's search matches names loosely (``train-a-`` also finds ``xtrain-a-001``), so
    each name is checked against the members' exact form.
    """
    found: Found = {}
    async for vm in gpcn.gpu.list(search=f"{fleet}-"):
        if number_of(fleet, vm.name) is not None:
            found.setdefault(vm.name, []).append(vm)
    return found


def pick(vms: Iterable[GpuVm], vm_id: str | None) -> GpuVm | None:
    """The VM that is the member among those bearing its name.

    The one the journal knows (``vm_id``) if it is there, else the oldest. Two VMs with one
    member name are never ordered by a fleet; if some were made elsewhere, the others are
    left alone (and logged).
    """
    candidates = sorted(vms, key=lambda vm: (vm.created_at is None, vm.created_at, vm.id))
    if not candidates:
        return None
    chosen = next((vm for vm in candidates if vm.id == vm_id), candidates[0])
    if len(candidates) > 1:
        others = ", ".join(vm.id for vm in candidates if vm is not chosen)
        logger.warning(
            "VM name %s is borne by %d VMs: the fleet uses %s and leaves %s alone",
            chosen.name,
            len(candidates),
            chosen.id,
            others,
        )
    return chosen


def _pauses(policy: PollPolicy) -> Iterator[float]:
    """The pause before each listing, on the poll cadence.

    From ``interval``, growing by ``multiplier`` up to ``max_interval``, while the pauses
    together stay within ``timeout``. The callers have just seen the VMs they wait on, so
    even the first listing comes after a pause.
    """
    total, delay = 0.0, policy.interval
    while total + delay <= policy.timeout:
        yield delay
        total += delay
        delay = min(delay * policy.multiplier, policy.max_interval)


async def settle(gpcn: Client, fleet: str, waiting: Mapping[str, str]) -> dict[str, GpuVm | None]:
    """Wait until VMs found by name (member name to VM id) are no longer being created.

    Returns:
        Each member's VM once created, or None if it disappeared (its creation failed). A
        member still being created when ``PollPolicy.timeout`` ran out is left out.
    """
    left = dict(waiting)
    done: dict[str, GpuVm | None] = {}
    for pause in _pauses(gpcn.poll):
        if not left:
            break
        await asyncio.sleep(pause)
        found = await find_members(gpcn, fleet)
        for name, vm_id in list(left.items()):
            vm = next((vm for vm in found.get(name, []) if vm.id == vm_id), None)
            if vm is None or not is_creating(vm):
                done[name] = vm
                del left[name]
    return done


async def wait_gone(gpcn: Client, fleet: str, vm_ids: Iterable[str]) -> set[str]:
    """Wait until none of these VMs is listed any more; return those still there at the deadline.

    For deletes known only to be under way (a 409 "being deleted"), with no job to follow.
    """
    left = set(vm_ids)
    for pause in _pauses(gpcn.poll):
        if not left:
            break
        await asyncio.sleep(pause)
        found = await find_members(gpcn, fleet)
        left &= {vm.id for vms in found.values() for vm in vms}
    return left


class CreatedVms:
    """The VMs of members whose create jobs succeeded, read together rather than one GET each.

    One poll answer ends many jobs at once; their members ask here in the same moment, and one
    listing of the fleet (a request per 100 VMs) answers them all. When they are fewer than the
    listing's pages, each is read with a GET instead. A VM the listing does not show yet is read
    with a GET too.

    Args:
        gpcn: the client.
        fleet: the fleet's name.
    """

    def __init__(self, gpcn: Client, fleet: str) -> None:
        self._gpcn = gpcn
        self._fleet = fleet
        self._pages = 1  # of the last listing: a first round lists whatever it costs
        self._wanted: dict[str, str | None] = {}  # member name: VM id, if the job named it
        self._read: dict[str, GpuVm | GPCNError | None] = {}
        self._lock = asyncio.Lock()

    async def read(self, name: str, vm_id: str | None) -> GpuVm | None:
        """The member's VM, its create job having succeeded (``vm_id``: the job's resource).

        Returns:
            The VM; None when the job named none and the listing does not show the member.

        Raises:
            NotFoundError: the VM the job named is not on the server (any more).
            GPCNError: reading failed (the listing or the GET).
        """
        self._read.pop(name, None)  # left by a reader of this member that was cancelled
        self._wanted[name] = vm_id
        await asyncio.sleep(0)  # the members woken by the same poll answer ask here first
        async with self._lock:
            if name not in self._read:  # not read by a round that ran while this one waited
                answered = await self._round(dict(self._wanted))
                self._read.update(answered)
                for asked in answered:
                    del self._wanted[asked]
        outcome = self._read.pop(name)
        if isinstance(outcome, GPCNError):
            raise outcome
        return outcome

    async def _round(self, wanted: dict[str, str | None]) -> dict[str, GpuVm | GPCNError | None]:
        read: dict[str, GpuVm | GPCNError | None] = {}
        if len(wanted) >= self._pages:
            try:
                found = await find_members(self._gpcn, self._fleet)
            except GPCNError as error:
                return dict.fromkeys(wanted, error)
            self._pages = max(1, math.ceil(sum(map(len, found.values())) / PAGE))
            for name, vm_id in wanted.items():
                vm = pick(found.get(name, []), vm_id)
                if vm is not None and (vm_id is None or vm.id == vm_id):
                    read[name] = vm
        for name, vm_id in wanted.items():
            if name in read:
                continue
            if vm_id is None:
                read[name] = None
                continue
            try:
                read[name] = await self._gpcn.gpu.get(vm_id)
            except GPCNError as error:
                read[name] = error
        return read
