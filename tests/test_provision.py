"""provision(): order the first available offer, surviving 409 races, or say what was tried."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from gpcn_async import (
    Client,
    GpuVm,
    InvalidRequestError,
    Inventory,
    NoCapacityError,
    OutcomeUnknownError,
)
from gpcn_async._provision import rank_offers
from gpcn_async.testing import FakeGPCN

CREATE = ("POST", "/resource/gpu")


def only_available(fake: FakeGPCN, code: str, datacenter_ids: list[str], count: int = 1) -> None:
    """Make the series available in exactly these datacenters, for this GPU count."""
    fake.clear_availability()
    for datacenter_id in datacenter_ids:
        fake.set_availability(code, datacenter_id, count, available=True)


def created_in(fake: FakeGPCN) -> list[str]:
    """The datacenter of each create request, in order."""
    return [r.json["datacenterId"] for r in fake.requests_to(*CREATE)]


def provision_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The INFO messages provision() logged on the gpcn_async logger, in order."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "gpcn_async" and r.levelno == logging.INFO and r.msg.startswith("provision ")
    ]


async def test_provision_orders_the_first_available_offer(fake: FakeGPCN, gpcn: Client) -> None:
    """Without a race, provision() reads the inventory once and orders once."""
    code = fake.series[0].code
    only_available(fake, code, [fake.datacenters[1].id])
    vm = await (await gpcn.gpu.provision(name="train-01", code=code, gpu_count=1))
    assert isinstance(vm, GpuVm)
    assert (vm.name, vm.series_code, vm.datacenter_id) == ("train-01", code, fake.datacenters[1].id)
    assert fake.count("GET", "/resource/gpu/inventory") == 1
    assert created_in(fake) == [fake.datacenters[1].id]


async def test_provision_recovers_from_a_409_race(fake: FakeGPCN, gpcn: Client) -> None:
    """A 409 on the first choice re-reads the inventory and orders the next offer."""
    code = fake.series[0].code
    first, second = fake.datacenters[0].id, fake.datacenters[1].id
    only_available(fake, code, [first, second])
    fake.race_next_create()
    vm = await (await gpcn.gpu.provision(name="train-01", code=code, gpu_count=1))
    assert created_in(fake) == [first, second]
    assert fake.count("GET", "/resource/gpu/inventory") == 2
    assert vm.datacenter_id == second
    assert fake.created_vm_count == 1


async def test_provision_logs_each_order_and_each_409_in_order(
    fake: FakeGPCN, gpcn: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """Each order logs its offer and attempt at INFO, and each 409 says the inventory is re-read."""
    caplog.set_level(logging.INFO, logger="gpcn_async")
    code = fake.series[0].code
    first, second = fake.datacenters[0], fake.datacenters[1]
    only_available(fake, code, [first.id, second.id])
    fake.race_next_create()
    _ = await gpcn.gpu.provision(name="train-07", code=code, gpu_count=1, max_attempts=3)
    sku = fake.requests_to(*CREATE)[-1].json.get("skuCode") or "none"
    first_offer = f"{code} x1 in {first.name} (datacenter {first.id})"
    second_offer = f"{code} x1 in {second.name} (datacenter {second.id})"
    race = "409, attempt 1 of 3); re-checking the inventory for another offer"
    assert provision_lines(caplog) == [
        f"provision train-07: ordering {first_offer}, SKU {sku} (attempt 1 of 3)",
        f"provision train-07: {first_offer} was claimed meanwhile ({race}",
        f"provision train-07: ordering {second_offer}, SKU {sku} (attempt 2 of 3)",
    ]
    assert (sku == "none") == (fake.dialect == "guide")
    assert fake.api_key not in caplog.text
    assert fake.api_key.removeprefix("gpcn_") not in caplog.text


async def test_the_last_409_logs_that_no_attempt_is_left(
    fake: FakeGPCN, gpcn: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """When max_attempts runs out, the last 409 line says so and the error counts tries and 409s."""
    caplog.set_level(logging.INFO, logger="gpcn_async")
    code = fake.series[0].code
    only_available(fake, code, [dc.id for dc in fake.datacenters[:3]])
    fake.race_next_create(times=3)
    with pytest.raises(NoCapacityError) as caught:
        _ = await gpcn.gpu.provision(name="x", code=code, gpu_count=1, max_attempts=2)
    lines = provision_lines(caplog)
    assert [": ordering " in line for line in lines] == [True, False, True, False]
    assert lines[1].endswith("(409, attempt 1 of 2); re-checking the inventory for another offer")
    assert lines[3].endswith("(409, attempt 2 of 2); no attempts left")
    assert str(caught.value).startswith(
        f"no {code} x1 order was accepted in 2 attempts; 2 offers tried, "
        "2 claimed meanwhile (409) (tried: "
    )
    assert fake.api_key not in caplog.text + str(caught.value)


async def test_no_capacity_after_races_counts_offers_and_409s(fake: FakeGPCN, gpcn: Client) -> None:
    """When every offer was claimed under us, the NoCapacityError message counts both."""
    code = fake.series[0].code
    only_available(fake, code, [dc.id for dc in fake.datacenters[:2]])
    fake.race_next_create(times=2)
    with pytest.raises(NoCapacityError) as caught:
        _ = await gpcn.gpu.provision(name="x", code=code, gpu_count=1)
    assert caught.value.message == (
        f"no {code} x1 offer is available; 2 offers tried, 2 claimed meanwhile (409)"
    )
    assert len(caught.value.tried) == 2
    assert fake.count("GET", "/resource/gpu/inventory") == 3


async def test_provision_follows_datacenter_preference(fake: FakeGPCN, gpcn: Client) -> None:
    """datacenters= is a preference order, and datacenters not listed are never used."""
    code = fake.series[0].code
    a, b, c = (dc.id for dc in fake.datacenters[:3])
    only_available(fake, code, [a, b, c])
    fake.race_next_create()
    _ = await gpcn.gpu.provision(name="x", code=code, gpu_count=1, datacenters=[c, b])
    assert created_in(fake) == [c, b]


async def test_nothing_available_raises_no_capacity_without_ordering(
    fake: FakeGPCN, gpcn: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """With no offer at all, NoCapacityError is raised and nothing is ordered or logged as such."""
    fake.clear_availability()
    caplog.set_level(logging.INFO, logger="gpcn_async")
    with pytest.raises(NoCapacityError) as caught:
        _ = await gpcn.gpu.provision(name="x", code=fake.series[0].code, gpu_count=8)
    assert caught.value.tried == ()
    assert str(caught.value) == f"no {fake.series[0].code} x8 offer is available"
    assert fake.count(*CREATE) == 0
    assert provision_lines(caplog) == []


async def test_an_unknown_series_code_is_named_as_such(fake: FakeGPCN, gpcn: Client) -> None:
    """A code no series has raises NoCapacityError saying the code is unknown, ordering nothing."""
    with pytest.raises(NoCapacityError) as caught:
        _ = await gpcn.gpu.provision(name="x", code="nope-series", gpu_count=1)
    assert str(caught.value) == (
        "no GPU series has the code 'nope-series' (gpcn.gpu.inventory() lists the codes)"
    )
    assert fake.count(*CREATE) == 0


async def test_nothing_in_the_preferred_datacenters_names_them(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """With datacenters= and nothing available there, the error names those datacenters."""
    code = fake.series[0].code
    a, b, c = (dc.id for dc in fake.datacenters[:3])
    only_available(fake, code, [a])
    with pytest.raises(NoCapacityError, match=f"in datacenters {b}, {c}$"):
        _ = await gpcn.gpu.provision(name="x", code=code, gpu_count=1, datacenters=[b, c])
    assert fake.count(*CREATE) == 0


async def test_no_capacity_lists_what_was_claimed(fake: FakeGPCN, gpcn: Client) -> None:
    """When the last offer is claimed under us, NoCapacityError lists the offer tried."""
    code = fake.series[0].code
    only_available(fake, code, [fake.datacenters[0].id])
    fake.race_next_create()
    with pytest.raises(NoCapacityError) as caught:
        _ = await gpcn.gpu.provision(name="x", code=code, gpu_count=1)
    (tried,) = caught.value.tried
    assert fake.datacenters[0].name in tried
    assert "409" in tried
    assert fake.count(*CREATE) == 1


async def test_max_attempts_bounds_the_orders(fake: FakeGPCN, gpcn: Client) -> None:
    """provision() gives up after max_attempts orders, each on another offer."""
    code = fake.series[0].code
    only_available(fake, code, [dc.id for dc in fake.datacenters[:3]])
    fake.race_next_create(times=3)
    with pytest.raises(NoCapacityError) as caught:
        _ = await gpcn.gpu.provision(name="x", code=code, gpu_count=1, max_attempts=2)
    assert len(caught.value.tried) == 2
    assert len(set(created_in(fake))) == 2


async def test_an_unknown_outcome_is_never_ordered_again(fake: FakeGPCN, gpcn: Client) -> None:
    """A create that may have happened stops provision() with OutcomeUnknownError."""
    code = fake.series[0].code
    only_available(fake, code, [dc.id for dc in fake.datacenters[:2]])
    fake.inject(*CREATE, status=500, after_commit=True)
    with pytest.raises(OutcomeUnknownError) as caught:
        _ = await gpcn.gpu.provision(name="train-09", code=code, gpu_count=1)
    assert caught.value.vm_name == "train-09"
    assert fake.count(*CREATE) == 1


async def test_provision_passes_create_fields_and_the_offer_sku(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """Extra create fields are sent; the offer's SKU is ordered when the inventory names one."""
    code = fake.series[0].code
    only_available(fake, code, [fake.datacenters[0].id])
    _ = await gpcn.gpu.provision(name="x", code=code, gpu_count=1, image_name="ubuntu-24.04")
    (request,) = fake.requests_to(*CREATE)
    assert request.json["imageName"] == "ubuntu-24.04"
    if fake.dialect == "reference":
        assert request.json["skuCode"]
    else:
        assert "skuCode" not in request.json


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"gpu_count": 3}, "3"),
        ({"name": ""}, "name"),
        ({"code": ""}, "code"),
        ({"datacenters": []}, "datacenters"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"datacenter_id": "x"}, "datacenter_id"),
        ({"series_id": 1}, "series_id"),
    ],
)
async def test_bad_provision_arguments_send_nothing(
    fake: FakeGPCN, gpcn: Client, kwargs: dict[str, Any], named: str
) -> None:
    """Bad arguments raise InvalidRequestError naming the value, before any request."""
    arguments: dict[str, Any] = {"name": "x", "code": "nvidia-a100", "gpu_count": 1, **kwargs}
    with pytest.raises(InvalidRequestError, match=named):
        _ = await gpcn.gpu.provision(**arguments)
    assert fake.requests == []


def test_rank_offers_skips_claimed_offers_and_orders_by_preference() -> None:
    """The ranking drops claimed offers and sorts by the datacenters' preference order."""
    from gpcn_async import _convert  # noqa: PLC0415 -- pure unit test of the ranking alone

    data = [
        {
            "seriesId": 1,
            "seriesName": "A100",
            "seriesCode": "a100",
            "availability": [
                {"datacenterId": dc, "datacenterName": dc, "gpuCounts": {"1": {"available": True}}}
                for dc in ("dc-1", "dc-2", "dc-3")
            ],
        }
    ]
    inventory: Inventory = _convert.structure_inventory(data)
    every = rank_offers(inventory, "a100", 1, None, set())
    assert [o.datacenter.id for o in every] == ["dc-1", "dc-2", "dc-3"]
    ranked = rank_offers(inventory, "a100", 1, ["dc-3", "dc-1"], {(1, "dc-3", 1)})
    assert [o.datacenter.id for o in ranked] == ["dc-1"]
