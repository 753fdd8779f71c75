"""Decoding of both wire dialects by gpcn_async._convert, table-driven over the wire samples."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from gpcn_async import _convert, _dialects, _shapes
from gpcn_async._convert import (
    structure_accepted_jobs,
    structure_inventory,
    structure_job,
    structure_jobs_response,
    structure_page_meta,
    structure_ssh_key,
    structure_vm,
    structure_vm_page,
    unstructure_create,
    unstructure_update,
)
from gpcn_async.errors import ResponseDecodeError
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
    Sku,
    SshKey,
)
from gpcn_async.models._requests import GpuCreateRequest, GpuUpdateRequest

SAMPLES = Path(__file__).parent / "wire_samples"

JOB_1 = "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b11"
JOB_2 = "1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a12"
VM_ID = "550e8400-e29b-41d4-a716-446655440000"
DC_ID = "7f3c2a10-5b1e-4c0e-9a51-0d2f6b1c8e01"
H100_ID = "c4a1e9b2-3d5f-4e8a-9b7c-1a2b3c4d5e03"
SSH_KEY_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c21"
FAKE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nFAKE-KEY-MATERIAL-FOR-TESTS-ONLY\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
GUIDE_T0 = datetime(2026, 2, 21, 10, 0, tzinfo=UTC)
GUIDE_T1 = datetime(2026, 2, 21, 10, 2, 30, tzinfo=UTC)
REF_T0 = datetime(2026, 5, 19, 14, 2, 2, 487000, tzinfo=UTC)
REF_ETA = datetime(2026, 5, 19, 14, 4, 2, tzinfo=UTC)


def load(name: str) -> Any:
    """The parsed JSON body of a wire sample, such as ``"guide/gpu-get.json"``."""
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


GUIDE_VM = GpuVm(
    id=VM_ID,
    name="ml-training-node",
    status="Running",
    ip="203.0.113.50",
    jupyter_url="https://203.0.113.50:8888",
    gpu_count=4,
    series_code="a100",
    series_name="NVIDIA A100",
    datacenter_id=DC_ID,
    datacenter_name="US East 1",
    team_id=5,
    created_at=GUIDE_T0,
    series_id=3,
)
REFERENCE_VM = GpuVm(
    id=VM_ID,
    name="ml-training-node",
    status="Provisioning",
    gpu_count=1,
    series_code="nvidia-h100-series",
    series_name="NVIDIA H100 Series",
    datacenter_id=DC_ID,
    datacenter_name="Kansas City 1",
    created_at=REF_T0,
    updated_at=REF_T0,
    sku_code="h100-sxm-80gb-1x",
    image="ubuntu-24.04-lts-server-cloudimg-amd64",
    username="ubuntu",
    ssh_key_id=SSH_KEY_ID,
)


def meta(total: int, page: int, size: int, pages: int, *, next_: bool, previous: bool) -> PageMeta:
    """A PageMeta, briefly."""
    return PageMeta(total, page, size, pages, has_next_page=next_, has_previous_page=previous)


def _guide_counts(*available: int) -> list[GpuCountOffer]:
    return [GpuCountOffer(count=n, available=n in available) for n in (1, 2, 4, 8)]


def _h100_count(count: int, vcpu: int, memory: int, storage: int) -> GpuCountOffer:
    specs = GpuSpecs(f"{count}x H100 SXM 80GB", vcpu, memory, storage)
    sku = Sku(code=f"h100-sxm-80gb-{count}x", description=f"{count}x H100 SXM", specs=specs)
    return GpuCountOffer(count=count, available=True, specs=specs, skus=[sku])


GUIDE_INVENTORY = Inventory(
    series=[
        GpuSeries(
            id=3,
            name="NVIDIA A100",
            code="a100",
            availability=[
                DatacenterAvailability(Datacenter(DC_ID, "US East 1"), _guide_counts(1, 2)),
                DatacenterAvailability(
                    Datacenter("2b9d7e44-8f20-4a6b-b3c1-5e7a9f0d2c02", "US West 2"),
                    _guide_counts(4),
                ),
            ],
        )
    ],
    error=None,
)
REFERENCE_INVENTORY = Inventory(
    series=[
        GpuSeries(
            id=H100_ID,
            name="NVIDIA H100 Series",
            code="nvidia-h100-series",
            description="H100 SXM 80 GB",
            availability=[
                DatacenterAvailability(
                    Datacenter(DC_ID, "Kansas City 1", code="KAN-1"),
                    [_h100_count(1, 26, 225, 2750), _h100_count(8, 208, 1800, 22000)],
                )
            ],
        )
    ],
    error=None,
)
OUTAGE_INVENTORY = Inventory(
    series=[
        GpuSeries(
            id=H100_ID,
            name="NVIDIA H100 Series",
            code="nvidia-h100-series",
            description="H100 SXM 80 GB",
        )
    ],
    error=InventoryError(
        code="GPU_PROVIDER_UNAVAILABLE",
        message="The GPU provider could not be reached; availability is unknown.",
    ),
)


def _reference_job(
    stage: str, state: JobState, *, operation: str = "create", **changes: Any
) -> JobStatus:
    fields: dict[str, Any] = {
        "id": JOB_1,
        "state": state,
        "progress": 0,
        "resource_id": VM_ID,
        "resource_type": "virtual_machine",
        "message": "Queued",
        "created_at": REF_T0,
        "updated_at": REF_T0,
        "estimated_completion": REF_ETA,
        "stage": stage,
        "operation": operation,
        "resource_name": "ml-training-01",
    }
    return JobStatus(**(fields | changes))


GUIDE_CREATE_REQUEST = GpuCreateRequest(
    name="ml-training-01", datacenter_id=DC_ID, series_id=3, gpu_count=2, team_id=5
)
REFERENCE_CREATE_REQUEST = GpuCreateRequest(
    name="ml-training-01",
    datacenter_id=DC_ID,
    series_id=H100_ID,
    gpu_count=1,
    ssh_key_id=SSH_KEY_ID,
    sku_code="h100-sxm-80gb-1x",
    image_name="ubuntu-24.04",
)

# Each sample the converter decodes: how to decode its body, and the value it must give.
DECODED: dict[str, tuple[Callable[[Any], object], object]] = {
    "guide/gpu-get.json": (lambda body: structure_vm(body["data"]), GUIDE_VM),
    "guide/gpu-list-page.json": (
        lambda body: structure_vm_page(body["data"], body["meta"]),
        Page(items=[GUIDE_VM], meta=meta(21, 3, 10, 3, next_=False, previous=True)),
    ),
    "guide/inventory.json": (lambda body: structure_inventory(body["data"]), GUIDE_INVENTORY),
    "guide/jobs-poll.json": (
        lambda body: structure_jobs_response(body["data"]),
        [
            JobStatus(
                id=JOB_1,
                state=JobState.SUCCEEDED,
                progress=100,
                resource_id=VM_ID,
                resource_type="gpu",
                created_at=GUIDE_T0,
                updated_at=GUIDE_T1,
                completed_at=GUIDE_T1,
                stage="completed",
            ),
            JobStatus(
                id=JOB_2,
                state=JobState.RUNNING,
                progress=45,
                resource_type="volume",
                created_at=datetime(2026, 2, 21, 10, 1, tzinfo=UTC),
                updated_at=GUIDE_T1,
                stage="in_progress",
            ),
        ],
    ),
    "guide/jobs-poll-failed.json": (
        lambda body: structure_jobs_response(body["data"]),
        [
            JobStatus(
                id=JOB_1,
                state=JobState.FAILED,
                progress=30,
                resource_type="gpu",
                error="Provider rejected the order: capacity exhausted",
                created_at=GUIDE_T0,
                updated_at=GUIDE_T0,
                stage="failed",
            )
        ],
    ),
    "guide/create-202.json": (
        lambda body: structure_accepted_jobs(body["data"]),
        [JobStatus(id=JOB_1, state=JobState.PENDING, stage="pending")],
    ),
    "guide/delete-202.json": (
        lambda body: structure_accepted_jobs(body["data"]),
        [JobStatus(id=JOB_1, state=JobState.PENDING)],
    ),
    "guide/bulk-delete.json": (
        lambda body: structure_accepted_jobs(body["data"]),
        [JobStatus(id=JOB_1, state=JobState.PENDING, stage="pending")],
    ),
    "guide/ssh-key.json": (
        lambda body: structure_ssh_key("vm-1", body["data"]),
        SshKey(vm_id="vm-1", private_key=FAKE_KEY),
    ),
    "reference/gpu-get.json": (lambda body: structure_vm(body["data"]), REFERENCE_VM),
    "reference/gpu-list-page.json": (
        lambda body: structure_vm_page(body["data"], body["meta"]),
        Page(items=[REFERENCE_VM], meta=meta(230, 1, 100, 3, next_=True, previous=False)),
    ),
    "reference/inventory.json": (
        lambda body: structure_inventory(body["data"]),
        REFERENCE_INVENTORY,
    ),
    "reference/inventory-provider-outage.json": (
        lambda body: structure_inventory(body["data"]),
        OUTAGE_INVENTORY,
    ),
    "reference/jobs-poll.json": (
        lambda body: structure_jobs_response(body["data"]),
        [
            _reference_job(
                "provisioning", JobState.RUNNING, progress=45, message="Allocating GPU host"
            ),
            _reference_job("completed", JobState.SUCCEEDED, id=JOB_2, progress=100, message="Done"),
        ],
    ),
    "reference/jobs-poll-failed.json": (
        lambda body: structure_jobs_response(body["data"]),
        [
            _reference_job(
                "failed",
                JobState.FAILED,
                error="Provider rejected the order: capacity exhausted",
            )
        ],
    ),
    "reference/jobs-poll-cancelled.json": (
        lambda body: structure_jobs_response(body["data"]),
        [
            _reference_job(
                "cancelled",
                JobState.CANCELLED,
                message="Cancelled by the platform",
                error="Cancelled by the platform",
            )
        ],
    ),
    "reference/jobs-poll-not-visible.json": (
        lambda body: structure_jobs_response(body["data"]),
        [],
    ),
    "reference/create-202.json": (
        lambda body: structure_accepted_jobs(body["data"]),
        [_reference_job("initializing", JobState.PENDING)],
    ),
    "reference/delete-202.json": (
        lambda body: structure_accepted_jobs(body["data"]),
        [
            _reference_job(
                "initializing", JobState.PENDING, operation="delete", message="Deletion queued"
            )
        ],
    ),
    "reference/bulk-delete.json": (
        lambda body: structure_accepted_jobs(body["data"]),
        [_reference_job("initializing", JobState.PENDING, operation="delete")],
    ),
}

# Request samples: the body the converter must produce for a request.
ENCODED: dict[str, GpuCreateRequest] = {
    "guide/create-request.json": GUIDE_CREATE_REQUEST,
    "reference/create-request.json": REFERENCE_CREATE_REQUEST,
}

# Samples another layer decodes (error envelopes: _wire; bulk results; poll request bodies).
NOT_DECODED_HERE = {
    "guide/bulk-stop.json",
    "guide/error-401.json",
    "guide/error-409.json",
    "guide/error-429.json",
    "guide/jobs-poll-request.json",
    "reference/bulk-stop.json",
    "reference/error-403.json",
    "reference/error-404-route.json",
    "reference/error-409.json",
    "reference/error-422.json",
    "reference/error-429.json",
}


def test_every_wire_sample_is_accounted_for() -> None:
    """Each sample of both dialects is either decoded by a test here or owned by another layer."""
    on_disk = {p.relative_to(SAMPLES).as_posix() for p in SAMPLES.glob("*/*.json")}
    assert {p.split("/")[0] for p in on_disk} == {"guide", "reference"}
    assert on_disk == set(DECODED) | set(ENCODED) | NOT_DECODED_HERE
    assert len(on_disk) == len(DECODED) + len(ENCODED) + len(NOT_DECODED_HERE)


@pytest.mark.parametrize("sample", sorted(DECODED))
def test_wire_sample_decodes_to_the_expected_model(sample: str) -> None:
    """Every wire sample of both dialects decodes to exactly the expected model values."""
    decode, expected = DECODED[sample]
    assert decode(load(sample)) == expected


@pytest.mark.parametrize("sample", sorted(ENCODED))
def test_create_request_encodes_to_the_wire_sample(sample: str) -> None:
    """A create request of either dialect encodes to exactly the sample's body."""
    assert unstructure_create(ENCODED[sample]) == load(sample)


