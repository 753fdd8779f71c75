"""``fake.vms``: the fake's GPU VMs by id, how they are added, and how their endpoints answer.

Plain data, no I/O: a dict of ``VmRecord`` with the rules for adding one and the switches that
change what the VM endpoints answer. Jobs change VMs through ``State`` (see ``_state``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gpcn_async.testing._catalog import Catalog, require_gpu_count
from gpcn_async.testing._checks import require_int, require_text

__all__ = ["VmRecord", "Vms"]


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


class Vms(dict[str, VmRecord]):
    """``fake.vms``: the VMs by id (a live dict: changes show in the next answers).

    Reading ``fake.vms`` first brings duration-scripted jobs up to date, so a VM whose create
    or delete job ended by now shows as it is now.

    Attributes:
        created_count: How many VMs were ever created through ``POST /resource/gpu``.
        update_returns_body: When False, ``PUT /resource/gpu/{id}`` answers 200 without the VM.
        delete_answers_204: When True, ``DELETE /resource/gpu/{id}`` deletes at once and answers
            204.
        actions_answer_202: When True, start/stop/reset answer 202 with a job instead of 200.
        deleting: VM id -> the delete job running for it (such a VM answers 409 to delete,
            start, stop and reset).
    """

    def __init__(self, catalog: Catalog, wall: Callable[[], datetime]) -> None:
        super().__init__()
        self._catalog = catalog
        self._wall = wall
        self._serial = 0
        self._last_created: datetime | None = None
        self._bulk_delete_omits = 0
        self.created_count = 0
        self.update_returns_body = True
        self.delete_answers_204 = False
        self.actions_answer_202 = False
        self.deleting: dict[str, str] = {}

    @property
    def bulk_delete_omits(self) -> int:
        """How many jobs each bulk delete answer leaves out (the last ones; 0 by default).

        Every id's delete job still runs on the fake: the answer simply holds fewer jobs than
        ids, as a faulty or truncated answer would.
        """
        return self._bulk_delete_omits

    @bulk_delete_omits.setter
    def bulk_delete_omits(self, value: int) -> None:
        self._bulk_delete_omits = require_int("bulk_delete_omits", value, 0)

    def is_being_deleted(self, vm_id: str) -> bool:
        """Whether a delete job runs for ``vm_id``: it answers 409 to delete, start, stop, reset."""
        return vm_id in self.deleting

    def _next_created_at(self) -> datetime:
        now = self._wall()
        if self._last_created is not None and now <= self._last_created:
            now = self._last_created + timedelta(milliseconds=1)
        self._last_created = now
        return now

    def add(
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
    ) -> str:
        """Add a VM directly and return its id (``created_count`` counts only API creates).

        Defaults: the first series and datacenter, a generated name and uuid, and a creation time
        later than every earlier VM's, so sort order is deterministic.

        Raises:
            ValueError: Unknown series or datacenter, a bad GPU count, a duplicate id, an empty
                name, or a naive ``created_at``.
        """
        catalog = self._catalog
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
        if id is not None and (not id or id in self):
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
        self[vm.id] = vm
        return vm.id

    def set_status(self, vm_id: str | None, status: str) -> None:
        """Change a VM's status if the VM still exists."""
        vm = self.get(vm_id or "")
        if vm is not None:
            vm.status = status
            vm.updated_at = self._wall()
