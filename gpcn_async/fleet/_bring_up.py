"""One member's way to ready: order it, follow its job, or find it by name, and record each step.

The caller claims the member in the journal first; these steps only write that member's record.
An order whose answer was never recorded (the process was killed, or the answer was lost) is
looked up by name before anything is ordered again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, Final

from gpcn_async import (
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
from gpcn_async.fleet._members import Member, MemberState
from gpcn_async.fleet._server import CreatedVms, is_creating, pick, settle
from gpcn_async.fleet._tasks import Report

__all__ = ["MAX_UNKNOWN_ORDERS", "BringUp", "found", "ready"]

MAX_UNKNOWN_ORDERS: Final = 3
"""Orders of one member, in one run, whose outcome may stay unknown before it counts as failed."""

Outcome = GpuVm | GPCNError


class BringUp:
    """The steps that bring members up, shared by every member of one ``ensure()`` run.

    Args:
        gpcn: the client.
        journal: the fleet's journal (the members acted on are claimed by the caller).
        order: ``provision()``'s arguments for every member.
        concurrency: how many orders are sent at once.
        report: called with a member's name and what happened to it.
        sent: called with a member's name once its order was sent (whatever came of it).
    """

    def __init__(
        self,
        gpcn: Client,
        journal: Journal,
        order: Mapping[str, Any],
        *,
        concurrency: int,
        report: Report,
        sent: Callable[[str], object],
    ) -> None:
        self._gpcn = gpcn
        self._journal = journal
        self._fleet = journal.fleet
        self._order = dict(order)
        self._slots = asyncio.Semaphore(concurrency)
        self._report = report
        self._sent = sent
        self._created = CreatedVms(gpcn, journal.fleet)

    @property
    def order(self) -> dict[str, Any]:
        """The order placed for each member."""
        return self._order

    async def resume(self, member: Member) -> Outcome:
        """Follow the order of an earlier run by its job's resume token."""
        self._report(member.name, "resuming its order")
        try:
            job: Job[GpuVm] = self._gpcn.jobs.resume(member.resume_token or "")
        except InvalidRequestError as error:  # a token this SDK cannot read: find it by name
            self._report(member.name, f"unknown: {error}; looking it up by name")
            return await self.bring_up(member, look_first=True)
        return await self._follow(member, job)

    async def bring_up(self, member: Member, *, look_first: bool = False) -> Outcome:
        """Order the member (after looking it up by name, with ``look_first``), until ready."""
        return await self._follow(member, None, look=look_first)

    async def _follow(
        self, member: Member, job: Job[GpuVm] | None, *, look: bool = False
    ) -> Outcome:
        """Follow the member's job, or find it by name, or order it, until ready or failed.

        An order whose outcome stays unknown (its answer lost, its job not shown any more) is
        looked up by name before it is ordered again; after ``MAX_UNKNOWN_ORDERS`` such orders
        the member fails for this run (the next run looks it up again).
        """
        for _ in range(MAX_UNKNOWN_ORDERS):
            if job is None:
                if look:
                    outcome = await self._look_up(member)
                    if outcome is not None:
                        return outcome
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
                return await self.failed(intent, error), error
            finally:
                self._sent(member.name)
            ordered = intent.moved(MemberState.ORDERED, resume_token=job.resume_token)
            await self._journal.put([ordered])
            self._report(member.name, f"ordered (job {job.id})")
            return ordered, job

    async def _wait(self, member: Member, job: Job[GpuVm]) -> Outcome | None:
        """Wait for the member's create job: its VM, its error, or None if the job is lost.

        The job is followed for its status only: its VM is read with those of the members
        whose jobs ended at the same time (``CreatedVms``), not with a GET of its own.
        """
        try:
            if job.id is None:  # answered at once, VM and all
                vm: GpuVm | None = await job
            else:
                status = await self._gpcn.jobs.attach(job.id)
                vm = await self._created.read(member.name, status.resource_id or job.resource_id)
        except (JobFailedError, JobCancelledError) as error:
            await self.failed(member, error)
            return error
        except (JobNotFoundError, NotFoundError) as error:
            # The job is not shown any more, or its VM went: the server's list decides.
            self._report(member.name, f"unknown: {error}; looking it up by name")
            return None
        except GPCNError as error:  # a passing failure: the job goes on, the next run resumes it
            self._report(member.name, f"not ready: {error}")
            return error
        if vm is None:  # the job named no VM, and none bears the name yet
            self._report(member.name, "created, but not listed: looking it up by name")
            return None
        await self._journal.put([ready(member, vm)])
        self._report(member.name, f"ready ({vm.status})")
        return vm

    async def _look_up(self, member: Member) -> Outcome | None:
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
            await self._journal.put([ready(member, vm)])
            self._report(name, f"ready ({vm.status}), found on the server")
            return vm
        creating = found(member, vm)
        await self._journal.put([creating])
        self._report(name, f"found on the server ({vm.status}): waiting for it")
        return (await self.settle({name: creating}))[name]

    async def settle(self, waiting: dict[str, Member]) -> dict[str, Outcome]:
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
        outcomes: dict[str, Outcome] = {}
        made: list[Member] = []
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
                await self.failed(member, vanished)
                outcomes[name] = vanished
                continue
            outcomes[name] = vm
            made.append(ready(member, vm))
            self._report(name, f"ready ({vm.status})")
        await self._journal.put(made)
        return outcomes

    async def failed(self, member: Member, error: GPCNError) -> Member:
        """Record that the member surely has no VM, and why."""
        failed = member.moved(MemberState.FAILED, resume_token=None, error=str(error))
        await self._journal.put([failed])
        self._report(member.name, f"failed: {error}")
        return failed


def ready(member: Member, vm: GpuVm) -> Member:
    """The member with its VM ready."""
    return member.moved(
        MemberState.READY, vm_id=vm.id, vm_status=vm.status, resume_token=None, error=None
    )


def found(member: Member, vm: GpuVm) -> Member:
    """A member whose VM was found by name while being created (no job to follow)."""
    return member.moved(
        MemberState.ORDERED, vm_id=vm.id, vm_status=vm.status, resume_token=None, error=None
    )
