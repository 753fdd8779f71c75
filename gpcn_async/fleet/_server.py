"""What the server holds of a fleet: its members found by name, and waits read from listings.

A VM found by name has no job to follow (the answer that named the job was lost), so whether it
is still being created, or gone, is read from the VM list: one listing (a request per 100 VMs)
answers for every member waited on, on the client's poll cadence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Final

from gpcn_async import Client, GpuVm, PollPolicy
from gpcn_async.fleet._members import number_of

__all__ = ["CREATING", "Found", "find_members", "is_creating", "pick", "settle", "wait_gone"]

logger = logging.getLogger("gpcn_async.fleet")

CREATING: Final = frozenset({"provisioning", "creating", "pending"})
"""VM statuses (case-insensitive) of a VM whose creation has not ended yet."""

Found = dict[str, list[GpuVm]]
"""The fleet's VMs on the server by member name (more than one only if made elsewhere)."""


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
