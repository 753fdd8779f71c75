"""gpcn.gpu over real HTTP, in both dialects: every endpoint, pagination, validation."""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from gpcn_async import (
    Client,
    ConflictError,
    GpuVm,
    InvalidRequestError,
    Inventory,
    Job,
    NotFoundError,
    NotSupportedError,
    Offer,
    PermissionDeniedError,
)
from gpcn_async.testing import FakeGPCN


def first_offer(inventory: Inventory, gpu_count: int | None = None) -> Offer:
    """The first available offer of an inventory."""
    return next(inventory.offers(gpu_count=gpu_count))


async def test_inventory_lists_series_and_available_offers(fake: FakeGPCN, gpcn: Client) -> None:
    """The inventory holds the fake's series; offers() yields only available combinations."""
    inventory = await gpcn.gpu.inventory()
    assert {series.code for series in inventory.series} >= {s.code for s in fake.series}
    offers = list(inventory.offers())
    assert offers
    for offer in offers:
        assert fake.is_available(offer.series.code, offer.datacenter.id, offer.gpu_count)
        assert offer.gpu_count in (1, 2, 4, 8)
    assert inventory.error is None


async def test_inventory_filters_are_sent_and_applied(fake: FakeGPCN, gpcn: Client) -> None:
    """code, datacenter_id and count become query parameters and narrow the answer."""
    series, datacenter = fake.series[1], fake.datacenters[0]
    fake.set_availability(series.code, datacenter.id, 2, available=True)
    inventory = await gpcn.gpu.inventory(series.code, datacenter_id=datacenter.id, count=2)
    assert fake.requests[-1].query == {
        "code": series.code,
        "datacenterId": datacenter.id,
        "count": "2",
    }
    assert [s.code for s in inventory.series] == [series.code]
    offers = list(inventory.offers())
    assert [(o.datacenter.id, o.gpu_count) for o in offers] == [(datacenter.id, 2)]


async def test_inventory_offers_filter_by_code_and_count(gpcn: Client) -> None:
    """offers(code=, gpu_count=) keeps only matching offers."""
    inventory = await gpcn.gpu.inventory()
    some = first_offer(inventory)
    matching = list(inventory.offers(code=some.series.code, gpu_count=some.gpu_count))
    assert some in matching
    assert all(o.series.code == some.series.code for o in matching)
    assert all(o.gpu_count == some.gpu_count for o in matching)


async def test_reference_inventory_offers_carry_the_cheapest_sku() -> None:
    """In the reference dialect each offer names a SKU, the smallest first."""
    async with FakeGPCN(dialect="reference") as fake, fake.client() as gpcn:
        inventory = await gpcn.gpu.inventory()
    offers = list(inventory.offers())
    assert all(offer.sku is not None for offer in offers)


async def test_provider_outage_is_reported_on_the_inventory() -> None:
    """A provider outage (reference) gives the catalog with an error and no offers."""
    async with FakeGPCN(dialect="reference") as fake, fake.client() as gpcn:
        fake.provider_outage = True
        inventory = await gpcn.gpu.inventory()
    assert inventory.error is not None
    assert inventory.error.code == "GPU_PROVIDER_UNAVAILABLE"
    assert list(inventory.offers()) == []
    assert inventory.series


async def test_unknown_datacenter_in_inventory_is_not_found(gpcn: Client) -> None:
    """Asking the inventory of a datacenter that is not available raises NotFoundError."""
    with pytest.raises(NotFoundError):
        await gpcn.gpu.inventory(datacenter_id="no-such-datacenter")


async def test_get_reads_a_vm_in_the_dialect(fake: FakeGPCN, gpcn: Client) -> None:
    """get() decodes either dialect into the same GpuVm fields."""
    series, datacenter = fake.series[0], fake.datacenters[1]
    vm_id = fake.add_vm(
        name="train-01", series_code=series.code, gpu_count=4, datacenter_id=datacenter.id
    )
    vm = await gpcn.gpu.get(vm_id)
    assert isinstance(vm, GpuVm)
    assert (vm.id, vm.name, vm.status, vm.gpu_count) == (vm_id, "train-01", "Running", 4)
    assert (vm.series_code, vm.series_name) == (series.code, series.name)
    assert (vm.datacenter_id, vm.datacenter_name) == (datacenter.id, datacenter.name)
    assert vm.created_at is not None
    assert vm.created_at.tzinfo is not None


async def test_get_unknown_vm_is_not_found(gpcn: Client) -> None:
    """get() of an unknown id raises NotFoundError."""
    with pytest.raises(NotFoundError):
        await gpcn.gpu.get("00000000-0000-4000-8000-000000000000")


