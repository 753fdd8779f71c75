"""Behaviour of the models themselves: offers, redaction, job states, immutability."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import attrs
import pytest

from gpcn_async import models
from gpcn_async.errors import InvalidRequestError
from gpcn_async.models import (
    Datacenter,
    DatacenterAvailability,
    GpuCountOffer,
    GpuSeries,
    GpuSpecs,
    GpuVm,
    Inventory,
    InventoryError,
    JobState,
    JobStatus,
    Page,
    PageMeta,
    RateLimitSnapshot,
    Sku,
    SshKey,
)
from gpcn_async.models._requests import UNSET, GpuCreateRequest, GpuUpdateRequest, Unset

EAST = Datacenter(id="dc-east", name="US East 1")
WEST = Datacenter(id="dc-west", name="US West 2", code="USW2")
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nTOP-SECRET-MATERIAL\n-----END OPENSSH PRIVATE KEY-----"


def _sku(code: str, vcpu: int | None, memory: int | None = 8, storage: int | None = 100) -> Sku:
    specs = GpuSpecs(vcpu=vcpu, memory_gib=memory, storage_gb=storage)
    return Sku(code=code, description=None, specs=specs)


def _inventory() -> Inventory:
    a100 = GpuSeries(
        id=3,
        name="NVIDIA A100",
        code="a100",
        availability=[
            DatacenterAvailability(
                datacenter=EAST,
                gpu_counts=[
                    GpuCountOffer(count=8, available=True),
                    GpuCountOffer(count=1, available=True),
                    GpuCountOffer(count=2, available=False),
                ],
            ),
            DatacenterAvailability(datacenter=WEST, gpu_counts=[GpuCountOffer(count=4)]),
        ],
    )
    h100 = GpuSeries(
        id="c4a1",
        name="NVIDIA H100",
        code="h100",
        description="H100 SXM",
        availability=[
            DatacenterAvailability(
                datacenter=WEST,
                gpu_counts=[
                    GpuCountOffer(
                        count=1,
                        skus=[
                            _sku("big", 32),
                            _sku("unknown", None),
                            _sku("small", 16),
                            _sku("small-less-ram", 16, memory=4),
                        ],
                    ),
                    GpuCountOffer(
                        count=2, skus=[Sku(code="no-specs"), _sku("mem-unknown", 8, None)]
                    ),
                ],
            )
        ],
    )
    return Inventory(series=[a100, h100], error=None)


def test_offers_come_in_series_then_datacenter_then_ascending_count_order() -> None:
    """offers() yields available counts only, by series, then datacenter, then count ascending."""
    got = [(o.series_code, o.datacenter_id, o.gpu_count) for o in _inventory().offers()]
    assert got == [
        ("a100", "dc-east", 1),
        ("a100", "dc-east", 8),
        ("a100", "dc-west", 4),
        ("h100", "dc-west", 1),
        ("h100", "dc-west", 2),
    ]


@pytest.mark.parametrize(
    ("code", "gpu_count", "expected"),
    [
        ("a100", None, [("a100", 1), ("a100", 8), ("a100", 4)]),
        ("h100", 2, [("h100", 2)]),
        (None, 1, [("a100", 1), ("h100", 1)]),
        ("A100", None, []),
        ("a100", 2, []),
        ("nope", None, []),
    ],
)
def test_offers_filter_by_series_code_and_gpu_count(
    code: str | None, gpu_count: int | None, expected: list[tuple[str, int]]
) -> None:
    """offers(code=, gpu_count=) keeps only offers of that exact series code and GPU count."""
    offers = _inventory().offers(code=code, gpu_count=gpu_count)
    got = [(o.series.code, o.gpu_count) for o in offers]
    assert got == expected


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"gpu_count": 3}, "gpu_count must be one of 1, 2, 4, 8, got 3"),
        ({"gpu_count": True}, "got True"),
        ({"gpu_count": "2"}, "got '2'"),
        ({"code": ""}, "code must be a non-empty string, got ''"),
    ],
)
def test_offers_reject_a_bad_filter_when_called(kwargs: dict[str, object], named: str) -> None:
    """offers() raises InvalidRequestError naming a bad filter at the call, not matching nothing."""
    with pytest.raises(InvalidRequestError) as caught:
        _inventory().offers(**kwargs)  # type: ignore[arg-type]
    assert named in str(caught.value)


def test_offer_sku_is_the_smallest_by_specs_with_unknown_specs_last() -> None:
    """An offer's SKU is the one with fewest vCPUs, then least memory; unknown specs rank last."""
    skus = {(o.series_code, o.gpu_count): o.sku_code for o in _inventory().offers(code="h100")}
    assert skus == {("h100", 1): "small-less-ram", ("h100", 2): "mem-unknown"}