# --------------------------------------------------------------------------------------------
# Job states: every row of the table, precedence, fallbacks.

JOB_STATE_CASES: list[tuple[dict[str, Any], JobState]] = [
    # reference flags, in the vendor client's order
    ({"hasFailed": True, "isCompleted": True, "stage": "completed"}, JobState.FAILED),
    ({"isCompleted": True, "stage": "failed"}, JobState.SUCCEEDED),
    ({"stage": "cancelled", "isTerminal": True}, JobState.CANCELLED),
    ({"stage": "provisioning", "isTerminal": True}, JobState.FAILED),
    ({"stage": "completed", "isTerminal": True, "isCompleted": False}, JobState.FAILED),
    # reference stage names
    ({"stage": "initializing"}, JobState.PENDING),
    ({"stage": "queued"}, JobState.PENDING),
    ({"stage": "pending"}, JobState.PENDING),
    ({"stage": "completed"}, JobState.SUCCEEDED),
    ({"stage": "failed"}, JobState.FAILED),
    ({"stage": "provisioning", "hasFailed": False, "isCompleted": False}, JobState.RUNNING),
    ({"stage": "Completed"}, JobState.SUCCEEDED),
    # guide status names
    ({"status": "pending"}, JobState.PENDING),
    ({"status": "in_progress"}, JobState.RUNNING),
    ({"status": "completed"}, JobState.SUCCEEDED),
    ({"status": "failed"}, JobState.FAILED),
    ({"status": "FAILED"}, JobState.FAILED),
    # unknown text means still running; no state at all means just accepted
    ({"status": "warming_up"}, JobState.RUNNING),
    ({"stage": "something-new"}, JobState.RUNNING),
    ({}, JobState.PENDING),
    # a flag must be a JSON true, not another truthy value
    ({"hasFailed": 1, "isCompleted": "true", "isTerminal": 1, "stage": "queued"}, JobState.PENDING),
]


