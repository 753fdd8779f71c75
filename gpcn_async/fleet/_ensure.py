"""``Fleet.ensure()``: members ``0`` to ``count - 1``, each ordered once by the process claiming it.

Of the processes sharing a journal, one at a time brings the fleet up: the fleet's lead
(``Lead``); the others stand by in the journal, sending nothing, until the members they want
are ready (their VMs then come from one listing) or the lead is free for them to take.

The lead reads the journal, claims the members an earlier run left half done and the first few
to order, then lists the fleet on the server: taken after the claims, the listing is fresh for
them, and each is planned from its record and the listing. Each time one of its orders has gone
out, it claims the next member. A member claimed later is decided from its record as the claim
found it: an order nobody recorded an answer to is looked up by name first. Members held by
other processes (a teardown, or a lead that died, until its claims expire) are waited for in
the journal.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from gpcn_async import BulkError, Client, GPCNError, GpuVm, InvalidRequestError
from gpcn_async.fleet._bring_up import BringUp, found, ready
from gpcn_async.fleet._journal import Journal
from gpcn_async.fleet._lead import Lead
from gpcn_async.fleet._members import Member, MemberState, member_name
from gpcn_async.fleet._server import Found, find_members, is_creating, pick
from gpcn_async.fleet._tasks import Report, Waiting, one_error

__all__ = ["Ensure"]

logger = logging.getLogger("gpcn_async.fleet")

Outcome = GpuVm | GPCNError

TAKEN_UP: Final = frozenset({MemberState.ORDERING, MemberState.ORDERED})
"""Records of a member an earlier run was bringing up."""


@dataclass
class _Plan:
    """What a run does for members it claimed, decided from their records and a listing."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    """Members settled already (ready on the server, or failed elsewhere)."""
    known: list[Member] = field(default_factory=list)
    """What the listing showed that the journal did not know yet: recorded in one step."""
    waiting: dict[str, Member] = field(default_factory=dict)
    """Members found by name while still being created: waited for from listings."""
    resume: list[Member] = field(default_factory=list)
    """Members whose accepted order is followed by its job's resume token."""
    order: list[Member] = field(default_factory=list)
    """Members to order."""
    look: list[Member] = field(default_factory=list)
    """Members whose order has no recorded answer, claimed after the listing: looked up first."""


def _changed(before: Member | None, after: Member) -> bool:
    """Whether a record was written since ``before`` was read (by this run or another)."""
    return before is None or (before.state, before.updated_at) != (after.state, after.updated_at)


def _some(names: Iterable[str], shown: int = 5) -> str:
    """``a, b, c`` or ``a, b, c, d, e and 7 more``."""
    listed = list(names)
    more = f" and {len(listed) - shown} more" if len(listed) > shown else ""
    return ", ".join(listed[:shown]) + more


