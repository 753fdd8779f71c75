"""Everything the fake remembers: catalog, VMs, jobs and behaviour switches (plain data, no I/O).

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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gpcn_async.testing._catalog import Catalog, SeriesSpec, Sku, require_gpu_count
from gpcn_async.testing._checks import require_text
from gpcn_async.testing._jobs import JobRecord, JobScript, Outcome

__all__ = ["ACTION_STATUS", "State", "VmRecord"]

ACTION_STATUS: dict[str, str] = {"start": "Running", "stop": "Stopped", "reset": "Running"}
"""The VM status each power action leads to."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class VmRecord:
    """A GPU VM of the fake.

    Attributes:
        id: The VM id (a uuid string unless given).
        name: The VM name.
        status: The status text, e.g. ``"Running"``.
        series_code: The code of its GPU series.
        gpu_count: 1, 2, 4 or 8.
        datacenter_id: The id of its datacenter.
        team_id: The team (an int in the guide's examples), or None.
        resource_group_id: The resource group, or None.
        created_at: Creation time (UTC).
        updated_at: Last change (UTC).
        serial: The order the fake made it in (a tie-breaker for sorting).
        ip: Its public address (shown once it is no longer provisioning).
        image: The OS image name.
        image_id: The image id, if one was asked for.
        username: The login user.
        ssh_key_id: The SSH key id, or None.
        ssh_key_name: The SSH key's name, or None.
        sku_code: The SKU it was ordered with, or None for the configuration's first SKU.
    """

    id: str
    name: str
    status: str
    series_code: str
    gpu_count: int
    datacenter_id: str
    team_id: int | str | None
    resource_group_id: str | None
    created_at: datetime
    updated_at: datetime
    serial: int
    ip: str
    image: str = "ubuntu-24.04"
    image_id: str | None = None
    username: str = "ubuntu"
    ssh_key_id: str | None = None
    ssh_key_name: str | None = None
    sku_code: str | None = None


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
        self.vms: dict[str, VmRecord] = {}
        self.jobs: dict[str, JobRecord] = {}
        self.default_script = default_script
        self.next_scripts: deque[JobScript] = deque()
        self.created_vm_count = 0
        self.race_creates = 0
        self.unsupported: set[str] = set()
        self.bulk_failures: dict[tuple[str, str | None], str] = {}
        self.gpu_enabled = True
        self.provider_outage = False
        self.update_returns_body = True
        self.delete_answers_204 = False
        self.actions_answer_202 = False
        self.bulk_delete_omits = 0  # jobs left out of each bulk delete answer (the last ones)
        # VM id -> the delete job running for it: a VM being deleted refuses other actions.
        self.deleting: dict[str, str] = {}
        self.clock = clock
        self.wall = wall
        self._serial = 0
        self._last_created: datetime | None = None
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

    def sku_of(self, vm: VmRecord) -> Sku:
        """Return the SKU a VM runs on."""
        skus = self.catalog.skus(self.series_of(vm), vm.gpu_count)
        for sku in skus:
            if sku.code == vm.sku_code:
                return sku
        return skus[0]

    def _next_created_at(self) -> datetime:
        now = self.wall()
        if self._last_created is not None and now <= self._last_created:
            now = self._last_created + timedelta(milliseconds=1)
        self._last_created = now
        return now

    def add_vm(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        status: str = "Running",
        series_code: str | None = None,
        gpu_count: int = 1,
        datacenter_id: str | None = None,
        team_id: int | str | None = None,
        resource_group_id: str | None = None,
        created_at: datetime | None = None,
    ) -> VmRecord:
        """Record a VM (defaults: first series and datacenter, generated name and id).

        Raises:
            ValueError: Unknown series or datacenter, a bad GPU count, a duplicate id, an empty
                name, or a naive ``created_at``.
        """
        catalog = self.catalog
        if series_code is None:
            if not catalog.series:
                raise ValueError("the catalog has no series: pass series_code or add_series()")
            series_code = catalog.series[0].code
        else:
            catalog.series_by_code(series_code)
        if datacenter_id is None:
            if not catalog.datacenters:
                raise ValueError("the catalog has no datacenter: pass one or add_datacenter()")
            datacenter_id = catalog.datacenters[0].id
        elif catalog.find_datacenter(datacenter_id) is None:
            raise ValueError(f"unknown datacenter id {datacenter_id!r}")
        require_gpu_count(gpu_count)
        if id is not None and (not id or id in self.vms):
            raise ValueError(f"VM id {id!r} is empty or already used")
        if name is not None:
            require_text("VM name", name)
        require_text("VM status", status)
        if created_at is not None and created_at.tzinfo is None:
            raise ValueError(f"created_at must be timezone-aware, got {created_at!r}")
        self._serial += 1
        serial = self._serial
        stamp = created_at if created_at is not None else self._next_created_at()
        vm = VmRecord(
            id=id or str(uuid.uuid4()),
            name=name or f"vm-{serial:04d}",
            status=status,
            series_code=series_code,
            gpu_count=gpu_count,
            datacenter_id=datacenter_id,
            team_id=team_id,
            resource_group_id=resource_group_id,
            created_at=stamp,
            updated_at=stamp,
            serial=serial,
            ip=f"198.51.{serial // 250 % 256}.{serial % 250 + 1}",
        )
        self.vms[vm.id] = vm
        return vm

    def set_status(self, vm_id: str | None, status: str) -> None:
        """Change a VM's status if the VM still exists."""
        vm = self.vms.get(vm_id or "")
        if vm is not None:
            vm.status = status
            vm.updated_at = self.wall()

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
            self.deleting[vm.id] = job.id
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
                self.set_status(job.resource_id, "Running")
            else:
                self.vms.pop(job.resource_id or "", None)
        elif job.operation == "delete":
            if self.deleting.get(job.resource_id or "") == job.id:
                del self.deleting[job.resource_id or ""]
            if succeeded:
                self.vms.pop(job.resource_id or "", None)
        elif job.operation in ACTION_STATUS and succeeded:
            self.set_status(job.resource_id, ACTION_STATUS[job.operation])