def test_offer_without_skus_has_no_sku() -> None:
    """An offer of a count whose SKUs the server did not list has sku None and sku_code None."""
    offer = next(_inventory().offers(code="a100"))
    assert offer.sku is None
    assert offer.sku_code is None


def test_offer_properties_and_str() -> None:
    """Offer exposes the ids create() needs and reads as "<series> x<count> in <datacenter>"."""
    offer = next(_inventory().offers(code="a100", gpu_count=4))
    assert (offer.series_id, offer.datacenter_id, offer.series_code) == (3, "dc-west", "a100")
    assert str(offer) == "NVIDIA A100 x4 in US West 2"


def test_offer_repr_names_the_series_without_its_availability() -> None:
    """An offer's repr shows its series by code rather than the series' whole availability."""
    offer = next(_inventory().offers(code="a100"))
    assert "<GpuSeries 'a100'>" in repr(offer)
    assert "gpu_counts" not in repr(offer)


def test_inventory_with_error_and_no_availability_has_no_offers() -> None:
    """An inventory the provider could not fill keeps its error and offers nothing."""
    error = InventoryError(code="GPU_PROVIDER_UNAVAILABLE", message="down")
    inventory = Inventory(series=[GpuSeries(id=1, name="A", code="a")], error=error)
    assert list(inventory.offers()) == []
    assert inventory.error is not None
    assert inventory.error.code == "GPU_PROVIDER_UNAVAILABLE"


@pytest.mark.parametrize("render", [repr, str, lambda key: f"{key}", lambda key: f"{key!r}"])
def test_ssh_key_never_shows_the_private_key(render: Callable[[object], str]) -> None:
    """repr(), str() and f-strings of an SshKey redact the private key but show the VM id."""
    text = render(SshKey(vm_id="vm-1", private_key=KEY))
    assert "TOP-SECRET" not in text
    assert text == "SshKey(vm_id='vm-1', private_key=<redacted>)"


def test_ssh_key_still_holds_the_key() -> None:
    """Redaction only affects display: the private key itself is kept intact."""
    assert SshKey(vm_id="vm-1", private_key=KEY).private_key == KEY


def test_ssh_key_in_a_container_repr_stays_redacted() -> None:
    """A list or dict holding an SshKey does not leak the key through its own repr."""
    key = SshKey(vm_id="vm-1", private_key=KEY)
    assert "TOP-SECRET" not in repr([key]) + repr({"k": key})


@pytest.mark.parametrize(
    ("state", "terminal"),
    [
        (JobState.PENDING, False),
        (JobState.RUNNING, False),
        (JobState.SUCCEEDED, True),
        (JobState.FAILED, True),
        (JobState.CANCELLED, True),
    ],
)
def test_job_state_is_terminal(state: JobState, terminal: bool) -> None:
    """Only SUCCEEDED, FAILED and CANCELLED are terminal; JobStatus.done follows the state."""
    assert state.is_terminal is terminal
    assert JobStatus(id="j", state=state).done is terminal


def test_job_state_is_a_str_enum_with_lowercase_values() -> None:
    """JobState members compare equal to their lowercase names, as a StrEnum."""
    assert [str(state) for state in JobState] == [
        "pending",
        "running",
        "succeeded",
        "failed",
        "cancelled",
    ]
    assert JobState("running") is JobState.RUNNING


