from __future__ import annotations

from typing import Any

import pytest

from tests.fake.fake_support import DIALECTS, job_id_of, key_mismatches, running, sample


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_create_answers_202_with_the_dialect_job_shape(dialect: str) -> None:
    """A valid create answers 202 shaped like the sample and records a Provisioning VM."""
    async with running(dialect=dialect) as (fake, wire):
        answer = await wire.create(name="ml-training-01", gpuCount=2, teamId=5)
        (vm,) = fake.vms.values()
        job = fake.jobs[job_id_of(answer)]
        got = await wire.get(f"/resource/gpu/{vm.id}")
        assert fake.created_vm_count == 1
    assert answer.status == 202
    assert key_mismatches(answer.body, sample(dialect, "create-202")) == []
    assert (vm.name, vm.status, vm.gpu_count, vm.team_id) == (
        "ml-training-01",
        "Provisioning",
        2,
        5,
    )
    assert (job.operation, job.resource_id) == ("create", vm.id)
    if dialect == "guide":
        assert answer.data["status"] == "pending"
        assert got.data["publicIp"] is None
    else:
        (ticket,) = answer.data["jobs"]
        assert (ticket["stage"], ticket["resourceId"]) == ("initializing", vm.id)
        assert got.data["ip"] is None


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_create_accepts_the_sample_requests(dialect: str) -> None:
    """The dialect's sample create body (ids swapped for the fake's) is accepted."""
    async with running(dialect=dialect) as (fake, wire):
        body = sample(dialect, "create-request")
        body["datacenterId"] = fake.datacenters[0].id
        body["seriesId"] = wire.series_id(1)  # nvidia-h100: 1 GPU available in US East 1
        body["gpuCount"] = 1
        body.pop("skuCode", None)
        answer = await wire.post("/resource/gpu", body)
    assert answer.status == 202, answer.text


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "series_key", [lambda s: s.guide_id, lambda s: str(s.guide_id), lambda s: s.id]
)
async def test_series_id_may_be_int_digits_or_uuid(dialect: str, series_key: Any) -> None:
    """``seriesId`` is accepted as the guide's int (or its digits) or the reference uuid."""
    async with running(dialect=dialect) as (fake, wire):
        answer = await wire.create(seriesId=series_key(fake.series[0]))
    assert answer.status == 202, answer.text


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"name": ""}, "name"),
        ({"name": 7}, "name"),
        ({"gpuCount": 3}, "gpuCount"),
        ({"gpuCount": True}, "gpuCount"),
        ({"datacenterId": "nowhere"}, "datacenterId"),
        ({"seriesId": 99}, "seriesId"),
        ({"sshKeyId": 5}, "sshKeyId"),
    ],
)
async def test_create_validation_errors(dialect: str, fields: dict[str, Any], path: str) -> None:
    """Bad create fields answer 400 VALIDATION_ERROR (guide) or 422 with issues (reference)."""
    async with running(dialect=dialect) as (fake, wire):
        answer = await wire.create(**fields)
        assert fake.vms == {}
        assert fake.created_vm_count == 0
    if dialect == "guide":
        assert answer.status == 400
        assert answer.body["error"] == "VALIDATION_ERROR"
        assert path in answer.body["message"]
    else:
        assert answer.status == 422
        assert key_mismatches(answer.body, sample("reference", "error-422")) == []
        assert [issue["path"] for issue in answer.body["error"]["details"]["issues"]] == [path]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_create_of_unavailable_configuration_is_409(dialect: str) -> None:
    """Ordering a configuration the inventory shows unavailable answers 409 Conflict."""
    async with running(dialect=dialect) as (fake, wire):
        answer = await wire.create(gpuCount=8)  # a100 x8 is not available in US East 1
        assert fake.vms == {}
    assert answer.status == 409
    assert key_mismatches(answer.body, sample(dialect, "error-409")) == []


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_race_next_create_conflicts_and_claims_the_configuration(dialect: str) -> None:
    """``race_next_create`` makes the next create 409 and leaves the configuration unavailable."""
    async with running(dialect=dialect) as (fake, wire):
        east = fake.datacenters[0].id
        fake.race_next_create()
        lost = await wire.create()
        assert not fake.is_available("nvidia-a100", east, 1)
        elsewhere = await wire.create(gpuCount=2)
        assert fake.created_vm_count == 1
    assert (lost.status, elsewhere.status) == (409, 202)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_create_during_provider_outage_is_503(dialect: str) -> None:
    """With ``provider_outage`` a create answers 503 GPU_PROVIDER_UNAVAILABLE and makes no VM."""
    async with running(dialect=dialect) as (fake, wire):
        fake.provider_outage = True
        answer = await wire.create()
        assert fake.vms == {}
    assert answer.status == 503
    code = answer.body["error"] if dialect == "guide" else answer.body["error"]["code"]
    assert code == "GPU_PROVIDER_UNAVAILABLE"


async def test_unknown_sku_is_400_and_known_sku_is_used() -> None:
    """A ``skuCode`` not offered for the configuration is 400; an offered one shows on the VM."""
    async with running(dialect="reference") as (fake, wire):
        east = fake.datacenters[0].id
        bad = await wire.create(skuCode="no-such-sku")
        fake.set_availability("nvidia-a100", east, 4)
        good = await wire.create(gpuCount=4, skuCode="nvidia-a100-4x-hs")
        (vm,) = fake.vms.values()
        shown = await wire.get(f"/resource/gpu/{vm.id}")
    assert bad.status == 400
    assert bad.body["error"]["code"] == "Bad Request"
    assert good.status == 202
    assert shown.data["configuration"]["skuCode"] == "nvidia-a100-4x-hs"


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_create_job_success_makes_the_vm_running(dialect: str) -> None:
    """When the create job succeeds the VM becomes Running and gets an address."""
    async with running(dialect=dialect, job_polls=2) as (fake, wire):
        job_id = job_id_of(await wire.create())
        await wire.poll(job_id)
        (job,) = await wire.poll(job_id)
        (vm,) = fake.vms.values()
        shown = await wire.get(f"/resource/gpu/{vm.id}")
    assert vm.status == "Running"
    assert job["resourceId"] == vm.id
    assert shown.data["publicIp" if dialect == "guide" else "ip"] is not None


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_create_job_failure_removes_the_vm(dialect: str) -> None:
    """A create job scripted to fail removes its VM; the count of creates stays."""
    async with running(dialect=dialect) as (fake, wire):
        fake.script_next_jobs(polls=1, outcome="failed", error="capacity exhausted")
        job_id = job_id_of(await wire.create())
        (job,) = await wire.poll(job_id)
        assert fake.vms == {}
        assert fake.created_vm_count == 1
    if dialect == "guide":
        assert (job["status"], job["error"]) == ("failed", "capacity exhausted")
    else:
        assert (job["stage"], job["errorMessage"]) == ("failed", "capacity exhausted")