@pytest.mark.parametrize(("fields", "state"), JOB_STATE_CASES)
def test_job_state_table(fields: dict[str, Any], state: JobState) -> None:
    """Both dialects' state fields map to the documented JobState, flags before stage names."""
    assert structure_job({"jobId": JOB_1, **fields}).state is state


def test_job_state_cases_cover_every_table_row() -> None:
    """Every (field, value) row of the converter's job-state table is exercised above."""
    covered = {(k, v) for fields, _ in JOB_STATE_CASES for k, v in fields.items()}
    missing = [(k, v) for k, v, _ in _dialects.JOB_STATES if (k, v) not in covered]
    assert not missing


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"stage": "failed", "errorMessage": "boom", "message": "m"}, "boom"),
        ({"stage": "failed", "message": "from message"}, "from message"),
        ({"stage": "cancelled", "message": "by platform"}, "by platform"),
        ({"hasFailed": True, "errorMessage": None, "message": "m"}, "m"),
        ({"status": "failed", "error": "guide error"}, "guide error"),
        ({"stage": "provisioning", "message": "Allocating"}, None),
        ({"status": "completed", "message": "Done"}, None),
    ],
)
def test_job_error_falls_back_to_message_only_when_failed_or_cancelled(
    fields: dict[str, Any], error: str | None
) -> None:
    """The error is errorMessage/error, else the message, only for FAILED or CANCELLED jobs."""
    assert structure_job({"jobId": JOB_1, **fields}).error == error


