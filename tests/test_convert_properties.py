"""Property tests of gpcn_async._convert: random valid payloads of both dialects, and fuzzing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
from gpcn_async.models._requests import UNSET, GpuCreateRequest, GpuUpdateRequest

FAST = settings(max_examples=60, deadline=None)

Pair = tuple[dict[str, Any], Any]
"""A wire payload and the model value it must decode to."""

uuids = st.uuids().map(str)
texts = st.text(max_size=12)
counts = st.integers(min_value=0, max_value=10_000)
int_or_str_ids = st.one_of(st.integers(min_value=0, max_value=2**53), uuids)
offsets = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5.5))])


@st.composite
def timestamps(draw: st.DrawFn) -> tuple[str, datetime]:
    """An ISO 8601 text (Z or offset, with or without ms) and the aware datetime it means."""
    naive = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
    with_ms = draw(st.booleans())
    moment = naive.replace(microsecond=naive.microsecond // 1000 * 1000 if with_ms else 0)
    moment = moment.replace(tzinfo=draw(offsets))
    text = moment.isoformat(timespec="milliseconds" if with_ms else "seconds")
    if moment.utcoffset() == timedelta(0) and draw(st.booleans()):
        text = text.replace("+00:00", "Z")
    return text, moment


def put(draw: st.DrawFn, body: dict[str, Any], key: str, values: st.SearchStrategy[Any]) -> Any:
    """Maybe put ``key`` in ``body`` (a value or null); return the value a decoder should see."""
    presence = draw(st.sampled_from(["absent", "null", "value"]))
    if presence == "absent":
        return None
    value = None if presence == "null" else draw(values)
    body[key] = value
    return value


def put_time(draw: st.DrawFn, body: dict[str, Any], key: str) -> datetime | None:
    """Maybe put a timestamp under ``key``; return the datetime a decoder should see."""
    pair = put(draw, body, key, timestamps())
    if pair is None:
        return None
    body[key] = pair[0]
    return pair[1]  # type: ignore[no-any-return]


@st.composite
def guide_vms(draw: st.DrawFn) -> Pair:
    """A guide-dialect GPU VM and its model."""
    body: dict[str, Any] = {"id": draw(uuids), "name": draw(texts), "status": draw(texts)}
    ip = put(draw, body, "publicIp", texts)
    jupyter_url = put(draw, body, "jupyterLabUrl", texts)
    series: dict[str, Any] = {}
    series_id = put(draw, series, "id", int_or_str_ids)
    series_name = put(draw, series, "name", texts)
    series_code = put(draw, series, "code", texts)
    keep_empty = draw(st.booleans())
    if series or keep_empty:
        body["series"] = series
    gpu_count = put(draw, body, "gpuCount", counts)
    datacenter: dict[str, Any] = {}
    datacenter_id = put(draw, datacenter, "id", uuids)
    datacenter_name = put(draw, datacenter, "name", texts)
    keep_empty = draw(st.booleans())
    if datacenter or keep_empty:
        body["datacenter"] = datacenter
    team_id = put(draw, body, "teamId", int_or_str_ids)
    created_at = put_time(draw, body, "createdAt")
    vm = GpuVm(
        id=body["id"],
        name=body["name"],
        status=body["status"],
        ip=ip,
        jupyter_url=jupyter_url,
        gpu_count=gpu_count,
        series_code=series_code,
        series_name=series_name,
        datacenter_id=datacenter_id,
        datacenter_name=datacenter_name,
        team_id=team_id,
        created_at=created_at,
        series_id=series_id,
    )
    return body, vm


@st.composite
def reference_vms(draw: st.DrawFn) -> Pair:
    """A reference-dialect GPU VM (with the fields the SDK ignores) and its model."""
    body: dict[str, Any] = {"id": draw(uuids), "name": draw(texts), "status": draw(texts)}
    ip = put(draw, body, "ip", texts)
    jupyter_url = put(draw, body, "jupyterUrl", texts)
    configuration: dict[str, Any] = {"cpu": 26, "ram": 225, "disk": 2750, "skuId": draw(uuids)}
    series_code = put(draw, configuration, "code", texts)
    series_name = put(draw, configuration, "name", texts)
    gpu_count = put(draw, configuration, "gpuCount", counts)
    sku_code = put(draw, configuration, "skuCode", texts)
    body["configuration"] = configuration
    datacenter: dict[str, Any] = {"region": "US Central", "countryAbbr": "US", "country": "USA"}
    datacenter_id = put(draw, datacenter, "id", uuids)
    datacenter_name = put(draw, datacenter, "name", texts)
    body["datacenter"] = datacenter
    image = put(draw, body, "image", texts)
    username = put(draw, body, "username", texts)
    ssh_key_id = put(draw, body, "sshKeyId", uuids)
    resource_group_id = put(draw, body, "resourceGroupId", uuids)
    body |= {"sshKeyName": "laptop", "resourceGroupName": None, "hasStoredCredentials": False}
    created_at = put_time(draw, body, "createdAt")
    updated_at = put_time(draw, body, "updatedAt")
    body["deletedAt"] = None
    vm = GpuVm(
        id=body["id"],
        name=body["name"],
        status=body["status"],
        ip=ip,
        jupyter_url=jupyter_url,
        gpu_count=gpu_count,
        series_code=series_code,
        series_name=series_name,
        datacenter_id=datacenter_id,
        datacenter_name=datacenter_name,
        resource_group_id=resource_group_id,
        created_at=created_at,
        updated_at=updated_at,
        sku_code=sku_code,
        image=image,
        username=username,
        ssh_key_id=ssh_key_id,
    )
    return body, vm


vms = st.one_of(guide_vms(), reference_vms())


@st.composite
def page_metas(draw: st.DrawFn) -> Pair:
    """Pagination meta in camelCase and its PageMeta."""
    meta = PageMeta(
        total=draw(counts),
        page=draw(counts),
        page_size=draw(counts),
        total_pages=draw(counts),
        has_next_page=draw(st.booleans()),
        has_previous_page=draw(st.booleans()),
    )
    body = {
        "total": meta.total,
        "page": meta.page,
        "pageSize": meta.page_size,
        "totalPages": meta.total_pages,
        "hasNextPage": meta.has_next_page,
        "hasPreviousPage": meta.has_previous_page,
    }
    return body, meta


@st.composite
def guide_inventories(draw: st.DrawFn) -> tuple[list[dict[str, Any]], Inventory]:
    """A guide inventory (the series array, counts as a map) and its model."""
    body: list[dict[str, Any]] = []
    series: list[GpuSeries] = []
    for _ in range(draw(st.integers(0, 3))):
        places: list[dict[str, Any]] = []
        availability: list[DatacenterAvailability] = []
        for _ in range(draw(st.integers(0, 3))):
            numbers = draw(st.lists(st.sampled_from([1, 2, 4, 8]), unique=True))
            flags = [draw(st.booleans()) for _ in numbers]
            place: dict[str, Any] = {
                "datacenterId": draw(uuids),
                "datacenterName": draw(texts),
                "gpuCounts": {
                    str(n): {"available": a} for n, a in zip(numbers, flags, strict=True)
                },
            }
            places.append(place)
            availability.append(
                DatacenterAvailability(
                    Datacenter(place["datacenterId"], place["datacenterName"]),
                    [GpuCountOffer(n, a) for n, a in zip(numbers, flags, strict=True)],
                )
            )
        item: dict[str, Any] = {
            "seriesId": draw(int_or_str_ids),
            "seriesName": draw(texts),
            "seriesCode": draw(texts),
            "availability": places,
        }
        body.append(item)
        series.append(
            GpuSeries(item["seriesId"], item["seriesName"], item["seriesCode"], None, availability)
        )
    return body, Inventory(series=series)


@st.composite
def specs(draw: st.DrawFn) -> Pair:
    """Reference GPU specs and their model."""
    body: dict[str, Any] = {}
    model = GpuSpecs(
        put(draw, body, "gpuDescription", texts),
        put(draw, body, "vcpu", counts),
        put(draw, body, "memoryGiB", counts),
        put(draw, body, "storageGB", counts),
    )
    return body, model


@st.composite
def reference_inventories(draw: st.DrawFn) -> tuple[dict[str, Any], Inventory]:
    """A reference inventory (series, counts listed with SKUs, maybe an error) and its model."""
    series_body: list[dict[str, Any]] = []
    series: list[GpuSeries] = []
    for _ in range(draw(st.integers(0, 2))):
        places: list[dict[str, Any]] = []
        availability: list[DatacenterAvailability] = []
        for _ in range(draw(st.integers(0, 2))):
            count_bodies: list[dict[str, Any]] = []
            offers: list[GpuCountOffer] = []
            for n in draw(st.lists(st.sampled_from([1, 2, 4, 8]), unique=True, max_size=3)):
                count_specs, count_specs_model = draw(specs())
                sku_bodies: list[dict[str, Any]] = []
                skus: list[Sku] = []
                for _ in range(draw(st.integers(0, 2))):
                    sku_specs, sku_specs_model = draw(specs())
                    sku_body: dict[str, Any] = {
                        "skuCode": draw(texts),
                        "description": draw(texts),
                        "specs": sku_specs,
                    }
                    sku_bodies.append(sku_body)
                    skus.append(Sku(sku_body["skuCode"], sku_body["description"], sku_specs_model))
                count_bodies.append({"count": n, "specs": count_specs, "availableSkus": sku_bodies})
                offers.append(GpuCountOffer(n, available=True, specs=count_specs_model, skus=skus))
            place: dict[str, Any] = {"datacenterId": draw(uuids), "datacenterName": draw(texts)}
            code = put(draw, place, "datacenterCode", texts)
            place["gpuCounts"] = count_bodies
            places.append(place)
            datacenter = Datacenter(place["datacenterId"], place["datacenterName"], code)
            availability.append(DatacenterAvailability(datacenter, offers))
        item: dict[str, Any] = {"id": draw(uuids), "name": draw(texts), "code": draw(texts)}
        description = put(draw, item, "description", texts)
        item["availability"] = places
        series_body.append(item)
        series.append(GpuSeries(item["id"], item["name"], item["code"], description, availability))
    body: dict[str, Any] = {"series": series_body}
    error = None
    if draw(st.booleans()):
        error = InventoryError(code=draw(texts), message=draw(texts))
        body["error"] = {"code": error.code, "message": error.message}
    return body, Inventory(series=series, error=error)


# --------------------------------------------------------------------------------------------
# Jobs, with an oracle written from gpcn-api.md independently of the converter's table.

GUIDE_STATUS = {
    "pending": JobState.PENDING,
    "in_progress": JobState.RUNNING,
    "completed": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
}
REFERENCE_STAGES = ["initializing", "queued", "pending", "provisioning", "completed", "failed"]


def reference_state(stage: str | None, flags: dict[str, bool]) -> JobState:
    """The documented reference rules: flags as the vendor's client applies them, then stage."""
    stage = stage.lower() if stage is not None else None
    rules = [
        (flags.get("hasFailed", False), JobState.FAILED),
        (flags.get("isCompleted", False), JobState.SUCCEEDED),
        (stage == "cancelled", JobState.CANCELLED),
        (flags.get("isTerminal", False), JobState.FAILED),
        (stage in {"initializing", "queued", "pending"}, JobState.PENDING),
        (stage == "completed", JobState.SUCCEEDED),
        (stage == "failed", JobState.FAILED),
        (stage is not None, JobState.RUNNING),
    ]
    return next((state for applies, state in rules if applies), JobState.PENDING)