def test_gpu_vm_optional_fields_default_to_none() -> None:
    """A GpuVm needs only id, name and status; every other field defaults to None."""
    vm = GpuVm(id="vm", name="n", status="Stopped")
    optional = [a.name for a in attrs.fields(GpuVm)][3:]
    assert optional
    assert all(getattr(vm, name) is None for name in optional)
    assert vm.status == "Stopped"


@pytest.mark.parametrize(
    "instance",
    [
        GpuVm(id="vm", name="n", status="Running"),
        JobStatus(id="j", state=JobState.RUNNING),
        PageMeta(1, 1, 10, 1, has_next_page=False, has_previous_page=False),
        RateLimitSnapshot(limit=100, remaining=99, reset_at=datetime(2026, 1, 1, tzinfo=UTC)),
        EAST,
        SshKey(vm_id="vm", private_key=KEY),
    ],
)
def test_models_are_frozen(instance: attrs.AttrsInstance) -> None:
    """Models are immutable: assigning to a field raises FrozenInstanceError."""
    field = attrs.fields(type(instance))[0].name
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(instance, field, "changed")


def test_page_holds_items_and_meta() -> None:
    """A Page keeps its items in order along with its metadata."""
    meta = PageMeta(2, 1, 10, 1, has_next_page=False, has_previous_page=False)
    page = Page(items=["a", "b"], meta=meta)
    assert page.items == ["a", "b"]
    assert page.meta.total == 2


def test_models_all_is_sorted_complete_and_documented() -> None:
    """gpcn_async.models.__all__ is sorted, names real classes, and each has a docstring."""
    assert models.__all__ == sorted(models.__all__)
    assert "GpuCreateRequest" not in models.__all__
    for name in models.__all__:
        assert getattr(models, name).__doc__, name


def test_to_dict_is_json_ready_with_sdk_field_names() -> None:
    """to_dict() nests models, writes datetimes in ISO 8601 and enums as their values."""
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    vm = GpuVm(id="vm", name="train-01", status="Running", created_at=created, gpu_count=2)
    status = JobStatus(id="j", state=JobState.SUCCEEDED, progress=100)
    page = Page(
        items=[vm], meta=PageMeta(1, 1, 10, 1, has_next_page=False, has_previous_page=False)
    )
    document = {"vm": vm.to_dict(), "status": status.to_dict(), "page": page.to_dict()}
    assert json.loads(json.dumps(document)) == document
    assert document["vm"]["created_at"] == "2026-01-02T03:04:05+00:00"
    assert document["vm"]["gpu_count"] == 2
    assert document["status"]["state"] == "succeeded"
    assert type(document["status"]["state"]) is str
    assert document["page"]["items"] == [document["vm"]]
    assert document["page"]["meta"]["has_next_page"] is False
    series = _inventory().to_dict()["series"]
    datacenter = series[0]["availability"][0]["datacenter"]
    assert (datacenter["id"], datacenter["name"], datacenter["code"]) == (
        "dc-east",
        "US East 1",
        None,
    )


def test_to_dict_never_holds_a_secret() -> None:
    """An SshKey's to_dict() has its VM id and no private key."""
    key = SshKey(vm_id="vm", private_key=KEY)
    assert key.to_dict() == {"vm_id": "vm"}
    assert "TOP-SECRET" not in json.dumps(key.to_dict())


def test_every_model_has_to_dict() -> None:
    """Every public model class offers to_dict() (enums aside)."""
    for name in models.__all__:
        cls = getattr(models, name)
        if attrs.has(cls):
            assert callable(getattr(cls, "to_dict", None)), name


def test_request_optional_fields_default_to_unset() -> None:
    """Request fields the caller does not give are UNSET, which reprs as UNSET."""
    create = GpuCreateRequest(name="n", datacenter_id="dc", series_id=3, gpu_count=1)
    update = GpuUpdateRequest()
    assert create.team_id is UNSET
    assert all(getattr(update, a.name) is UNSET for a in attrs.fields(GpuUpdateRequest))
    assert repr(UNSET) == "UNSET"
    assert isinstance(UNSET, Unset)
