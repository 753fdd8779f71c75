"""``Fleet.ensure()``: members ``0`` to ``count - 1``, each ordered at most once.

The journal says what was asked and answered; the server's VM list says what exists. An order
whose answer was never recorded (the process was killed, or the answer was lost) is looked up
by name before anything is ordered again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from gpcn_async import (
    BulkError,
    Client,
    GPCNError,
    GpuVm,
    InvalidRequestError,
    Job,
    JobCancelledError,
    JobFailedError,
    JobNotFoundError,
    NotFoundError,
    OutcomeUnknownError,
)
from gpcn_async.fleet._journal import Journal
from gpcn_async.fleet._members import Member, MemberState, member_name
from gpcn_async.fleet._server import Found, find_members, is_creating, pick, settle
from gpcn_async.fleet._tasks import one_error

__all__ = ["Ensure", "Report"]

Report = Callable[[str, str], object]
"""Called with a member's name and what just happened to it (see ``Fleet``'s ``progress``)."""

MAX_UNKNOWN_ORDERS: Final = 3
"""Orders of one member, in one run, whose outcome may stay unknown before it counts as failed."""


@dataclass
class _Plan:
    """What a run does for each member, decided from the journal and one listing."""

    outcomes: dict[str, GpuVm | GPCNError] = field(default_factory=dict)
    """Members ready already (found on the server)."""
    known: list[Member] = field(default_factory=list)
    """What the listing showed that the journal did not know yet: recorded in one step."""
    waiting: dict[str, Member] = field(default_factory=dict)
    """Members found by name while still being created: waited for from listings."""
    resume: list[Member] = field(default_factory=list)
    """Members whose accepted order is followed by its job's resume token."""
    order: list[Member] = field(default_factory=list)
    """Members to order."""