async def test_gpu_calls_are_forbidden_without_gpu_features(dialect: str) -> None:
    """An account without GPU features gets PermissionDeniedError from gpcn.gpu."""
    async with FakeGPCN(dialect=dialect, gpu_enabled=False) as fake, fake.client() as gpcn:
        with pytest.raises(PermissionDeniedError):
            await gpcn.gpu.inventory()


async def test_list_page_returns_items_and_documented_meta(fake: FakeGPCN, gpcn: Client) -> None:
    """list_page() returns one page and its meta (total, page, page size, neighbours)."""
    for number in range(21):
        fake.add_vm(name=f"vm-{number:02}")
    page = await gpcn.gpu.list_page(3, limit=10)
    assert len(page.items) == 1
    meta = page.meta
    assert (meta.total, meta.page, meta.page_size, meta.total_pages) == (21, 3, 10, 3)
    assert (meta.has_next_page, meta.has_previous_page) == (False, True)
    assert fake.requests[-1].query == {"page": "3", "limit": "10"}


async def test_old_spellings_send_the_same_requests_without_a_warning(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """inventory(count=) and list_page(limit=) work silently, as gpu_count= and page_size= do."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        await gpcn.gpu.inventory(gpu_count=2)
        await gpcn.gpu.inventory(count=2)
        await gpcn.gpu.list_page(page_size=5)
        await gpcn.gpu.list_page(limit=5)
        await gpcn.gpu.list_page()
    queries = [request.query for request in fake.requests]
    assert queries[0] == queries[1] == {"count": "2"}
    assert queries[2] == queries[3] == {"page": "1", "limit": "5"}
    assert queries[4] == {"page": "1", "limit": "10"}


async def test_list_page_sends_filters(fake: FakeGPCN, gpcn: Client) -> None:
    """search, sort and the team / resource group filters go out as documented."""
    fake.add_vm(name="train-a", team_id=5)
    fake.add_vm(name="infer-b", team_id=5)
    page = await gpcn.gpu.list_page(search="train", sort="name:asc", team_id=5)
    assert [vm.name for vm in page.items] == ["train-a"]
    assert fake.requests[-1].query == {
        "page": "1",
        "limit": "10",
        "search": "train",
        "sort": "name:asc",
        "filter[teamId]": "5",
    }


async def test_list_walks_230_vms_in_exactly_3_requests(fake: FakeGPCN, gpcn: Client) -> None:
    """list(page_size=100) over 230 VMs makes 3 list requests and yields 230 distinct VMs."""
    for number in range(230):
        fake.add_vm(name=f"vm-{number:03}")
    ids = [vm.id async for vm in gpcn.gpu.list(page_size=100)]
    assert len(ids) == 230
    assert len(set(ids)) == 230
    assert fake.count("GET", "/resource/gpu") == 3


async def test_list_is_lazy(fake: FakeGPCN, gpcn: Client) -> None:
    """list() fetches a page only when the caller reaches it."""
    for number in range(30):
        fake.add_vm(name=f"vm-{number:02}")
    vms = gpcn.gpu.list(page_size=10)
    assert fake.count("GET", "/resource/gpu") == 0
    first = await anext(vms)
    assert first.name
    assert fake.count("GET", "/resource/gpu") == 1
    await vms.aclose()


async def test_list_does_not_yield_a_vm_twice_when_vms_are_added_meanwhile(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """VMs added between page fetches shift pages, but no VM is yielded twice."""
    for number in range(25):
        fake.add_vm(name=f"old-{number:02}")
    seen: list[str] = []
    async for vm in gpcn.gpu.list(page_size=10):
        seen.append(vm.id)
        if len(seen) in (10, 20):  # between pages: newest first, so each add shifts the rest
            fake.add_vm(name=f"new-{len(seen)}")
            fake.add_vm(name=f"new-{len(seen)}-b")
    assert len(seen) == len(set(seen))
    assert len(seen) == 25  # every original VM seen exactly once; new ones sort before them


@pytest.mark.parametrize("answer_body", [True, False])
async def test_update_returns_the_vm_reading_it_again_only_without_a_body(
    fake: FakeGPCN, gpcn: Client, answer_body: bool
) -> None:
    """update() returns the VM from the answer, or re-reads it with one GET when there is none."""
    vm_id = fake.add_vm(name="old")
    fake.update_returns_body = answer_body
    vm = await gpcn.gpu.update(vm_id, name="new")
    assert vm.name == "new"
    assert fake.requests_to("PUT")[0].json == {"name": "new"}
    assert fake.count("GET", f"/resource/gpu/{vm_id}") == (0 if answer_body else 1)


async def test_update_sends_null_to_clear_the_ssh_key(fake: FakeGPCN, gpcn: Client) -> None:
    """ssh_key_id=None is sent as null; fields not given are not sent."""
    vm_id = fake.add_vm(name="a")
    await gpcn.gpu.update(vm_id, ssh_key_id=None)
    assert fake.requests_to("PUT")[0].json == {"sshKeyId": None}


async def test_create_returns_a_job_that_yields_the_ready_vm(fake: FakeGPCN, gpcn: Client) -> None:
    """create() sends only the given fields, and its job resolves to the running VM."""
    offer = first_offer(await gpcn.gpu.inventory())
    job = await gpcn.gpu.create(
        name="train-01",
        datacenter_id=offer.datacenter.id,
        series_id=offer.series.id,
        gpu_count=offer.gpu_count,
        image_name="ubuntu-24.04",
    )
    assert isinstance(job, Job)
    assert job.id in fake.jobs
    assert not job.done()
    vm = await job
    assert vm.name == "train-01"
    assert vm.status == "Running"
    assert job.done()
    assert fake.requests_to("POST", "/resource/gpu")[0].json == {
        "name": "train-01",
        "datacenterId": offer.datacenter.id,
        "seriesId": offer.series.id,
        "gpuCount": offer.gpu_count,
        "imageName": "ubuntu-24.04",
    }


async def test_create_of_a_claimed_configuration_is_a_conflict(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """A configuration claimed meanwhile answers 409: ConflictError, sent once."""
    offer = first_offer(await gpcn.gpu.inventory())
    fake.race_next_create()
    with pytest.raises(ConflictError):
        _ = await gpcn.gpu.create(
            name="x",
            datacenter_id=offer.datacenter.id,
            series_id=offer.series.id,
            gpu_count=offer.gpu_count,
        )
    assert fake.count("POST", "/resource/gpu") == 1


async def test_delete_returns_a_job_and_the_vm_goes(fake: FakeGPCN, gpcn: Client) -> None:
    """delete() answers with a job; once awaited (None), the VM is gone."""
    vm_id = fake.add_vm(name="a")
    job = await gpcn.gpu.delete(vm_id)
    assert job.id is not None
    assert vm_id in fake.vms
    await job
    assert job.done()
    assert vm_id not in fake.vms


async def test_delete_answered_204_is_already_done(fake: FakeGPCN, gpcn: Client) -> None:
    """A 204 to a delete gives a finished job, without polling."""
    vm_id = fake.add_vm(name="a")
    fake.delete_answers_204 = True
    job = await gpcn.gpu.delete(vm_id)
    assert job.done()
    assert job.id is None
    await job
    assert vm_id not in fake.vms
    assert fake.count("POST", "/resource/jobs") == 0


@pytest.mark.parametrize(("action", "after"), [("stop", "Stopped"), ("start", "Running")])
async def test_actions_answered_200_are_already_done(
    fake: FakeGPCN, gpcn: Client, action: str, after: str
) -> None:
    """start/stop answered 200 give a finished job and change the VM."""
    vm_id = fake.add_vm(name="a", status="Stopped" if action == "start" else "Running")
    job = await getattr(gpcn.gpu, action)(vm_id)
    assert job.done()
    await job
    assert fake.vms[vm_id].status == after


async def test_actions_answered_202_are_polled(fake: FakeGPCN, gpcn: Client) -> None:
    """A reset answered 202 gives a job that is polled to completion."""
    vm_id = fake.add_vm(name="a")
    fake.actions_answer_202 = True
    job = await gpcn.gpu.reset(vm_id)
    assert not job.done()
    await job
    assert job.done()
    assert fake.count("POST", "/resource/jobs") >= 1


async def test_unsupported_action_is_not_supported_error(fake: FakeGPCN, gpcn: Client) -> None:
    """A 501 on start raises NotSupportedError."""
    vm_id = fake.add_vm(name="a", status="Stopped")
    fake.set_unsupported("start")
    with pytest.raises(NotSupportedError):
        _ = await gpcn.gpu.start(vm_id)


async def test_ssh_key_is_returned_but_never_shown(fake: FakeGPCN, gpcn: Client) -> None:
    """ssh_key() returns the private key, which neither repr() nor str() shows."""
    vm_id = fake.add_vm(name="a")
    key = await gpcn.gpu.ssh_key(vm_id)
    assert key.vm_id == vm_id
    assert key.private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    body = key.private_key.splitlines()[1]
    assert body not in repr(key)
    assert body not in str(key)
    assert "redacted" in repr(key)


Call = Callable[[Client], Awaitable[Any]]

INVALID_CALLS: list[Any] = [
    pytest.param(lambda g: g.gpu.get(""), "''", id="get-empty-id"),
    pytest.param(lambda g: g.gpu.get(42), "42", id="get-int-id"),
    pytest.param(lambda g: g.gpu.delete(" "), "' '", id="delete-blank-id"),
    pytest.param(lambda g: g.gpu.stop(None), "None", id="stop-none"),
    pytest.param(lambda g: g.gpu.ssh_key(""), "''", id="ssh-key-empty"),
    pytest.param(lambda g: g.gpu.get("a/../b"), "'a/../b' (it holds '/')", id="get-slash"),
    pytest.param(lambda g: g.gpu.get("a?x=1"), "'a?x=1' (it holds '?')", id="get-query"),
    pytest.param(lambda g: g.gpu.delete("a#b"), "'a#b' (it holds '#')", id="delete-fragment"),
    pytest.param(lambda g: g.gpu.stop("a%2Fb"), "'a%2Fb' (it holds '%')", id="stop-escape"),
    pytest.param(lambda g: g.gpu.start("a\\b"), "(it holds '\\\\')", id="start-backslash"),
    pytest.param(lambda g: g.gpu.reset(".."), "'..'", id="reset-dotdot"),
    pytest.param(lambda g: g.gpu.ssh_key("."), "'.'", id="ssh-key-dot"),
    pytest.param(lambda g: g.gpu.update("a\nb", name="n"), "'a\\nb'", id="update-newline"),
    pytest.param(lambda g: g.gpu.get(" a"), "' a'", id="get-padded"),
    pytest.param(lambda g: g.gpu.inventory(count=3), "count must", id="inventory-count-3"),
    pytest.param(lambda g: g.gpu.inventory(gpu_count=3), "gpu_count must", id="inventory-gpus-3"),
    pytest.param(
        lambda g: g.gpu.inventory(gpu_count=2, count=2), "give only gpu_count", id="inventory-both"
    ),
    pytest.param(lambda g: g.gpu.inventory(code=""), "''", id="inventory-empty-code"),
    pytest.param(lambda g: g.gpu.list_page(limit=0), "0", id="limit-0"),
    pytest.param(lambda g: g.gpu.list_page(limit=101), "limit must", id="limit-101"),
    pytest.param(lambda g: g.gpu.list_page(page_size=0), "page_size must", id="page-size-0"),
    pytest.param(
        lambda g: g.gpu.list_page(page_size=5, limit=5), "give only page_size", id="page-size-both"
    ),
    pytest.param(lambda g: g.gpu.list_page(0), "0", id="page-0"),
    pytest.param(lambda g: g.gpu.list_page(sort="name"), "'name'", id="sort-without-order"),
    pytest.param(lambda g: g.gpu.update("x", name=""), "''", id="update-empty-name"),
    pytest.param(lambda g: g.gpu.update("x"), "at least one field", id="update-nothing"),
    pytest.param(
        lambda g: g.gpu.create(name="", datacenter_id="d", series_id=1, gpu_count=1),
        "''",
        id="create-empty-name",
    ),
    pytest.param(
        lambda g: g.gpu.create(name="a", datacenter_id="d", series_id=1, gpu_count=3),
        "3",
        id="create-gpu-count-3",
    ),
    pytest.param(
        lambda g: g.gpu.create(name="a", datacenter_id="d", series_id=True, gpu_count=1),
        "True",
        id="create-bool-series",
    ),
    pytest.param(
        lambda g: g.gpu.create(name="a", datacenter_id="", series_id=1, gpu_count=1),
        "''",
        id="create-empty-datacenter",
    ),
]


@pytest.mark.parametrize(("call", "named"), INVALID_CALLS)
async def test_invalid_arguments_raise_before_any_request(
    fake: FakeGPCN, gpcn: Client, call: Call, named: str
) -> None:
    """Bad arguments raise InvalidRequestError naming the value, and nothing is sent."""
    with pytest.raises(InvalidRequestError) as caught:
        await call(gpcn)
    assert named in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert fake.requests == []


@pytest.mark.parametrize("page_size", [0, 101, "10"])
async def test_list_checks_page_size_before_any_request(
    fake: FakeGPCN, gpcn: Client, page_size: Any
) -> None:
    """list() rejects a bad page_size when called, before iterating or sending."""
    with pytest.raises(InvalidRequestError, match=f"^page_size .* got {page_size!r}$"):
        gpcn.gpu.list(page_size=page_size)
    assert fake.requests == []