class Ensure:
    """One run of ``ensure()``: leads (claims members, orders what is missing) or stands by."""

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
        self._concurrency = concurrency
        self._report = report
        self._lead = Lead(journal)
        self._steps = BringUp(
            gpcn, journal, order, concurrency=concurrency, report=report, sent=self._sent
        )
        self._start: dict[str, Member] = {}  # the journal as this run found it
        self._found: Found = {}  # the listing taken after the first claims
        self._outcomes: dict[str, Outcome] = {}
        self._mine: set[str] = set()  # claimed by this run
        self._elsewhere: dict[str, Member] = {}  # made ready by other processes
        self._unsent: set[str] = set()  # claimed for an order not sent yet
        self._room = asyncio.Event()  # set when one of those was sent

    async def run(self, count: int) -> list[GpuVm]:
        """Bring members ``0`` to ``count - 1`` into being; return them in name order.

        Raises:
            InvalidRequestError: a teardown of the fleet was interrupted: finish it first.
            BulkError: some members are not ready (by member name: why); the others are, and
                the journal keeps every step, so the next run deals with those only.
        """
        self._start = {member.name: member for member in await self._journal.members()}
        deleting = sorted(m.name for m in self._start.values() if m.state is MemberState.DELETING)
        if deleting:
            raise InvalidRequestError(
                f"fleet {self._fleet}: a teardown was interrupted ({len(deleting)} members "
                f"being deleted, such as {deleting[0]}): run teardown() again to finish it "
                "before ensure()"
            )
        if count == 0:
            return []
        names = [member_name(self._fleet, number) for number in range(count)]
        if await self._lead.take() or await self._stand_by(names):
            try:
                await self._bring_up(names)
            finally:
                await self._lead.let_go()
        await self._collect_elsewhere()
        failures = {
            name: outcome
            for name, outcome in sorted(self._outcomes.items())
            if isinstance(outcome, GPCNError)
        }
        if failures:
            raise BulkError(
                f"fleet {self._fleet}: {len(failures)} of {count} members are not ready "
                f"({_some(failures)}); the journal keeps what was done: run ensure() again "
                "to deal with those only",
                failures,
            )
        vms = [self._outcomes[name] for name in names]
        return [vm for vm in vms if isinstance(vm, GpuVm)]  # all of them: none failed

    async def _stand_by(self, names: list[str]) -> bool:
        """Wait in the journal while another process leads; whether this one leads now.

        Members the lead brings to an end meanwhile (ready or failed) are noted as it records
        them; when all of ``names`` are, there is nothing to take over (False). When nothing
        moves for too long (no member ends, the lead is not let go), this run gives up on the
        members left (False).
        """
        logger.info("fleet %s: another process leads: standing by", self._fleet)
        # A look costs no API request: at the poll interval, without growing, and at once
        # when the lead lets go (where the journal tells), so that this process ends with it.
        waiting = Waiting(
            self._gpcn.poll,
            self._journal.claim_ttl + self._gpcn.poll.timeout,
            steady=True,
            sleep=self._journal.changes,
        )
        while True:
            records = {member.name: member for member in await self._journal.members()}
            if self._done_elsewhere(records, names):
                waiting.progressed()
            left = [name for name in names if name not in self._outcomes | self._elsewhere]
            if not left:
                return False
            if await self._lead.take():
                # Taken over (the lead finished or died): a run of its own, from the journal
                # as it stands now.
                self._start = records
                self._outcomes.clear()
                self._elsewhere.clear()
                logger.info("fleet %s: taking over as the lead", self._fleet)
                return True
            if not await waiting.pause():
                self._give_up(left)
                return False

    async def _bring_up(self, names: list[str]) -> None:
        """As the lead: claim, list, plan, order and follow until every member has an outcome."""
        plan = await self._first(names)
        with one_error():
            async with asyncio.TaskGroup() as group:
                await self._launch(group, plan)
                group.create_task(self._feed(group, names))

    async def _first(self, names: list[str]) -> _Plan:
        """Claim what an earlier run left half done and the first orders, then list and plan.

        Members the journal has ready and the listing shows are settled without a claim.
        """
        start = self._start
        taken_up = [name for name in names if name in start and start[name].state in TAKEN_UP]
        fresh = [
            name
            for name in names
            if name not in taken_up
            and (name not in start or start[name].state is not MemberState.READY)
        ]
        claimed = await self._journal.claim(
            [*taken_up, *fresh], limit=len(taken_up) + self._concurrency
        )
        self._mine.update(claimed)
        self._unsent.update(name for name in claimed if name not in taken_up)
        self._found = await find_members(self._gpcn, self._fleet)
        plan = _Plan()
        refresh: list[Member] = []
        for name in names:
            if name in claimed:
                self._plan(plan, name, claimed[name])
            elif (row := start.get(name)) is not None and row.state is MemberState.READY:
                vm = pick(self._found.get(name, []), row.vm_id)
                if vm is not None and not is_creating(vm):
                    self._outcomes[name] = vm
                    self._report(name, f"ready ({vm.status})")
                    if ready(row, vm) != row:
                        refresh.append(ready(row, vm))
        if refresh:  # a status that changed on the server: recorded if nobody else holds it
            granted = await self._journal.claim([member.name for member in refresh])
            await self._journal.put([member for member in refresh if member.name in granted])
            await self._journal.unclaim(list(granted))
        return plan

    def _plan(self, plan: _Plan, name: str, row: Member | None) -> None:
        """Plan a claimed member from its record and a listing taken after the claim."""
        number = int(name.removeprefix(f"{self._fleet}-"))
        member = row or Member(name, number, MemberState.ORDERING, order=self._steps.order)
        vm = pick(self._found.get(name, []), member.vm_id)
        if vm is not None and not is_creating(vm):
            plan.outcomes[name] = vm
            made = ready(member, vm)
            if made == row:
                self._report(name, f"ready ({vm.status})")
            else:
                plan.known.append(made)
                self._report(name, f"ready ({vm.status}), found on the server")
        elif member.state is MemberState.ORDERED and member.resume_token is not None:
            plan.resume.append(member)  # its job tells when it is ready
        elif vm is not None:
            plan.waiting[name] = found(member, vm)
            plan.known.append(plan.waiting[name])
            self._report(name, f"found on the server ({vm.status}): waiting for it")
        else:
            plan.order.append(member)

    async def _launch(self, group: asyncio.TaskGroup, plan: _Plan) -> None:
        """Record what the plan learnt, and start the work it calls for."""
        await self._journal.put(plan.known)
        self._outcomes.update(plan.outcomes)
        settled = [*plan.outcomes, *plan.waiting]
        for name in settled:
            self._sent(name)
        await self._journal.unclaim(list(plan.outcomes))
        for member in plan.resume:
            group.create_task(self._finish(member.name, self._steps.resume(member)))
        for member in plan.order:
            group.create_task(self._finish(member.name, self._steps.bring_up(member)))
        for member in plan.look:
            self._report(member.name, "its order has no recorded answer: looking it up by name")
            steps = self._steps.bring_up(member, look_first=True)
            group.create_task(self._finish(member.name, steps))
        if plan.waiting:
            group.create_task(self._settle(plan.waiting))

    async def _finish(self, name: str, steps: Awaitable[Outcome]) -> None:
        """Keep a member's outcome and let go of its claim."""
        try:
            self._outcomes[name] = await steps
        finally:
            self._sent(name)
        await self._journal.unclaim([name])

    async def _settle(self, waiting: dict[str, Member]) -> None:
        """Wait for members found being created; keep their outcomes, let go of their claims."""
        self._outcomes.update(await self._steps.settle(waiting))
        await self._journal.unclaim(list(waiting))

    def _sent(self, name: str) -> None:
        """A claimed member's order went out (or needs none): room for the next claim."""
        if name in self._unsent:
            self._unsent.discard(name)
            self._room.set()

    async def _feed(self, group: asyncio.TaskGroup, names: list[str]) -> None:
        """Claim the next members as orders go out; wait for those other processes hold."""
        waiting = Waiting(
            self._gpcn.poll,
            self._journal.claim_ttl + self._gpcn.poll.timeout,
            sleep=self._journal.changes,
        )
        while True:
            todo = [
                name
                for name in names
                if name not in self._mine
                and name not in self._outcomes
                and name not in self._elsewhere
            ]
            if not todo:
                return
            room = self._concurrency - len(self._unsent)
            if room <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            claimed = await self._journal.claim(todo, limit=room)
            for name, record in claimed.items():
                await self._start_on(group, name, record)
            if len(claimed) == len(todo[:room]):
                waiting.progressed()
                continue
            # Other processes hold the rest (a teardown, or a lead that died): see what they
            # did, then pause.
            records = {member.name: member for member in await self._journal.members()}
            if self._done_elsewhere(records, todo) or claimed:
                waiting.progressed()
            if not await waiting.pause():
                self._give_up([name for name in todo if name not in self._mine])
                return

    async def _start_on(self, group: asyncio.TaskGroup, name: str, record: Member | None) -> None:
        """Plan a member just claimed and launch its work (or let go of it if there is none)."""
        self._mine.add(name)
        plan = self._take(name, record)
        if plan.order or plan.look:  # it may send an order soon
            self._unsent.add(name)
        await self._launch(group, plan)
        if not (plan.order or plan.look or plan.resume or plan.waiting or plan.outcomes):
            await self._journal.unclaim([name])  # finished elsewhere: nothing to do

    def _take(self, name: str, record: Member | None) -> _Plan:
        """Plan a member claimed after the listing, from its record as the claim found it."""
        plan = _Plan()
        if record is not None and record.state is MemberState.DELETING:
            plan.outcomes[name] = GPCNError(f"{name}: being deleted by a teardown meanwhile")
        elif (
            record is not None
            and _changed(self._start.get(name), record)
            and record.state
            in (
                MemberState.READY,
                MemberState.FAILED,
            )
        ):
            self._done_elsewhere({name: record}, [name])  # finished by another process
        elif record is None or record.state in (MemberState.READY, MemberState.FAILED):
            self._plan(plan, name, record)  # nobody touched it since the listing
        elif record.state is MemberState.ORDERED and record.resume_token is not None:
            plan.resume.append(record)
        else:  # an order (or a VM found by name) that its process left unanswered
            plan.look.append(record)
        return plan

    def _done_elsewhere(self, records: Mapping[str, Member], names: list[str]) -> bool:
        """Take note of members another process finished during this run; whether any was."""
        noted = False
        for name in names:
            record = records.get(name)
            if record is None or name in self._outcomes or name in self._elsewhere:
                continue
            if not _changed(self._start.get(name), record):
                continue
            vm = pick(self._found.get(name, []), record.vm_id)
            if record.state is MemberState.READY and vm is not None and vm.id == record.vm_id:
                self._outcomes[name] = vm
            elif record.state is MemberState.READY:
                self._elsewhere[name] = record
            elif record.state is MemberState.FAILED:
                error = GPCNError(f"{name}: failed in another process: {record.error}")
                self._outcomes[name] = error
            else:
                continue
            self._report(name, f"{record.state.value} (by another process)")
            noted = True
        return noted

    def _give_up(self, names: list[str]) -> None:
        """Members other processes held with no progress for too long: not ready, this run."""
        for name in names:
            if name not in self._outcomes and name not in self._elsewhere:
                self._outcomes[name] = GPCNError(
                    f"{name}: claimed by another process that made no progress; run ensure() again"
                )
                self._report(name, f"not ready: {self._outcomes[name]}")

    async def _collect_elsewhere(self) -> None:
        """The VMs of members other processes made ready, from one listing."""
        if not self._elsewhere:
            return
        try:
            listing = await find_members(self._gpcn, self._fleet)
        except GPCNError as error:
            self._outcomes.update(dict.fromkeys(self._elsewhere, error))
            return
        for name, record in self._elsewhere.items():
            vm = next((vm for vm in listing.get(name, []) if vm.id == record.vm_id), None)
            self._outcomes[name] = vm or GPCNError(
                f"{name}: made ready by another process, but its VM {record.vm_id} is not on "
                "the server any more; run ensure() again"
            )
