from __future__ import annotations

from typing import Any

import pytest

from gpcn_async.testing import FakeGPCN
from tests.fake.fake_support import DIALECTS, key_mismatches, running, sample


def test_seeded_catalog_is_deterministic_across_instances() -> None:
    """Two fakes have the same series and datacenter ids, so tests may hard-code them."""
    first, second = FakeGPCN(), FakeGPCN(dialect="guide")
    assert first.series == second.series
    assert first.datacenters == second.datacenters
    assert [s.code for s in first.series] == ["nvidia-a100", "nvidia-h100", "nvidia-l40s"]
    assert [s.guide_id for s in first.series] == [1, 2, 3]
    assert [d.code for d in first.datacenters] == ["USE-1", "USW-2", "EUC-1"]
    assert first.datacenters[0].name == "US East 1"
    assert first.datacenters[0].region == "US East"


def test_seeded_availability_has_each_series_somewhere_and_gaps() -> None:
    """Every seeded series is orderable somewhere and some configurations are not."""
    fake = FakeGPCN()
    pairs = [(s.code, d.id) for s in fake.series for d in fake.datacenters]
    for spec in fake.series:
        assert any(
            fake.is_available(spec.code, dc.id, n) for dc in fake.datacenters for n in (1, 2, 4, 8)
        )
    flags = [fake.is_available(code, dc, n) for code, dc in pairs for n in (1, 2, 4, 8)]
    assert any(flags)
    assert not all(flags)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_inventory_has_the_sample_shape(dialect: str) -> None:
    """The inventory answer has the keys of the dialect's wire sample, for every series."""
    async with running(dialect=dialect) as (fake, wire):
        answer = await wire.get("/resource/gpu/inventory")
    assert answer.status == 200
    assert key_mismatches(answer.body, sample(dialect, "inventory")) == []
    series = answer.data if dialect == "guide" else answer.data["series"]
    assert len(series) == len(fake.series) == 3


async def test_guide_inventory_maps_every_count_to_a_flag() -> None:
    """The guide lists every datacenter per series with an ``available`` flag for 1, 2, 4 and 8."""
    async with running(dialect="guide") as (fake, wire):
        answer = await wire.get("/resource/gpu/inventory")
    a100 = answer.data[0]
    assert (a100["seriesId"], a100["seriesCode"]) == (1, "nvidia-a100")
    east = a100["availability"][0]
    assert east["datacenterId"] == fake.datacenters[0].id
    assert east["gpuCounts"] == {
        "1": {"available": True},
        "2": {"available": True},
        "4": {"available": False},
        "8": {"available": False},
    }