def error_text(error: str | None, message: str | None, state: JobState) -> str | None:
    """The documented error: the server's error text, else the message of a failed job."""
    if error is not None:
        return error
    return message if state in {JobState.FAILED, JobState.CANCELLED} else None


@st.composite
def guide_jobs(draw: st.DrawFn) -> Pair:
    """A guide-dialect job object and its JobStatus."""
    body: dict[str, Any] = {"id": draw(uuids)}
    status = put(draw, body, "status", st.sampled_from(sorted(GUIDE_STATUS)) | texts)
    progress = put(draw, body, "progress", st.integers(0, 100))
    resource_type = put(draw, body, "resourceType", st.sampled_from(["vm", "volume", "gpu"]))
    resource_id = put(draw, body, "resourceId", uuids)
    error = put(draw, body, "error", texts)
    message = put(draw, body, "message", texts)
    times = [put_time(draw, body, key) for key in ("createdAt", "updatedAt", "completedAt")]
    if status is None:
        state = JobState.PENDING
    else:
        state = GUIDE_STATUS.get(status.lower(), JobState.RUNNING)
    job = JobStatus(
        id=body["id"],
        state=state,
        progress=progress,
        resource_id=resource_id,
        resource_type=resource_type,
        error=error_text(error, message, state),
        message=message,
        created_at=times[0],
        updated_at=times[1],
        completed_at=times[2],
        stage=status,
    )
    return body, job


