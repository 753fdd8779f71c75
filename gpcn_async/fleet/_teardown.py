"""``Fleet.teardown()``: delete every member the journal or the server knows, and wait.

Each round claims the members it knows, lists the fleet's VMs on the server (the truth of what
is left), forgets the members that are gone, and deletes the rest that it claims: a VM new to
the teardown in one bulk delete (its intent recorded first), a delete whose job was recorded by
following that job, and a delete whose answer was lost by asking again (a 409 "being deleted"
then says it is going). Killed at any instant and run again, it takes up where the journal
says it was. Processes sharing a journal each delete the members they claim.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Final

from gpcn_async import (
    BulkError,
    Client,
    ConflictError,
    GPCNError,
    Job,
    NotFoundError,
    OutcomeUnknownError,
)
from gpcn_async.fleet._journal import Journal
from gpcn_async.fleet._members import Member, MemberState, number_of
from gpcn_async.fleet._server import Found, find_members, pick, wait_gone
from gpcn_async.fleet._tasks import Report, Waiting, one_error

__all__ = ["Teardown"]

MAX_ROUNDS: Final = 6
"""Rounds of deleting before giving up (one suffices unless deletes fail or names repeat)."""

Following = list[tuple[Member, Job[None]]]


class Teardown:
    """One run of ``teardown()``."""

    def __init__(self, gpcn: Client, journal: Journal, *, concurrency: int, report: Report) -> None:
        self._gpcn = gpcn
        self._journal = journal
        self._fleet = journal.fleet
        self._slots = asyncio.Semaphore(concurrency)
        self._report = report
        self._errors: dict[str, GPCNError] = {}  # the last failure to delete each member

    async def run(self) -> list[Member]:
        """Delete every member and wait until the server lists none; empty the journal.

        Each round claims the members known (the journal's and the last listing's), then lists
        the server: what it shows of a member claimed before is fresh. A name new to the
        listing is claimed and looked at again, so that all of a round goes in one bulk delete.
        Members other processes hold are left to them, and waited for.

        Returns:
            The members deleted, as the journal last knew them, in number order.

        Raises:
            BulkError: some members are still on the server after ``MAX_ROUNDS`` rounds (by
                member name: the last reason), or held by another process that made no
                progress; the journal keeps them for the next run.
        """
        deleted: list[Member] = []
        seen: set[str] = set()  # the names the last listing showed
        waiting = Waiting(
            self._gpcn.poll,
            self._journal.claim_ttl + self._gpcn.poll.timeout,
            sleep=self._journal.changes,
        )
        rounds = 0
        listed = False
        while True:
            recorded = {member.name: member for member in await self._journal.members()}
            known = sorted(set(recorded) | seen)
            mine = await self._journal.claim(known) if known else {}
            if listed and known and not mine:  # all held by others: no need to look yet
                await self._pause(waiting, known)
                continue
            found = await find_members(self._gpcn, self._fleet)
            new = sorted(set(found) - set(known))
            if new:
                mine |= await self._journal.claim(new)
                found = await find_members(self._gpcn, self._fleet)
            listed, seen = True, set(found)
            gone = [name for name in mine if name not in found]
            await self._journal.remove(gone)
            for name in gone:
                member = mine[name]
                if member is not None and member.state is MemberState.DELETING:
                    deleted.append(member)
                    self._report(name, "deleted")
            ours = {name: vms for name, vms in found.items() if name in mine}
            others = sorted((set(recorded) | set(found)) - set(mine))
            if not ours and not others:
                return sorted(deleted, key=lambda member: member.number)
            if not ours:
                if gone:
                    waiting.progressed()
                await self._pause(waiting, others)
                continue
            if rounds == MAX_ROUNDS:
                break
            rounds += 1
            waiting.progressed()
            await self._round(mine, ours)
        errors = {
            name: self._errors.get(name) or GPCNError(f"{name}: still on the server")
            for name in sorted(ours)
        }
        raise BulkError(
            f"fleet {self._fleet}: {len(errors)} members are still on the server after "
            f"{MAX_ROUNDS} rounds of deleting ({', '.join(errors)}); run teardown() again",
            errors,
        )

    async def _pause(self, waiting: Waiting, others: list[str]) -> None:
        """Wait for members other processes hold; give up when they make no progress."""
        if await waiting.pause():
            return
        raise BulkError(
            f"fleet {self._fleet}: {len(others)} members are held by other processes that "
            f"made no progress ({', '.join(others[:5])}); run teardown() again",
            {
                name: GPCNError(f"{name}: held by another process that made no progress")
                for name in others
            },
        )

    async def _round(self, recorded: Mapping[str, Member | None], found: Found) -> None:
        """Delete what the server lists (one VM per member name), and wait for it."""
        fresh: list[Member] = []
        asked: list[Member] = []
        following: Following = []
        for name, vms in sorted(found.items()):
            row = recorded.get(name)
            vm = pick(vms, row.vm_id if row is not None else None)
            if vm is None:  # pragma: no cover - found lists names with at least one VM
                continue
            if row is not None and row.state is MemberState.DELETING and row.vm_id == vm.id:
                if row.resume_token is not None:
                    following.append((row, self._gpcn.jobs.resume(row.resume_token)))
                    self._report(name, "deleting: following its delete")
                else:
                    asked.append(row)
                continue
            number = number_of(self._fleet, name)
            base = row or Member(name, number or 0, MemberState.DELETING)
            fresh.append(
                base.moved(
                    MemberState.DELETING,
                    vm_id=vm.id,
                    vm_status=vm.status,
                    resume_token=None,
                    error=None,
                )
            )
        going: list[Member] = []
        following += await self._delete(fresh, going)
        following += await self._ask_again(asked, going)
        await self._follow(following)
        if going:
            await wait_gone(self._gpcn, self._fleet, [m.vm_id for m in going if m.vm_id])

    async def _delete(self, fresh: list[Member], going: list[Member]) -> Following:
        """Record the intents, delete in bulk, record the jobs: the jobs to follow."""
        if not fresh:
            return []
        await self._journal.put(fresh)
        for member in fresh:
            self._report(member.name, "deleting")
        by_id = {member.vm_id or "": member for member in fresh}
        group = await self._gpcn.gpu.bulk_delete(by_id)
        accepted = [
            (by_id[vm_id].moved(MemberState.DELETING, resume_token=job.resume_token), job)
            for vm_id, job in group.jobs.items()
        ]
        await self._journal.put([member for member, _ in accepted])
        for vm_id, error in group.failed.items():
            self._refused(by_id[vm_id], error, going)
        return accepted

    async def _ask_again(self, asked: list[Member], going: list[Member]) -> Following:
        """Delete again each VM whose delete had no recorded answer (a 409 says it is going)."""

        async def ask(member: Member) -> tuple[Member, Job[None]] | None:
            async with self._slots:
                self._report(member.name, "deleting: asking again (its answer was lost)")
                try:
                    job = await self._gpcn.gpu.delete(member.vm_id or "")
                except GPCNError as error:
                    self._refused(member, error, going)
                    return None
            return member.moved(MemberState.DELETING, resume_token=job.resume_token), job

        with one_error():
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(ask(member)) for member in asked]
        accepted = [answer for task in tasks if (answer := task.result()) is not None]
        await self._journal.put([member for member, _ in accepted])
        return accepted

    async def _follow(self, following: Following) -> None:
        """Wait for the delete jobs; a failed one is asked again next round."""

        async def outcome(job: Job[None]) -> GPCNError | None:
            try:
                await job
            except GPCNError as error:
                return error
            return None

        with one_error():
            async with asyncio.TaskGroup() as group:
                tasks = [(member, group.create_task(outcome(job))) for member, job in following]
        failed: list[Member] = []
        for member, task in tasks:
            error = task.result()
            if error is not None:
                self._errors[member.name] = error
                self._report(member.name, f"delete failed: {error}; asking again")
                failed.append(
                    member.moved(MemberState.DELETING, resume_token=None, error=str(error))
                )
        await self._journal.put(failed)

    def _refused(self, member: Member, error: GPCNError, going: list[Member]) -> None:
        """Sort out a delete that was not accepted: going already, gone, or to ask again."""
        if isinstance(error, ConflictError):  # 409: it is being deleted already
            going.append(member)
            self._report(member.name, "deleting: being deleted already")
        elif isinstance(error, NotFoundError):
            self._report(member.name, "deleting: not found (gone already)")
        elif isinstance(error, OutcomeUnknownError):
            self._report(member.name, f"deleting: unknown ({error}); asking again")
        else:
            self._errors[member.name] = error
            self._report(member.name, f"delete failed: {error}")