@pytest.mark.parametrize(
    ("fields", "job_id", "progress"),
    [
        ({"id": "g", "progress": 10}, "g", 10),
        ({"jobId": "r", "progressPercentage": 20}, "r", 20),
        ({"jobId": "r", "id": "other"}, "r", None),
        ({"jobId": "r", "progressPercentage": 33.6}, "r", 34),
        ({"jobId": "r", "progressPercentage": None, "progress": 5}, "r", 5),
    ],
)
def test_job_id_and_progress_come_from_either_dialect(
    fields: dict[str, Any], job_id: str, progress: int | None
) -> None:
    """A job's id comes from jobId (else id) and its progress, an int, from either name."""
    job = structure_job(fields)
    assert (job.id, job.progress) == (job_id, progress)
    assert job.progress is None or type(job.progress) is int


# --------------------------------------------------------------------------------------------
# 202 shapes.


@pytest.mark.parametrize(
    ("data", "ids"),
    [
        ({"jobId": "a", "status": "pending"}, ["a"]),
        ({"jobId": "a"}, ["a"]),
        ({"id": "a"}, ["a"]),
        ({"jobs": [{"jobId": "a", "stage": "initializing"}, {"jobId": "b"}]}, ["a", "b"]),
        ([{"jobId": "a"}, {"id": "b", "status": "pending"}], ["a", "b"]),
    ],
)
def test_accepted_jobs_shapes(data: Any, ids: list[str]) -> None:
    """Every documented 202 shape gives its jobs, in order, each PENDING when just accepted."""
    jobs = structure_accepted_jobs(data)
    assert [job.id for job in jobs] == ids
    assert {job.state for job in jobs} == {JobState.PENDING}