@st.composite
def reference_jobs(draw: st.DrawFn) -> Pair:
    """A reference-dialect job object (stage plus flags) and its JobStatus."""
    body: dict[str, Any] = {"jobId": draw(uuids), "resourceDisplayName": "GPU VM"}
    stage = put(draw, body, "stage", st.sampled_from([*REFERENCE_STAGES, "cancelled"]) | texts)
    flags = {
        flag: draw(st.booleans())
        for flag in ("isCompleted", "hasFailed", "isTerminal")
        if draw(st.booleans())
    }
    body |= flags
    progress = put(draw, body, "progressPercentage", st.integers(0, 100))
    error = put(draw, body, "errorMessage", texts)
    message = put(draw, body, "message", texts)
    resource_id = put(draw, body, "resourceId", uuids)
    resource_type = put(draw, body, "resourceType", st.just("virtual_machine"))
    resource_name = put(draw, body, "resourceName", texts)
    operation = put(draw, body, "operation", st.sampled_from(["create", "delete"]))
    times = [put_time(draw, body, k) for k in ("createdAt", "updatedAt", "estimatedCompletion")]
    body |= {"timeRemaining": "2 minutes", "canRetry": draw(st.booleans())}
    state = reference_state(stage, flags)
    job = JobStatus(
        id=body["jobId"],
        state=state,
        progress=progress,
        resource_id=resource_id,
        resource_type=resource_type,
        error=error_text(error, message, state),
        message=message,
        created_at=times[0],
        updated_at=times[1],
        estimated_completion=times[2],
        stage=stage,
        operation=operation,
        resource_name=resource_name,
    )
    return body, job