class Ensure:
    """One run of ``ensure()``: reads the journal and the server, then orders what is missing."""

    def __init__(
        self,
        gpcn: Client,
        journal: Journal,
        order: Mapping[str, Any],
        *,
        concurrency: int,
        report: Report,
    ) -> None:
        self._gpcn = gpcn
        self._journal = journal
        self._fleet = journal.fleet
        self._order = dict(order)
        self._slots = asyncio.Semaphore(concurrency)
        self._report = report

    async def run(self, count: int) -> list[GpuVm]:
        """Bring members ``0`` to ``count - 1`` into being; return them in name order.

        Raises:
            InvalidRequestError: a teardown of the fleet was interrupted: finish it first.
            BulkError: some members are not ready (by member name: why); the others are, and
                the journal keeps every step, so the next run deals with those only.
        """
        recorded = {member.name: member for member in await self._journal.members()}
        deleting = sorted(m.name for m in recorded.values() if m.state is MemberState.DELETING)
        if deleting:
            raise InvalidRequestError(
                f"fleet {self._fleet}: a teardown was interrupted ({len(deleting)} members "
                f"being deleted, such as {deleting[0]}): run teardown() again to finish it "
                "before ensure()"
            )
        if count == 0:
            return []
        plan = self._plan(count, recorded, await find_members(self._gpcn, self._fleet))
        await self._journal.put(plan.known)
        outcomes = plan.outcomes
        with one_error():
            async with asyncio.TaskGroup() as group:
                resumed = [group.create_task(self._resume(m)) for m in plan.resume]
                ordered = [group.create_task(self._bring_up(m, None)) for m in plan.order]
                settled = group.create_task(self._settle(plan.waiting))
        outcomes.update(settled.result())
        for member, task in zip([*plan.resume, *plan.order], [*resumed, *ordered], strict=True):
            outcomes[member.name] = task.result()
        failures = {
            name: outcome
            for name, outcome in sorted(outcomes.items())
            if isinstance(outcome, GPCNError)
        }
        if failures:
            raise BulkError(
                f"fleet {self._fleet}: {len(failures)} of {count} members are not ready "
                f"({_some(failures)}); the journal keeps what was done: run ensure() again "
                "to deal with those only",
                failures,
            )
        vms = [outcomes[member_name(self._fleet, number)] for number in range(count)]
        return [vm for vm in vms if isinstance(vm, GpuVm)]  # all of them: none failed

    def _plan(self, count: int, recorded: dict[str, Member], found: Found) -> _Plan:
        """What to do for each member, from its record and what the server lists by its name."""
        plan = _Plan()
        for number in range(count):
            name = member_name(self._fleet, number)
            row = recorded.get(name)
            member = row or Member(name, number, MemberState.ORDERING, order=self._order)
            vm = pick(found.get(name, []), member.vm_id)
            if vm is not None and not is_creating(vm):
                plan.outcomes[name] = vm
                ready = _ready(member, vm)
                if ready == row:
                    self._report(name, f"ready ({vm.status})")
                else:
                    plan.known.append(ready)
                    self._report(name, f"ready ({vm.status}), found on the server")
            elif member.state is MemberState.ORDERED and member.resume_token is not None:
                plan.resume.append(member)  # its job tells when it is ready
            elif vm is not None:
                plan.waiting[name] = _found(member, vm)
                plan.known.append(plan.waiting[name])
                self._report(name, f"found on the server ({vm.status}): waiting for it")
            else:
                plan.order.append(member)
        return plan

    async def _resume(self, member: Member) -> GpuVm | GPCNError:
        """Follow the order of an earlier run by its job's resume token."""
        self._report(member.name, "resuming its order")
        try:
            job: Job[GpuVm] = self._gpcn.jobs.resume(member.resume_token or "")
        except InvalidRequestError as error:  # a token this SDK cannot read: find it by name
            self._report(member.name, f"unknown: {error}; looking it up by name")
            return await self._bring_up(member, None, look_first=True)
        return await self._bring_up(member, job)

    async def _bring_up(
        self, member: Member, job: Job[GpuVm] | None, *, look_first: bool = False
    ) -> GpuVm | GPCNError:
        """Follow the member's job, or find it by name, or order it, until ready or failed.

        An order whose outcome stays unknown (its answer lost, its job not shown any more) is
        looked up by name before it is ordered again; after ``MAX_UNKNOWN_ORDERS`` such orders
        the member fails for this run (the next run looks it up again).
        """
        look = look_first
        for _ in range(MAX_UNKNOWN_ORDERS):
            if job is None:
                if look:
                    found = await self._look_up(member)
                    if found is not None:
                        return found
                member, placed = await self._place(member)
                if isinstance(placed, GPCNError):
                    return placed
                if placed is None:  # the outcome is unknown: look before ordering again
                    look = True
                    continue
                job = placed
            outcome = await self._wait(member, job)
            if outcome is not None:
                return outcome
            job, look = None, True
        return GPCNError(
            f"{member.name}: {MAX_UNKNOWN_ORDERS} orders in a row ended with no answer, and no "
            "VM of that name was found; run ensure() again to look it up and retry"
        )

    async def _place(self, member: Member) -> tuple[Member, Job[GpuVm] | GPCNError | None]:
        """Record the intent, send the order, record its job: the member and the job.

        Returns:
            The member as recorded, and the accepted order's job; or the error of an order
            that surely failed (recorded); or None when its outcome is unknown.
        """
        async with self._slots:
            intent = member.moved(
                MemberState.ORDERING,
                vm_id=None,
                vm_status=None,
                resume_token=None,
                error=None,
                order=self._order,
            )
            await self._journal.put([intent])
            self._report(member.name, "ordering")
            try:
                job = await self._gpcn.gpu.provision(name=member.name, **self._order)
            except OutcomeUnknownError as error:
                self._report(member.name, f"unknown: {error}; looking it up by name")
                return intent, None
            except GPCNError as error:  # sent to no avail, or never sent: surely no VM
                return await self._failed(intent, error), error
            ordered = intent.moved(MemberState.ORDERED, resume_token=job.resume_token)
            await self._journal.put([ordered])
            self._report(member.name, f"ordered (job {job.id})")
            return ordered, job

    async def _wait(self, member: Member, job: Job[GpuVm]) -> GpuVm | GPCNError | None:
        """Wait for the member's create job: its VM, its error, or None if the job is lost."""
        try:
            vm = await job
        except (JobFailedError, JobCancelledError) as error:
            await self._failed(member, error)
            return error
        except (JobNotFoundError, NotFoundError) as error:
            # The job is not shown any more, or its VM went: the server's list decides.
            self._report(member.name, f"unknown: {error}; looking it up by name")
            return None
        except GPCNError as error:  # a passing failure: the job goes on, the next run resumes it
            self._report(member.name, f"not ready: {error}")
            return error
        await self._journal.put([_ready(member, vm)])
        self._report(member.name, f"ready ({vm.status})")
        return vm

    async def _look_up(self, member: Member) -> GpuVm | GPCNError | None:
        """Find the member by name after an unknown outcome: its VM once ready, or None."""
        name = member.name
        # An order the server is still taking in shows up a moment later: wait one poll.
        await asyncio.sleep(self._gpcn.poll.interval)
        try:
            vm = pick(
                [vm async for vm in self._gpcn.gpu.list(search=name) if vm.name == name], None
            )
        except GPCNError as error:
            self._report(name, f"not ready: looking it up failed: {error}")
            return error
        if vm is None:
            self._report(name, "not found on the server: ordering it again")
            return None
        if not is_creating(vm):
            await self._journal.put([_ready(member, vm)])
            self._report(name, f"ready ({vm.status}), found on the server")
            return vm
        found = _found(member, vm)
        await self._journal.put([found])
        self._report(name, f"found on the server ({vm.status}): waiting for it")
        return (await self._settle({name: found}))[name]

    async def _settle(self, waiting: dict[str, Member]) -> dict[str, GpuVm | GPCNError]:
        """Wait for members found by name while being created; record how each ended."""
        if not waiting:
            return {}
        try:
            settled = await settle(
                self._gpcn, self._fleet, {name: m.vm_id or "" for name, m in waiting.items()}
            )
        except GPCNError as error:
            for name in waiting:
                self._report(name, f"not ready: {error}")
            return dict.fromkeys(waiting, error)
        outcomes: dict[str, GpuVm | GPCNError] = {}
        ready: list[Member] = []
        for name, member in waiting.items():
            if name not in settled:
                outcomes[name] = GPCNError(
                    f"{name}: still being created after {self._gpcn.poll.timeout:g} s; "
                    "run ensure() again to wait for it"
                )
                self._report(name, f"not ready: {outcomes[name]}")
                continue
            vm = settled[name]
            if vm is None:
                vanished = GPCNError(f"{name}: VM {member.vm_id} disappeared while being created")
                await self._failed(member, vanished)
                outcomes[name] = vanished
                continue
            outcomes[name] = vm
            ready.append(_ready(member, vm))
            self._report(name, f"ready ({vm.status})")
        await self._journal.put(ready)
        return outcomes

    async def _failed(self, member: Member, error: GPCNError) -> Member:
        """Record that the member surely has no VM, and why."""
        failed = member.moved(MemberState.FAILED, resume_token=None, error=str(error))
        await self._journal.put([failed])
        self._report(member.name, f"failed: {error}")
        return failed


def _some(names: Iterable[str], shown: int = 5) -> str:
    """``a, b, c`` or ``a, b, c, d, e and 7 more``."""
    listed = list(names)
    more = f" and {len(listed) - shown} more" if len(listed) > shown else ""
    return ", ".join(listed[:shown]) + more


def _ready(member: Member, vm: GpuVm) -> Member:
    return member.moved(
        MemberState.READY, vm_id=vm.id, vm_status=vm.status, resume_token=None, error=None
    )


def _found(member: Member, vm: GpuVm) -> Member:
    """A member whose VM was found by name while being created (no job to follow)."""
    return member.moved(
        MemberState.ORDERED, vm_id=vm.id, vm_status=vm.status, resume_token=None, error=None
    )