async def test_reference_inventory_lists_only_available_counts_with_skus() -> None:
    """The reference lists only available counts, each with specs and at least one SKU."""
    async with running(dialect="reference") as (fake, wire):
        fake.clear_availability()
        east = fake.datacenters[0]
        fake.set_availability("nvidia-h100", east.id, 8)
        answer = await wire.get("/resource/gpu/inventory")
    by_code = {item["code"]: item for item in answer.data["series"]}
    assert by_code["nvidia-a100"]["availability"] == []
    (entry,) = by_code["nvidia-h100"]["availability"]
    assert (entry["datacenterId"], entry["datacenterCode"]) == (east.id, "USE-1")
    (count,) = entry["gpuCounts"]
    assert count["count"] == 8
    assert count["specs"]["vcpu"] == 208
    skus = [sku["skuCode"] for sku in count["availableSkus"]]
    assert skus[0] == "nvidia-h100-8x"
    assert len(skus) == 2


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_inventory_filters_by_code_datacenter_and_count(dialect: str) -> None:
    """``code``, ``datacenterId`` and ``count`` narrow the inventory to what was asked."""
    async with running(dialect=dialect) as (fake, wire):
        west = fake.datacenters[1]
        answer = await wire.get(
            "/resource/gpu/inventory", code="nvidia-a100", datacenterId=west.id, count="4"
        )
    assert answer.status == 200
    series: list[dict[str, Any]] = answer.data if dialect == "guide" else answer.data["series"]
    assert len(series) == 1
    (availability,) = series[0]["availability"]
    assert availability["datacenterId"] == west.id
    if dialect == "guide":
        assert availability["gpuCounts"] == {"4": {"available": True}}
    else:
        assert [c["count"] for c in availability["gpuCounts"]] == [4]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_inventory_rejects_unknown_datacenter_and_bad_count(dialect: str) -> None:
    """An unknown datacenter answers 404; a count outside 1, 2, 4, 8 is a validation error."""
    async with running(dialect=dialect) as (_fake, wire):
        unknown = await wire.get("/resource/gpu/inventory", datacenterId="nope")
        bad = await wire.get("/resource/gpu/inventory", count="3")
    assert unknown.status == 404
    if dialect == "guide":
        assert unknown.body["error"] == "NOT_FOUND"
        assert bad.status == 400
        assert bad.body["error"] == "VALIDATION_ERROR"
        assert set(bad.body) == {"success", "error", "message"}
    else:
        assert unknown.body["error"]["code"] == "Not Found"
        assert bad.status == 422
        assert key_mismatches(bad.body, sample("reference", "error-422")) == []
        assert bad.body["error"]["details"]["issues"][0]["path"] == "count"


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_provider_outage_in_inventory(dialect: str) -> None:
    """On an outage the reference keeps the catalog with empty availability; the guide is 503."""
    async with running(dialect=dialect) as (fake, wire):
        fake.provider_outage = True
        answer = await wire.get("/resource/gpu/inventory")
    if dialect == "guide":
        assert answer.status == 503
        assert answer.body["error"] == "GPU_PROVIDER_UNAVAILABLE"
    else:
        assert answer.status == 200
        assert key_mismatches(answer.body, sample("reference", "inventory-provider-outage")) == []
        assert all(item["availability"] == [] for item in answer.data["series"])
        assert answer.data["error"]["code"] == "GPU_PROVIDER_UNAVAILABLE"


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_added_series_and_datacenter_appear_in_inventory(dialect: str) -> None:
    """Added series and datacenters appear in inventory once ``set_availability`` allows them."""
    async with running(dialect=dialect, seed_catalog=False) as (fake, wire):
        spec = fake.add_series("nvidia-b200", "NVIDIA B200", description="B200 192 GB")
        dc = fake.add_datacenter("Kansas City 1")
        fake.set_availability(spec.code, dc.id, 2)
        answer = await wire.get("/resource/gpu/inventory")
    assert (spec.guide_id, dc.code, dc.region) == (1, "KC-1", "Kansas City")
    series = answer.data if dialect == "guide" else answer.data["series"]
    (item,) = series
    (availability,) = item["availability"]
    if dialect == "guide":
        assert item["seriesCode"] == "nvidia-b200"
        assert availability["gpuCounts"]["2"] == {"available": True}
    else:
        assert item["id"] == spec.id
        assert [c["count"] for c in availability["gpuCounts"]] == [2]


def test_catalog_methods_validate_their_arguments() -> None:
    """Duplicate or unknown catalog entries and bad counts raise ValueError naming them."""
    fake = FakeGPCN()
    dc = fake.datacenters[0].id
    with pytest.raises(ValueError, match="nvidia-a100"):
        fake.add_series("nvidia-a100", "again")
    with pytest.raises(ValueError, match="US East 1"):
        fake.add_datacenter("US East 1")
    with pytest.raises(ValueError, match="nvidia-x"):
        fake.set_availability("nvidia-x", dc, 1)
    with pytest.raises(ValueError, match="missing-dc"):
        fake.set_availability("nvidia-a100", "missing-dc", 1)
    with pytest.raises(ValueError, match="3"):
        fake.set_availability("nvidia-a100", dc, 3)
