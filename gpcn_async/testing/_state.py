"""Everything the fake remembers: catalog, VMs, jobs and fault switches (plain data, no I/O).

Job effects live here too: a create that succeeds makes its VM ``Running``, one that fails or is
cancelled removes it; a delete that succeeds removes the VM; start/stop/reset change its status.
Time comes from two injectable clocks, so the logic is testable without sleeping.

``tick()`` runs on every request, so it costs only the jobs it changes: the running
duration-scripted jobs wait in a heap by the time their progress next rises or they end.
"""

from __future__ import annotations

import heapq
import math
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from gpcn_async.testing._catalog import Catalog, SeriesSpec, SkuSpec
from gpcn_async.testing._jobs import JobRecord, JobScript, Outcome
from gpcn_async.testing._vms import VmRecord, Vms

__all__ = ["ACTION_STATUS", "State"]

ACTION_STATUS: dict[str, str] = {"start": "Running", "stop": "Stopped", "reset": "Running"}
"""The VM status each power action leads to."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class State:
    """The fake's memory and the rules that change it."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        default_script: JobScript,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.catalog = catalog
        self.vms = Vms(catalog, wall)
        self.jobs: dict[str, JobRecord] = {}
        self.default_script = default_script
        self.next_scripts: deque[JobScript] = deque()
        self.race_creates = 0
        self.unsupported: set[str] = set()
        self.bulk_failures: dict[tuple[str, str | None], str] = {}
        self.gpu_enabled = True
        self.provider_outage = False
        self.clock = clock
        self.wall = wall
        # The scheduler of tick(): (time, entry number, job id) for each running duration job,
        # the time no later than its next change (JobRecord.next_change). An entry counts only
        # while _live maps its job to its number: a rescheduled or finished job's older entries
        # are skipped when they come up. _order keeps the creation order, the order tick()
        # advances jobs due together in (their effects on one VM may not commute).
        self._due: list[tuple[float, int, str]] = []
        self._live: dict[str, int] = {}
        self._order: dict[str, int] = {}
        self._entries = 0
        self._latest_start = -math.inf

    # -- VMs -------------------------------------------------------------------------------

    def series_of(self, vm: VmRecord) -> SeriesSpec:
        """Return the series of a VM (a placeholder if it was removed from the catalog)."""
        spec = self.catalog.find_series(vm.series_code)
        if spec is None:
            return SeriesSpec(guide_id=0, id="", code=vm.series_code, name=vm.series_code)
        return spec

    def sku_of(self, vm: VmRecord) -> SkuSpec:
        """Return the SKU a VM runs on."""
        skus = self.catalog.skus_of(self.series_of(vm), vm.gpu_count)
        for sku in skus:
            if sku.code == vm.sku_code:
                return sku
        return skus[0]

    # -- jobs ------------------------------------------------------------------------------

    def new_job(
        self,
        operation: str,
        resource_id: str | None,
        *,
        script: JobScript | None = None,
    ) -> JobRecord:
        """Start a job; without a script it takes the next queued one, else the default."""
        if script is None:
            script = self.next_scripts.popleft() if self.next_scripts else self.default_script
        vm = self.vms.get(resource_id or "")
        wall = self.wall()
        job = JobRecord(
            id=str(uuid.uuid4()),
            operation=operation,
            resource_id=resource_id,
            resource_name=vm.name if vm is not None else None,
            script=script,
            created_at=wall,
            started=self.clock(),
            updated_at=wall,
        )
        self.jobs[job.id] = job
        if operation == "delete" and vm is not None:
            self.vms.deleting[vm.id] = job.id
        self._order[job.id] = len(self._order)
        self._latest_start = max(self._latest_start, job.started)
        self._schedule(job)
        return job

    def rescript(self, job: JobRecord, script: JobScript) -> None:
        """Give a running job another script; ``tick()`` follows its new timing."""
        job.script = script
        self._schedule(job)

    def tick(self) -> None:
        """Bring the duration-scripted jobs up to the clock: raise progress, finish those due.

        Only the jobs whose time to change has come are visited, in creation order.
        """
        now, wall = self.clock(), self.wall()
        if now < self._latest_start:
            # The clock went back behind a job's start (only an injected clock can): that job's
            # elapsed time is negative, where the next_change times do not hold, so visit all.
            for job in list(self.jobs.values()):
                if not job.terminal and job.script.duration is not None:
                    self._advance(job, now=now, wall=wall, polled=False)
            return
        due: list[JobRecord] = []
        heap, live = self._due, self._live
        while heap and heap[0][0] <= now:
            _, entry, job_id = heapq.heappop(heap)
            if live.get(job_id) != entry:
                continue  # rescheduled or finished since
            found = self.jobs.get(job_id)
            if found is None or found.terminal or found.script.duration is None:
                del live[job_id]
                continue
            due.append(found)
        due.sort(key=lambda job: self._order[job.id])
        for job in due:
            self._advance(job, now=now, wall=wall, polled=False)
        for job in due:  # after the loop: a job due again at once waits for the next tick
            self._schedule(job)

    def _schedule(self, job: JobRecord) -> None:
        """(Re)schedule a job in tick()'s heap after it changed, or drop it if it has no time."""
        when = job.next_change()
        if when is None:
            self._live.pop(job.id, None)
            return
        self._entries += 1
        self._live[job.id] = self._entries
        heapq.heappush(self._due, (when, self._entries, job.id))

    def poll(self, job_ids: Iterable[str]) -> list[JobRecord]:
        """Count a poll of each known id (once per request) and return those jobs in order."""
        now, wall = self.clock(), self.wall()
        found: list[JobRecord] = []
        seen: set[str] = set()
        for job_id in job_ids:
            job = self.jobs.get(job_id)
            if job is None or job_id in seen:
                continue
            seen.add(job_id)
            self._advance(job, now=now, wall=wall, polled=True)
            found.append(job)
        return found

    def finish(self, job: JobRecord, outcome: Outcome, error: str | None) -> None:
        """End a running job now, with the same effects as a scripted end."""
        job.finish(outcome, wall=self.wall(), error=error)
        self._apply(job)

    def _advance(self, job: JobRecord, *, now: float, wall: datetime, polled: bool) -> None:
        if job.advance(now=now, wall=wall, polled=polled):
            self._apply(job)

    def _apply(self, job: JobRecord) -> None:
        succeeded = job.state == "succeeded"
        if job.operation == "create":
            if succeeded:
                self.vms.set_status(job.resource_id, "Running")
            else:
                self.vms.pop(job.resource_id or "", None)
        elif job.operation == "delete":
            if self.vms.deleting.get(job.resource_id or "") == job.id:
                del self.vms.deleting[job.resource_id or ""]
            if succeeded:
                self.vms.pop(job.resource_id or "", None)
        elif job.operation in ACTION_STATUS and succeeded:
            self.vms.set_status(job.resource_id, ACTION_STATUS[job.operation])