@pytest.mark.parametrize(
    "data",
    [None, {}, {"status": "pending"}, {"jobs": []}, [], {"jobs": None}, [{"status": "x"}], "j"],
)
def test_accepted_jobs_without_a_job_id_is_a_decode_error(data: Any) -> None:
    """A 202 body with no job id anywhere raises ResponseDecodeError."""
    with pytest.raises(ResponseDecodeError, match="202"):
        structure_accepted_jobs(data)


# --------------------------------------------------------------------------------------------
# Details of the VM, page and inventory mapping.


def test_vm_keeps_unknown_status_and_ignores_unknown_fields() -> None:
    """An unknown status text is kept as sent and unknown fields are ignored."""
    vm = structure_vm({"id": "v", "name": "n", "status": "Stopped", "brandNew": {"x": [1]}})
    assert vm == GpuVm(id="v", name="n", status="Stopped")


def test_vm_canonical_key_wins_over_the_other_dialects_key() -> None:
    """When both dialects' keys are present, the reference key (the canonical one) is used."""
    vm = structure_vm(
        {"id": "v", "name": "n", "status": "Running", "ip": "10.0.0.1", "publicIp": "10.0.0.2"}
    )
    assert vm.ip == "10.0.0.1"


def test_vm_null_nested_objects_leave_their_fields_empty() -> None:
    """A null series, configuration or datacenter object leaves the fields it would fill None."""
    body = {"id": "v", "name": "n", "status": "R", "series": None, "datacenter": None}
    vm = structure_vm(body | {"configuration": None})
    assert (vm.series_code, vm.datacenter_id, vm.gpu_count) == (None, None, None)


