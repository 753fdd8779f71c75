"""``gpcn.gpu``: GPU VMs and the GPU inventory."""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import Any, TypeVar

from gpcn_async import _convert, _validate, _wire
from gpcn_async._pagination import iterate_pages
from gpcn_async._poller import Poller
from gpcn_async._provision import provision
from gpcn_async._transport import Response, Transport
from gpcn_async.bulk import BulkResult, JobGroup, action_results, fan_out, job_group
from gpcn_async.errors import (
    InvalidRequestError,
    ResponseDecodeError,
)
from gpcn_async.jobs import Job, no_result
from gpcn_async.models import GpuVm, Inventory, JobStatus, Page, SshKey
from gpcn_async.models._bulk import BulkOutcome
from gpcn_async.models._requests import UNSET, GpuCreateRequest, GpuUpdateRequest, Unset
from gpcn_async.policies import PollPolicy

__all__ = ["GpuClient"]

BASE = "/resource/gpu"
DEFAULT_PAGE_SIZE = 10
"""VMs per page of ``list_page()`` when no size is given."""

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
        gpu_count: int | None = None,
        count: int | None = None,
    ) -> Inventory:
        """What can be ordered now: each GPU series and where, in which GPU counts.

        Use ``inventory.offers(...)`` to walk the available (series, datacenter, count) offers.

        Args:
            code: only this series code.
            datacenter_id: only this datacenter (a 404 if it is not available to you).
            gpu_count: only this GPU count (1, 2, 4 or 8).
            count: the old spelling of ``gpu_count``, kept working.

        Raises:
            InvalidRequestError: a bad value, or both ``gpu_count`` and ``count``.
        """
        name, value = _validate.spelling("gpu_count", gpu_count, "count", count)
        params = _wire.query_params(
            {
                "code": _validate.optional_text(code, "code"),
                "datacenterId": _validate.optional_text(datacenter_id, "datacenter_id"),
                "count": None if value is None else _validate.gpu_count(value, name),
            }
        )
        response = await self._transport.request("GET", f"{BASE}/inventory", params=params)
        return response.decode(_convert.structure_inventory)

    def list(
        self,
        search: str | None = None,
        *,
        sort: str | None = None,
        team_id: int | str | None = None,
        resource_group_id: str | None = None,
        page_size: int = 100,
    ) -> AsyncGenerator[GpuVm, None]:
        """Iterate over every GPU VM, fetching pages of ``page_size`` lazily as you go.

        ``async for vm in gpcn.gpu.list(search="train-"): ...``. A VM shifted onto the next
        page by one added meanwhile is not yielded twice. Arguments are checked here, before
        the first request.
        """
        filters = self._list_filters(search, sort, team_id, resource_group_id)
        limit = _validate.page_limit(page_size, "page_size")

        async def fetch(number: int) -> Page[GpuVm]:
            return await self._fetch_page(number, limit, filters)

        return iterate_pages(fetch, key=_vm_id)

    async def list_page(
        self,
        page: int = 1,
        *,
        page_size: int | None = None,
        limit: int | None = None,
        search: str | None = None,
        sort: str | None = None,
        team_id: int | str | None = None,
        resource_group_id: str | None = None,
    ) -> Page[GpuVm]:
        """One page of GPU VMs, with its ``meta`` (total, page, page_size, has_next_page...).

        Args:
            page: the page number, from 1.
            page_size: VMs per page, 1 to 100 (default 10).
            limit: the old spelling of ``page_size``, kept working.
            search: only VMs whose name contains this.
            sort: ``field:asc`` or ``field:desc`` (the server's default is ``createdAt:desc``).
            team_id: only this team's VMs (guide dialect filter).
            resource_group_id: only this resource group's VMs (reference dialect filter).

        Raises:
            InvalidRequestError: a bad value, or both ``page_size`` and ``limit``.
        """
        name, size = _validate.spelling("page_size", page_size, "limit", limit)
        filters = self._list_filters(search, sort, team_id, resource_group_id)
        return await self._fetch_page(
            _validate.page_number(page),
            _validate.page_limit(DEFAULT_PAGE_SIZE if size is None else size, name),
            filters,
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
        return response.decode(_convert.structure_vm_page, response.meta)

    async def get(self, vm_id: str) -> GpuVm:
        """One GPU VM by id.

        Raises:
            NotFoundError: no such VM.
        """
        vm_id = _validate.path_id(vm_id, "vm_id")
        response = await self._transport.request("GET", f"{BASE}/{vm_id}")
        return response.decode(_convert.structure_vm)

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

        In the reference dialect (the live API) an order also needs ``ssh_key_id``, the id of
        an entry of the account's SSH-key library, and takes the offer's ``sku_code``. The
        whole path: pick a key (or upload one), pick an offer, order:

        ```python
        keys = await gpcn.ssh_keys.list()
        key = keys[0] if keys else await gpcn.ssh_keys.create("laptop", public_key=pub)
        offer = next((await gpcn.gpu.inventory()).offers(gpu_count=1))
        job = await gpcn.gpu.create(
            name="train-01",
            datacenter_id=offer.datacenter_id,
            series_id=offer.series_id,
            gpu_count=offer.gpu_count,
            sku_code=offer.sku_code,
            ssh_key_id=key.id,
        )
        vm = await job  # the ready GpuVm
        ```

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
        status = response.decode(_convert.structure_accepted_jobs)[0]
        return self._job_of(status, self._created_vm, CREATE_JOB)

    async def _created_vm(self, status: JobStatus) -> GpuVm:
        """The result of a succeeded create job: its VM, read with one GET."""
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
        vm_id = _validate.path_id(vm_id, "vm_id")
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
            return response.decode(_convert.structure_vm)
        return await self.get(vm_id)

    async def delete(self, vm_id: str) -> Job[None]:
        """Delete a GPU VM; await the returned job to know it is gone.

        Never sent twice: if it may have reached the server but no answer came (a lost
        connection, a timeout, a 5xx), ``OutcomeUnknownError`` names the VM in ``.ids``.

        Raises:
            NotFoundError: no such VM.
            ConflictError: the VM is being deleted already.
            OutcomeUnknownError: the delete may or may not have been accepted.
        """
        vm_id = _validate.path_id(vm_id, "vm_id")
        response = await self._transport.request("DELETE", f"{BASE}/{vm_id}")
        return self._job_or_done(response, "delete", vm_id)

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

        Never sent twice (two requests would be two resets): if it may have reached the server
        but no answer came, ``OutcomeUnknownError`` names the VM in ``.ids``.

        Raises:
            NotSupportedError: the provider cannot reset this VM (501).
            OutcomeUnknownError: the reset may or may not have been done.
        """
        return await self._action(vm_id, "reset")

    async def _action(self, vm_id: str, action: str) -> Job[None]:
        vm_id = _validate.path_id(vm_id, "vm_id")
        path = f"{BASE}/{vm_id}/{action}"
        response = await self._transport.request("POST", path)
        return self._job_or_done(response, action, vm_id)

    async def ssh_key(self, vm_id: str) -> SshKey:
        """The VM's SSH private key. It is a secret: it never shows in ``repr``/``str``."""
        vm_id = _validate.path_id(vm_id, "vm_id")
        response = await self._transport.request("GET", f"{BASE}/{vm_id}/ssh-key")
        return response.decode(functools.partial(_convert.structure_ssh_key, vm_id))

    async def bulk_start(self, ids: Iterable[str]) -> BulkResult:
        """Start any number of VMs; one outcome per id, in input order.

        Ids are de-duplicated and sent in chunks of at most 50, concurrently. An id the server
        refuses fails with ``NotFoundError`` when the VM does not exist, else ``BulkItemError``;
        the ids of a chunk whose request failed outright (after retries) fail with that
        request's error. Other chunks are unaffected.

        Raises:
            InvalidRequestError: no ids, or an id that is not a non-empty string.
        """
        return await self._bulk_action("start", ids)

    async def bulk_stop(self, ids: Iterable[str]) -> BulkResult:
        """Stop any number of VMs; one outcome per id, in input order (see ``bulk_start``)."""
        return await self._bulk_action("stop", ids)

    async def bulk_reset(self, ids: Iterable[str]) -> BulkResult:
        """Reset any number of VMs; one outcome per id, in input order (see ``bulk_start``).

        A chunk is never sent twice: when it may have reached the server but no answer came,
        each of its ids fails with ``OutcomeUnknownError`` (other chunks are unaffected).
        """
        return await self._bulk_action("reset", ids)

    async def _bulk_action(self, action: str, ids: Iterable[str]) -> BulkResult:
        unique = _validate.unique_ids(ids, "ids")

        path = f"{BASE}/bulk/{action}"

        async def send(chunk: list[str]) -> list[BulkOutcome]:
            response = await self._transport.request("POST", path, json={"ids": chunk})
            return response.decode(_convert.structure_bulk_outcomes)

        return action_results(unique, await fan_out(unique, send), action)

    async def bulk_delete(self, ids: Iterable[str]) -> JobGroup:
        """Delete any number of VMs: a ``JobGroup`` with one job per id.

        ``await group`` waits for all (through the client's one poller: 200 deletions cost 4
        poll requests a round) and returns a ``BulkResult`` in input order. Ids are
        de-duplicated and sent in chunks of at most 50, concurrently. A chunk is never sent
        twice: when it may have reached the server but no answer came, each of its ids is in
        ``group.failed`` with ``OutcomeUnknownError``. Jobs are matched to ids by
        ``resourceId``, or by position when the answer holds one job per id; ids left without
        a job fail with ``ResponseDecodeError``.

        Raises:
            InvalidRequestError: no ids, or an id that is not a non-empty string.
        """
        unique = _validate.unique_ids(ids, "ids")

        async def send(chunk: list[str]) -> tuple[list[JobStatus], int]:
            response = await self._transport.request(
                "POST", f"{BASE}/bulk/delete", json={"ids": chunk}
            )
            return response.decode(_convert.structure_accepted_jobs), response.status

        def make_job(status: JobStatus, vm_id: str) -> Job[None]:
            return self._job_of(status, no_result, "gpu.delete", vm_id)

        return job_group(unique, await fan_out(unique, send), make_job)

    async def provision(
        self,
        *,
        name: str,
        code: str,
        gpu_count: int,
        datacenters: Iterable[str] | None = None,
        max_attempts: int = 5,
        **create_kwargs: Any,
    ) -> Job[GpuVm]:
        """Order a VM of a series on the first available offer, surviving 409 races.

        Reads the inventory, orders the first available offer (in ``datacenters`` preference
        order when given, else the inventory's order; the offer's SKU when it names one), and
        when that configuration was claimed meanwhile (409), reads the inventory again without
        the offers that failed and orders the next, up to ``max_attempts`` orders. Each order
        and each 409 is logged at INFO on the ``gpcn_async`` logger.

        In the reference dialect (the live API) an order needs an SSH key of the account's
        library. The whole path: pick a key (or upload one), then let ``provision`` pick the
        offer and order:

        ```python
        keys = await gpcn.ssh_keys.list()
        key = keys[0] if keys else await gpcn.ssh_keys.create("laptop", public_key=pub)
        job = await gpcn.gpu.provision(
            name="train-01", code="nvidia-h100", gpu_count=1, ssh_key_id=key.id
        )
        vm = await job  # the ready GpuVm
        ```

        Args:
            name: the VM's name.
            code: the GPU series code, such as ``"nvidia-h100"``.
            gpu_count: 1, 2, 4 or 8.
            datacenters: datacenter ids, most preferred first; others are not used.
            max_attempts: how many orders to try at most.
            **create_kwargs: more fields for ``create()`` (``image_name``, ``ssh_key_id``...).

        Returns:
            The ``Job`` of the accepted order: await it for the ready ``GpuVm``.

        Raises:
            NoCapacityError: nothing available (``.tried`` lists the offers that were claimed;
                the message counts them and the 409s met).
            OutcomeUnknownError: an order may have been placed; it was not sent again.
        """
        return await provision(
            name=name,
            code=code,
            gpu_count=gpu_count,
            datacenters=datacenters,
            max_attempts=max_attempts,
            create_kwargs=create_kwargs,
            read_inventory=self.inventory,
            order=self.create,
        )

    def _job_of(
        self,
        status: JobStatus,
        fetch: Callable[[JobStatus], Awaitable[T]],
        kind: str,
        vm_id: str | None = None,
    ) -> Job[T]:
        return Job(
            status.id,
            poller=self._poller,
            fetch=fetch,
            status=status,
            timeout=self._policy.timeout,
            kind=kind,
            resource_id=vm_id,
        )

    def _job_or_done(self, response: Response, action: str, vm_id: str) -> Job[None]:
        """A 202's job, or an already finished job for a 200/204 answer."""
        kind = f"gpu.{action}"
        if response.status == 202:
            status = response.decode(_convert.structure_accepted_jobs)[0]
            return self._job_of(status, no_result, kind, vm_id)
        return Job.finished(None, kind=kind, resource_id=vm_id)


CREATE_JOB = "gpu.create"
"""The kind of a create's job, in its resume token: its result is the created ``GpuVm``."""
ACTION_JOBS = ("gpu.delete", "gpu.start", "gpu.stop", "gpu.reset")
"""The kinds of jobs that act on one VM, in their resume tokens: their result is None."""


def _vm_id(vm: GpuVm) -> str:
    return vm.id


def _given(value: object, check: Callable[[object, str], Any], name: str) -> Any:
    """A field the caller gave, checked; UNSET (left out of the body) when it is None."""
    return UNSET if value is None else check(value, name)