jobs = st.one_of(guide_jobs(), reference_jobs())


# --------------------------------------------------------------------------------------------
# Valid payloads keep their values.


@FAST
@given(vms)
def test_valid_vms_of_both_dialects_keep_their_values(pair: Pair) -> None:
    """Any valid guide or reference GPU VM decodes to a GpuVm holding the payload's values."""
    body, vm = pair
    assert structure_vm(body) == vm


@FAST
@given(st.lists(vms, max_size=4), page_metas())
def test_valid_pages_keep_items_and_meta(items: list[Pair], meta: Pair) -> None:
    """A page of VMs of either dialect decodes to its items in order and its meta."""
    page = structure_vm_page([body for body, _ in items], meta[0])
    assert page == Page(items=[vm for _, vm in items], meta=meta[1])
    assert structure_page_meta(meta[0]) == meta[1]


@FAST
@given(st.one_of(guide_inventories(), reference_inventories()))
def test_valid_inventories_keep_their_values(pair: tuple[Any, Inventory]) -> None:
    """Any valid guide or reference inventory decodes to the Inventory holding its values."""
    body, inventory = pair
    decoded = structure_inventory(body)
    assert decoded == inventory
    expected = [
        (series.code, place.datacenter.id, offer.count)
        for series in inventory.series
        for place in series.availability
        for offer in sorted(place.gpu_counts, key=lambda offer: offer.count)
        if offer.available
    ]
    assert [(o.series.code, o.datacenter_id, o.gpu_count) for o in decoded.offers()] == expected


@FAST
@given(jobs)
def test_valid_jobs_of_both_dialects_keep_their_values(pair: Pair) -> None:
    """Any valid job object decodes to the documented state, error and values."""
    body, job = pair
    assert structure_job(body) == job


@FAST
@given(st.lists(jobs, max_size=4))
def test_job_lists_decode_in_order(pairs: list[Pair]) -> None:
    """A poll answer and a 202 answer's jobs array decode every job, in order."""
    bodies = [body for body, _ in pairs]
    expected = [job for _, job in pairs]
    assert structure_jobs_response({"jobs": bodies}) == expected
    if bodies:
        assert structure_accepted_jobs({"jobs": bodies}) == expected
        assert structure_accepted_jobs(bodies) == expected
        assert structure_accepted_jobs(bodies[0]) == expected[:1]


# --------------------------------------------------------------------------------------------
# Requests use exactly the documented wire names.

CREATE_NAMES = {
    "name": "name",
    "datacenter_id": "datacenterId",
    "series_id": "seriesId",
    "gpu_count": "gpuCount",
    "team_id": "teamId",
    "image_name": "imageName",
    "image_id": "imageId",
    "ssh_key_id": "sshKeyId",
    "sku_code": "skuCode",
    "resource_group_id": "resourceGroupId",
    "username": "username",
}
UPDATE_FIELDS = ["name", "team_id", "resource_group_id", "ssh_key_id", "username"]