def test_decoding_does_not_mutate_the_body() -> None:
    """Normalising a dialect copies the body: the caller's dict is left exactly as it was."""
    body = load("reference/inventory.json")["data"]
    before = json.dumps(body, sort_keys=True)
    structure_inventory(body)
    structure_vm(load("guide/gpu-get.json")["data"])
    assert json.dumps(body, sort_keys=True) == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-02-21T10:00:00Z", datetime(2026, 2, 21, 10, tzinfo=UTC)),
        ("2026-05-19T14:02:02.487Z", datetime(2026, 5, 19, 14, 2, 2, 487000, tzinfo=UTC)),
        ("2026-02-21T10:00:00+02:00", datetime(2026, 2, 21, 8, tzinfo=UTC)),
        ("2026-02-21T10:00:00.5-05:30", datetime(2026, 2, 21, 15, 30, 0, 500000, tzinfo=UTC)),
        ("2026-02-21T10:00:00", datetime(2026, 2, 21, 10, tzinfo=UTC)),
    ],
)
def test_timestamps_are_timezone_aware(text: str, expected: datetime) -> None:
    """ISO 8601 timestamps, with or without ms and offset, decode aware; naive ones as UTC."""
    created = structure_vm({"id": "v", "name": "n", "status": "R", "createdAt": text}).created_at
    assert created is not None
    assert created.tzinfo is not None
    assert created == expected


def test_timestamp_offset_is_kept() -> None:
    """A timestamp's own UTC offset is kept, not converted."""
    job = structure_job({"jobId": "j", "createdAt": "2026-02-21T10:00:00+02:00"})
    assert job.created_at is not None
    assert job.created_at.utcoffset() == timedelta(hours=2)
    assert job.created_at.tzinfo == timezone(timedelta(hours=2))


def test_page_meta_maps_camel_case() -> None:
    """Pagination meta in camelCase decodes to PageMeta's snake_case fields."""
    meta = structure_page_meta(load("reference/gpu-list-page.json")["meta"])
    assert meta == PageMeta(
        total=230, page=1, page_size=100, total_pages=3, has_next_page=True, has_previous_page=False
    )


def test_guide_inventory_has_no_skus_and_reference_lists_them() -> None:
    """Guide offers carry no SKU; reference offers carry the SKU listed for their count."""
    guide = structure_inventory(load("guide/inventory.json")["data"])
    reference = structure_inventory(load("reference/inventory.json")["data"])
    assert [o.sku for o in guide.offers()] == [None, None, None]
    assert [o.sku_code for o in reference.offers()] == ["h100-sxm-80gb-1x", "h100-sxm-80gb-8x"]


def test_guide_inventory_offers() -> None:
    """The guide's map of counts gives offers only where "available" is true."""
    inventory = structure_inventory(load("guide/inventory.json")["data"])
    assert [str(offer) for offer in inventory.offers()] == [
        "NVIDIA A100 x1 in US East 1",
        "NVIDIA A100 x2 in US East 1",
        "NVIDIA A100 x4 in US West 2",
    ]


# --------------------------------------------------------------------------------------------
# Wrong shapes.

VM = {"id": "v", "name": "n", "status": "Running"}
SERIES = {"id": "s", "name": "S", "code": "s", "availability": []}


