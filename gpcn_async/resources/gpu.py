"""``gpcn.gpu``: GPU VMs and the GPU inventory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from gpcn_async import _convert, _validate, _wire
from gpcn_async._pagination import iterate_pages
from gpcn_async._transport import Response, Transport
from gpcn_async.errors import InvalidRequestError, ResponseDecodeError
from gpcn_async.jobs import Job, Poller
from gpcn_async.models import GpuVm, Inventory, JobStatus, Page, SshKey
from gpcn_async.models._requests import UNSET, GpuCreateRequest, GpuUpdateRequest, Unset
from gpcn_async.policies import PollPolicy

__all__ = ["GpuClient"]

BASE = "/resource/gpu"

T = TypeVar("T")


class GpuClient:
    """GPU VMs, reached as ``gpcn.gpu``.

    Reads return models; operations the server runs in the background (create, delete, and
    start/stop/reset where the provider answers with a job) return a ``Job`` to await.
    """

    def __init__(self, transport: Transport, poller: Poller, policy: PollPolicy) -> None:
        """Internal: made by ``Client``."""
        self._transport = transport
        self._poller = poller
        self._policy = policy

    async def inventory(
        self,
        code: str | None = None,
        *,
        datacenter_id: str | None = None,
        count: int | None = None,
    ) -> Inventory:
        """What can be ordered now: each GPU series and where, in which GPU counts.

        Args:
            code: only this series code.
            datacenter_id: only this datacenter (a 404 if it is not available to you).
            count: only this GPU count (1, 2, 4 or 8).

        Use ``inventory.offers(...)`` to walk the available (series, datacenter, count) offers.
        """
        params = _wire.query_params(
            {
                "code": _validate.optional_text(code, "code"),
                "datacenterId": _validate.optional_text(datacenter_id, "datacenter_id"),
                "count": None if count is None else _validate.gpu_count(count, "count"),
            }
        )
        response = await self._transport.request("GET", f"{BASE}/inventory", params=params)
        return _convert.structure_inventory(response.data)

    def list(
        self,
        search: str | None = None,
        *,
        sort: str | None = None,
        team_id: int | str | None = None,
        resource_group_id: str | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[GpuVm]:
        """Iterate over every GPU VM, fetching pages of ``page_size`` lazily as you go.

        ``async for vm in gpcn.gpu.list(search="train-"): ...``. A VM shifted onto the next
        page by one added meanwhile is not yielded twice. Arguments are checked here, before
        the first request.
        """
        filters = self._list_filters(search, sort, team_id, resource_group_id)
        limit = _validate.page_limit(page_size)

        async def fetch(number: int) -> Page[GpuVm]:
            return await self._fetch_page(number, limit, filters)

        return iterate_pages(fetch, key=_vm_id)

    async def list_page(
        self,
        page: int = 1,
        *,
        limit: int = 10,
        search: str | None = None,
        sort: str | None = None,
        team_id: int | str | None = None,
        resource_group_id: str | None = None,
    ) -> Page[GpuVm]:
        """One page of GPU VMs, with its ``meta`` (total, page, page_size, has_next_page...).

        Args:
            page: the page number, from 1.
            limit: VMs per page, 1 to 100.
            search: only VMs whose name contains this.
            sort: ``field:asc`` or ``field:desc`` (the server's default is ``createdAt:desc``).
            team_id: only this team's VMs (guide dialect filter).
            resource_group_id: only this resource group's VMs (reference dialect filter).
        """
        filters = self._list_filters(search, sort, team_id, resource_group_id)
        return await self._fetch_page(
            _validate.page_number(page), _validate.page_limit(limit), filters
        )

    @staticmethod
    def _list_filters(
        search: object, sort: object, team_id: object, resource_group_id: object
    ) -> dict[str, object]:
        return {
            "search": _validate.optional_text(search, "search"),
            "sort": _validate.sort_order(sort),
            "filter[teamId]": None if team_id is None else _validate.identifier(team_id, "team_id"),
            "resourceGroupId": _validate.optional_text(resource_group_id, "resource_group_id"),
        }

    async def _fetch_page(self, number: int, limit: int, filters: dict[str, object]) -> Page[GpuVm]:
        params = _wire.query_params({"page": number, "limit": limit, **filters})
        response = await self._transport.request("GET", BASE, params=params)
        return _convert.structure_vm_page(response.data, response.meta)

    async def get(self, vm_id: str) -> GpuVm:
        """One GPU VM by id.

        Raises:
            NotFoundError: no such VM.
        """
        vm_id = _validate.text(vm_id, "vm_id")
        response = await self._transport.request("GET", f"{BASE}/{vm_id}")
        return _convert.structure_vm(response.data)

    async def create(
        self,
        *,
        name: str,
        datacenter_id: str,
        series_id: int | str,
        gpu_count: int,
        team_id: int | str | None = None,
        image_name: str | None = None,
        image_id: str | None = None,
        ssh_key_id: str | None = None,
        sku_code: str | None = None,
        resource_group_id: str | None = None,
        username: str | None = None,
    ) -> Job[GpuVm]:
        """Order a GPU VM; await the returned job for the ready ``GpuVm``.

        Only the fields given are sent. The order is never sent twice: if it may have reached
        the server but no answer came, ``OutcomeUnknownError`` names the VM so you can look
        for it before ordering again.

        Raises:
            ConflictError: the configuration was claimed meanwhile (409); check the inventory
                again, or use ``provision()``.
            OutcomeUnknownError: the order may or may not have been placed.
        """
        request = GpuCreateRequest(
            name=_validate.text(name, "name"),
            datacenter_id=_validate.text(datacenter_id, "datacenter_id"),
            series_id=_validate.identifier(series_id, "series_id"),
            gpu_count=_validate.gpu_count(gpu_count),
            team_id=_given(team_id, _validate.identifier, "team_id"),
            image_name=_given(image_name, _validate.text, "image_name"),
            image_id=_given(image_id, _validate.text, "image_id"),
            ssh_key_id=_given(ssh_key_id, _validate.text, "ssh_key_id"),
            sku_code=_given(sku_code, _validate.text, "sku_code"),
            resource_group_id=_given(resource_group_id, _validate.text, "resource_group_id"),
            username=_given(username, _validate.text, "username"),
        )
        response = await self._transport.request(
            "POST", BASE, json=_convert.unstructure_create(request)
        )
        return self._accepted_job(response, self._created_vm)

    async def _created_vm(self, status: JobStatus) -> GpuVm:
        if status.resource_id is None:
            raise ResponseDecodeError(
                f"create job {status.id} succeeded but named no resourceId to read the VM from"
            )
        return await self.get(status.resource_id)

    async def update(
        self,
        vm_id: str,
        *,
        name: str | None = None,
        team_id: int | str | None = None,
        resource_group_id: str | None = None,
        ssh_key_id: str | Unset | None = UNSET,
        username: str | None = None,
    ) -> GpuVm:
        """Change a GPU VM and return it as it is now.

        Only the fields given are sent; ``ssh_key_id=None`` clears the VM's SSH key. When the
        server's answer carries no VM, it is read again with one GET.

        Raises:
            InvalidRequestError: no field to change, or a bad value.
        """
        vm_id = _validate.text(vm_id, "vm_id")
        request = GpuUpdateRequest(
            name=_given(name, _validate.text, "name"),
            team_id=_given(team_id, _validate.identifier, "team_id"),
            resource_group_id=_given(resource_group_id, _validate.text, "resource_group_id"),
            ssh_key_id=(
                ssh_key_id
                if ssh_key_id is None or isinstance(ssh_key_id, Unset)
                else _validate.text(ssh_key_id, "ssh_key_id")
            ),
            username=_given(username, _validate.text, "username"),
        )
        body = _convert.unstructure_update(request)
        if not body:
            raise InvalidRequestError(
                "update() needs at least one field to change (name, team_id, "
                "resource_group_id, ssh_key_id or username)"
            )
        response = await self._transport.request("PUT", f"{BASE}/{vm_id}", json=body)
        if isinstance(response.data, dict) and response.data:
            return _convert.structure_vm(response.data)
        return await self.get(vm_id)

    async def delete(self, vm_id: str) -> Job[None]:
        """Delete a GPU VM; await the returned job to know it is gone."""
        vm_id = _validate.text(vm_id, "vm_id")
        response = await self._transport.request("DELETE", f"{BASE}/{vm_id}")
        return self._job_or_done(response)

    async def start(self, vm_id: str) -> Job[None]:
        """Start a stopped GPU VM.

        Raises:
            NotSupportedError: the provider cannot start this VM (501).
        """
        return await self._action(vm_id, "start")

    async def stop(self, vm_id: str) -> Job[None]:
        """Stop a running GPU VM.

        Raises:
            NotSupportedError: the provider cannot stop this VM (501).
        """
        return await self._action(vm_id, "stop")

    async def reset(self, vm_id: str) -> Job[None]:
        """Hard-reset a GPU VM.

        Raises:
            NotSupportedError: the provider cannot reset this VM (501).
        """
        return await self._action(vm_id, "reset")

    async def _action(self, vm_id: str, action: str) -> Job[None]:
        vm_id = _validate.text(vm_id, "vm_id")
        response = await self._transport.request("POST", f"{BASE}/{vm_id}/{action}")
        return self._job_or_done(response)

    async def ssh_key(self, vm_id: str) -> SshKey:
        """The VM's SSH private key. It is a secret: it never shows in ``repr``/``str``."""
        vm_id = _validate.text(vm_id, "vm_id")
        response = await self._transport.request("GET", f"{BASE}/{vm_id}/ssh-key")
        return _convert.structure_ssh_key(vm_id, response.data)

    def _accepted_job(
        self, response: Response, fetch: Callable[[JobStatus], Awaitable[T]]
    ) -> Job[T]:
        """The job of a 202 answer, polled by the client's poller."""
        status = _convert.structure_accepted_jobs(response.data)[0]
        return Job(
            status.id, poller=self._poller, fetch=fetch, status=status, timeout=self._policy.timeout
        )

    def _job_or_done(self, response: Response) -> Job[None]:
        """A 202's job, or an already finished job for a 200/204 answer."""
        if response.status == 202:
            return self._accepted_job(response, _nothing)
        return Job.finished(None)


def _vm_id(vm: GpuVm) -> str:
    return vm.id


async def _nothing(status: JobStatus) -> None:
    return None


def _given(value: object, check: Callable[[object, str], Any], name: str) -> Any:
    """A field the caller gave, checked; UNSET (left out of the body) when it is None."""
    return UNSET if value is None else check(value, name)