@FAST
@given(
    st.fixed_dictionaries(
        {
            "name": texts,
            "datacenter_id": uuids,
            "series_id": int_or_str_ids,
            "gpu_count": st.sampled_from([1, 2, 4, 8]),
        },
        optional={
            "team_id": int_or_str_ids,
            "image_name": texts,
            "image_id": uuids,
            "ssh_key_id": uuids,
            "sku_code": texts,
            "resource_group_id": uuids,
            "username": texts,
        },
    )
)
def test_create_body_uses_documented_names_for_given_fields(fields: dict[str, Any]) -> None:
    """A create body has exactly the documented camelCase key of each given field and its value."""
    body = unstructure_create(GpuCreateRequest(**fields))
    assert body == {CREATE_NAMES[name]: value for name, value in fields.items()}


@FAST
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "name": texts,
            "team_id": int_or_str_ids,
            "resource_group_id": uuids,
            "ssh_key_id": st.none() | uuids,
            "username": texts,
        },
    )
)
def test_update_body_uses_documented_names_for_given_fields(fields: dict[str, Any]) -> None:
    """An update body has exactly the given fields under their documented names; None is null."""
    request = GpuUpdateRequest(**fields)
    body = unstructure_update(request)
    assert body == {CREATE_NAMES[name]: value for name, value in fields.items()}
    assert all(getattr(request, name) is UNSET for name in UPDATE_FIELDS if name not in fields)


# --------------------------------------------------------------------------------------------
# Any JSON value: a model or ResponseDecodeError, nothing else.

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

DECODERS: dict[str, tuple[Callable[[Any], object], type | tuple[type, ...]]] = {
    "vm": (structure_vm, GpuVm),
    "vm_page": (lambda data: structure_vm_page(data, data), Page),
    "page_meta": (structure_page_meta, PageMeta),
    "inventory": (structure_inventory, Inventory),
    "job": (structure_job, JobStatus),
    "jobs_response": (structure_jobs_response, list),
    "accepted_jobs": (structure_accepted_jobs, list),
    "ssh_key": (lambda data: structure_ssh_key("vm", data), SshKey),
}


def decodes_or_raises_decode_error(name: str, data: Any) -> None:
    """Assert that decoder ``name`` returns its model or raises ResponseDecodeError."""
    decode, result_type = DECODERS[name]
    try:
        result = decode(data)
    except ResponseDecodeError as error:
        result = error
    if isinstance(result, ResponseDecodeError):
        assert result.message.startswith("unexpected shape for ")
    else:
        assert isinstance(result, result_type)


@FAST
@given(st.sampled_from(sorted(DECODERS)), json_values)
def test_any_json_value_gives_a_model_or_a_decode_error(name: str, data: Any) -> None:
    """Every structure_* function fed arbitrary JSON returns its model or ResponseDecodeError."""
    decodes_or_raises_decode_error(name, data)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a JSON document."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of ``value`` with the part at ``path`` replaced by ``new``."""
    if not path:
        return new
    head, *rest = path
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = replaced(value[head], tuple(rest), new)
    return copy


@FAST
@given(
    st.one_of(
        vms.map(lambda pair: ("vm", pair[0])),
        jobs.map(lambda pair: ("job", pair[0])),
        guide_inventories().map(lambda pair: ("inventory", pair[0])),
        reference_inventories().map(lambda pair: ("inventory", pair[0])),
        page_metas().map(lambda pair: ("page_meta", pair[0])),
    ),
    st.data(),
)
def test_valid_payload_with_one_part_replaced_gives_a_model_or_a_decode_error(
    case: tuple[str, Any], data: st.DataObject
) -> None:
    """A valid payload with any one part swapped for arbitrary JSON decodes or raises cleanly."""
    name, body = case
    path = data.draw(st.sampled_from(paths(body)))
    decodes_or_raises_decode_error(name, replaced(body, path, data.draw(json_values)))


@FAST
@given(json_values)
def test_ssh_key_errors_never_show_the_body(extra: Any) -> None:
    """A bad SSH-key body raises an error whose text and snippet never include the body."""
    data = {"privateKey": ["KEYMATERIAL", extra], "note": "KEYMATERIAL"}
    with pytest.raises(ResponseDecodeError) as caught:
        structure_ssh_key("vm", data)
    error = caught.value
    assert "KEYMATERIAL" not in f"{error} {error!r} {error.snippet}"