@pytest.mark.parametrize(
    ("decode", "data", "says"),
    [
        (structure_vm, None, "expected a GPU VM as an object, got null @ data"),
        (structure_vm, [VM], "got an array"),
        (structure_vm, {"id": "v", "name": "n"}, "required field missing @ data.status"),
        (structure_vm, VM | {"id": 5}, "expected a string, got a number @ data.id"),
        (structure_vm, VM | {"gpuCount": True}, "expected an integer, got a boolean"),
        (structure_vm, VM | {"gpuCount": 2.0}, "expected an integer, got a number"),
        (structure_vm, VM | {"teamId": True}, "expected an id"),
        (structure_vm, VM | {"series": {"id": False}}, "@ data.series_id"),
        (structure_vm, VM | {"series": "a100"}, "expected series to be an object"),
        (structure_vm, VM | {"configuration": [1]}, "expected configuration to be an object"),
        (structure_vm, VM | {"createdAt": "yesterday"}, "ISO 8601"),
        (structure_vm, VM | {"createdAt": 1700000000}, "ISO 8601"),
        (structure_vm, VM | {"ip": 127}, "@ data.ip"),
        (structure_page_meta, {"total": 1}, "required field missing @ meta.page"),
        (structure_page_meta, {"total": True}, "@ meta.total"),
        (structure_inventory, {}, "required field missing @ data.series"),
        (structure_inventory, "inventory", "expected an inventory as an object"),
        (structure_inventory, {"series": {}}, "expected an array, got an object"),
        (structure_inventory, [{"seriesId": 1}], "required field missing @ data[0].name"),
        (structure_inventory, {"series": [SERIES | {"availability": [{}]}]}, "datacenter"),
        (
            structure_inventory,
            [
                SERIES
                | {
                    "availability": [
                        {"datacenterId": "d", "datacenterName": "D", "gpuCounts": {"x": {}}}
                    ]
                }
            ],
            "keys of gpuCounts",
        ),
        (
            structure_inventory,
            [
                SERIES
                | {
                    "availability": [
                        {"datacenterId": "d", "datacenterName": "D", "gpuCounts": {"1": True}}
                    ]
                }
            ],
            "gpuCounts entry to be an object",
        ),
        (
            structure_inventory,
            {
                "series": [
                    SERIES
                    | {
                        "availability": [
                            {
                                "datacenterId": "d",
                                "datacenterName": "D",
                                "gpuCounts": [{"count": "1"}],
                            }
                        ]
                    }
                ]
            },
            "gpu_counts[0].count",
        ),
        (structure_inventory, {"series": [], "error": "down"}, "@ data.error"),
        (structure_job, {"status": "pending"}, "expected a job id (jobId or id)"),
        (structure_job, {"jobId": 7}, "@ data.id"),
        (structure_job, {"jobId": "j", "progress": True}, "expected a percentage"),
        (structure_job, {"jobId": "j", "progress": "45%"}, "expected a percentage"),
        (structure_job, {"jobId": "j", "stage": 3}, "@ data.stage"),
        (structure_job, {"jobId": "j", "error": {"code": "x"}}, "@ data.error"),
        (structure_jobs_response, None, "expected an object with jobs"),
        (structure_jobs_response, {}, "expected an array, got null @ data.jobs"),
        (structure_jobs_response, {"jobs": [{"jobId": "a"}, 3]}, "data.jobs[1]"),
    ],
)
def test_wrong_shapes_raise_response_decode_error(
    decode: Callable[[Any], object], data: Any, says: str
) -> None:
    """A body of the wrong shape raises ResponseDecodeError naming what was expected and where."""
    with pytest.raises(ResponseDecodeError) as caught:
        decode(data)
    assert says in caught.value.message


def test_vm_page_errors_name_the_item_and_the_meta() -> None:
    """A bad page names the bad item's index; bad meta is reported under meta."""
    with pytest.raises(ResponseDecodeError, match=r"data\[1\]\.status"):
        structure_vm_page([VM, {"id": "x", "name": "y"}], load("guide/gpu-list-page.json")["meta"])
    with pytest.raises(ResponseDecodeError, match=r"meta\.has_next_page"):
        structure_vm_page([VM], {"total": 1, "page": 1, "pageSize": 1, "totalPages": 1})
    with pytest.raises(ResponseDecodeError, match="expected an array"):
        structure_vm_page({"items": []}, None)


def test_decode_error_keeps_a_short_snippet_of_the_body() -> None:
    """A decode error carries the start of the offending body as its snippet, kept short."""
    with pytest.raises(ResponseDecodeError) as caught:
        structure_vm({"id": 1, "name": "n", "status": "s", "big": "x" * 10_000})
    assert caught.value.snippet.startswith("{")
    assert len(caught.value.snippet) <= 200


def test_many_problems_are_summarised() -> None:
    """A body with many problems lists the first few and counts the rest."""
    with pytest.raises(ResponseDecodeError, match=r"and \d+ more"):
        structure_jobs_response({"jobs": [1, 2, 3, 4, 5, 6, 7, 8]})


@pytest.mark.parametrize(
    "data",
    [
        {"privateKey": ["SECRET-KEY-MATERIAL"]},
        {"privateKey": {"pem": "SECRET-KEY-MATERIAL"}},
        {"privateKey": "", "note": "SECRET-KEY-MATERIAL"},
        {"key": "SECRET-KEY-MATERIAL"},
        "SECRET-KEY-MATERIAL",
        ["SECRET-KEY-MATERIAL"],
    ],
)
def test_ssh_key_errors_never_contain_the_key(data: Any) -> None:
    """A bad SSH-key body raises ResponseDecodeError whose text, snippet and cause omit the body."""
    with pytest.raises(ResponseDecodeError) as caught:
        structure_ssh_key("vm-1", data)
    error = caught.value
    assert "privateKey" in error.message or "private_key" in error.message
    assert "SECRET" not in f"{error} {error!r} {error.snippet}"
    assert error.__cause__ is None


# --------------------------------------------------------------------------------------------
# Request bodies.


def test_create_body_has_only_given_fields_in_camel_case() -> None:
    """A create body holds the required fields plus only the optional ones the caller gave."""
    body = unstructure_create(
        GpuCreateRequest(
            name="n",
            datacenter_id="dc",
            series_id="s",
            gpu_count=8,
            image_id="img",
            resource_group_id="rg",
            username="ubuntu",
        )
    )
    assert body == {
        "name": "n",
        "datacenterId": "dc",
        "seriesId": "s",
        "gpuCount": 8,
        "imageId": "img",
        "resourceGroupId": "rg",
        "username": "ubuntu",
    }


@pytest.mark.parametrize(
    ("request_", "body"),
    [
        (GpuUpdateRequest(), {}),
        (GpuUpdateRequest(name="new"), {"name": "new"}),
        (GpuUpdateRequest(ssh_key_id=None), {"sshKeyId": None}),
        (
            GpuUpdateRequest(team_id=5, resource_group_id="rg"),
            {"teamId": 5, "resourceGroupId": "rg"},
        ),
        (GpuUpdateRequest(ssh_key_id="k", username="u"), {"sshKeyId": "k", "username": "u"}),
    ],
)
def test_update_body_omits_unset_and_sends_null(request_: GpuUpdateRequest, body: object) -> None:
    """An update body omits UNSET fields and sends ssh_key_id=None as null (it clears the key)."""
    assert unstructure_update(request_) == body


def _raise_here(exc: Exception) -> None:
    raise exc


@pytest.mark.parametrize("error", [TypeError("bug"), KeyError("bug"), AttributeError("bug")])
def test_an_error_raised_outside_cattrs_is_a_bug_not_a_bad_body(error: Exception) -> None:
    """Our own TypeError/KeyError/AttributeError is not taken for a body of the wrong shape."""
    with pytest.raises(type(error)) as caught:
        _raise_here(error)
    assert not _shapes.is_shape_error(caught.value)


def test_a_wrong_shape_met_by_cattrs_is_a_bad_body() -> None:
    """A list where an object belongs, met by cattrs, is a shape error named as such."""
    with pytest.raises(ResponseDecodeError) as caught:
        _convert.structure_vm(["not", "an", "object"])
    assert "unexpected shape" in str(caught.value)
