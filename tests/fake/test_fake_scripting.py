"""The fake's scripting API: progress curves, finishing jobs, seeding, SKUs, log filters, faults."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gpcn_async.testing import FakeGPCN, JobRecord, JobScript, SkuSpec, gateway_page
from tests.fake.fake_support import DIALECTS, job_id_of, job_progress, job_state, running

CURVE_STATES = {
    "guide": ["pending", "in_progress", "in_progress", "in_progress", "completed"],
    "reference": ["initializing", "provisioning", "provisioning", "configuring", "completed"],
}


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_progress_curve_is_reported_one_value_per_poll(dialect: str) -> None:
    """A create job scripted with ``progress=[0, 10, 10, 70]`` reports them, then 100 on poll 5."""
    async with running(dialect=dialect) as (fake, wire):
        fake.script_next_jobs(progress=[0, 10, 10, 70])
        job_id = job_id_of(await wire.create())
        seen = [(await wire.poll(job_id))[0] for _ in range(5)]
        (vm,) = fake.vms.values()
    assert [job_progress(job) for job in seen] == [0, 10, 10, 70, 100]
    assert [job_state(job) for job in seen] == CURVE_STATES[dialect]
    assert vm.status == "Running"


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_failing_curve_keeps_its_last_value(dialect: str) -> None:
    """A job failing after the curve ``[30, 60]`` reports 30, 60, then failed at 60."""
    async with running(dialect=dialect) as (fake, wire):
        job_id = fake.add_job(progress=[30, 60], outcome="failed", error="disk full")
        seen = [(await wire.poll(job_id))[0] for _ in range(3)]
    assert [job_progress(job) for job in seen] == [30, 60, 60]
    assert job_state(seen[2]) == "failed"
    assert seen[2].get("error", seen[2].get("errorMessage")) == "disk full"


def test_progress_curve_with_a_duration_takes_equal_slices() -> None:
    """With a duration, each curve value holds for an equal slice of it, then success is 100."""
    wall = datetime(2026, 2, 21, tzinfo=UTC)
    script = JobScript(polls=None, duration=1.0, progress=(10, 50, 90))
    job = JobRecord("j", "create", None, None, script, created_at=wall, started=0.0)
    seen = []
    for now in (0.0, 0.3, 0.34, 0.7, 0.99, 1.0):
        job.advance(now=now, wall=wall, polled=False)
        seen.append((job.state, job.progress))
    assert seen == [
        ("running", 10),
        ("running", 10),
        ("running", 50),
        ("running", 90),
        ("running", 90),
        ("succeeded", 100),
    ]


@pytest.mark.parametrize("now", [-0.01, -0.5, -2.0, -100.0])
def test_a_clock_behind_a_duration_jobs_start_counts_as_its_start(now: float) -> None:
    """A duration job advanced at a time before it started shows its curve's first value."""
    wall = datetime(2026, 2, 21, tzinfo=UTC)
    script = JobScript(polls=None, duration=1.0, progress=(10, 50, 90))
    job = JobRecord("j", "create", None, None, script, created_at=wall, started=0.0)
    assert not job.advance(now=now, wall=wall, polled=False)
    assert (job.state, job.progress) == ("running", 10)


def test_failing_duration_curve_ends_at_its_last_value_even_unobserved() -> None:
    """A duration job that fails reports the curve's last value even if nobody saw it rise."""
    wall = datetime(2026, 2, 21, tzinfo=UTC)
    script = JobScript(polls=None, duration=0.5, progress=(20, 80), outcome="failed")
    job = JobRecord("j", "create", None, None, script, created_at=wall, started=0.0)
    assert job.advance(now=2.0, wall=wall, polled=False)
    assert (job.state, job.progress, job.error) == ("failed", 80, "Job failed")


def test_curve_sets_the_polls_and_falls_back_as_a_default() -> None:
    """A curve without a timing means len + 1 polls; a later timing alone drops the curve."""
    fake = FakeGPCN(job_polls=4)
    fake.script_jobs(progress=[20, 40])
    curved = fake.jobs[fake.add_job()].script
    timed = fake.jobs[fake.add_job(outcome="failed")].script
    fake.script_jobs(polls=2)
    linear = fake.jobs[fake.add_job()].script
    assert (curved.polls, curved.progress) == (3, (20, 40))
    assert (timed.polls, timed.progress, timed.outcome) == (3, (20, 40), "failed")
    assert (linear.polls, linear.progress) == (2, None)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"progress": []}, "progress"),
        ({"progress": "0,50"}, "progress"),
        ({"progress": [50, 101]}, "101"),
        ({"progress": [True]}, "progress"),
        ({"progress": [10, 60, 20]}, r"progress\[2\]=20"),
        ({"progress": [10, 20], "polls": 2}, "polls=3"),
        ({"error": ""}, "error"),
    ],
)
def test_progress_curves_are_validated(kwargs: dict[str, Any], named: str) -> None:
    """Every job-scripting call rejects a bad curve, or polls that do not fit it, naming it."""
    fake = FakeGPCN()
    job_id = fake.add_job()
    for call in (fake.script_jobs, fake.script_next_jobs, fake.add_job):
        with pytest.raises(ValueError, match=named):
            call(**kwargs)
    with pytest.raises(ValueError, match=named):
        fake.script_job(job_id, **kwargs)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_finish_job_ends_a_create_at_once(dialect: str) -> None:
    """``finish_job`` makes a long create succeed now: the VM runs, the next poll says done."""
    async with running(dialect=dialect, job_polls=50) as (fake, wire):
        job_id = job_id_of(await wire.create())
        (vm,) = fake.vms.values()
        assert vm.status == "Provisioning"
        fake.finish_job(job_id)
        assert vm.status == "Running"
        (job,) = await wire.poll(job_id)
    assert (job_state(job), job_progress(job)) == ("completed", 100)


async def test_finish_job_can_cancel_a_reference_job() -> None:
    """``finish_job(outcome="cancelled")`` cancels a create: the VM is gone, the stage says so."""
    async with running(dialect="reference", job_polls=50) as (fake, wire):
        job_id = job_id_of(await wire.create())
        (first,) = await wire.poll(job_id)
        fake.finish_job(job_id, outcome="cancelled", error="Cancelled by ops")
        (job,) = await wire.poll(job_id)
        assert fake.vms == {}
    assert (job["stage"], job["message"], job["isTerminal"]) == (
        "cancelled",
        "Cancelled by ops",
        True,
    )
    assert job["progressPercentage"] == first["progressPercentage"]


def test_finish_job_validates() -> None:
    """``finish_job`` refuses unknown or finished jobs and impossible outcomes, naming them."""
    guide = FakeGPCN(dialect="guide")
    job_id = guide.add_job()
    with pytest.raises(KeyError, match="nope"):
        guide.finish_job("nope")
    with pytest.raises(ValueError, match="cancelled"):
        guide.finish_job(job_id, outcome="cancelled")
    with pytest.raises(ValueError, match="why"):
        guide.finish_job(job_id, error="why")
    guide.finish_job(job_id, outcome="failed")
    assert guide.jobs[job_id].error == "Job failed"
    with pytest.raises(ValueError, match="already finished"):
        guide.finish_job(job_id)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_seed_vms_start_running_across_the_catalog(dialect: str) -> None:
    """``seed_vms=4`` starts with 4 running VMs, vm-0001 to vm-0004, over several series."""
    async with running(dialect=dialect, seed_vms=4) as (fake, wire):
        answer = await wire.get("/resource/gpu", sort="name:asc")
        series = {vm.series_code for vm in fake.vms.values()}
    assert answer.body["meta"]["total"] == 4
    assert [vm["name"] for vm in answer.data] == ["vm-0001", "vm-0002", "vm-0003", "vm-0004"]
    assert {vm["status"] for vm in answer.data} == {"Running"}
    assert len(series) == 3
    assert fake.created_vm_count == 0


async def test_custom_skus_replace_the_derived_ones() -> None:
    """``set_skus`` changes what the inventory offers and which ``skuCode`` a create accepts."""
    custom = SkuSpec("a100-1x-spot", "1x A100, spot", "1x A100 SXM 80GB", 12, 110, 500)
    async with running(dialect="reference") as (fake, wire):
        default_codes = [sku.code for sku in fake.skus("nvidia-a100", 1)]
        fake.set_skus("nvidia-a100", 1, [custom])
        inventory = await wire.get("/resource/gpu/inventory", code="nvidia-a100", count="1")
        old = await wire.create(skuCode="nvidia-a100-1x")
        new = await wire.create(skuCode="a100-1x-spot")
        (vm,) = fake.vms.values()
        shown = await wire.get(f"/resource/gpu/{vm.id}")
        fake.set_skus("nvidia-a100", 1, None)
        restored = [sku.code for sku in fake.skus("nvidia-a100", 1)]
    offered = inventory.data["series"][0]["availability"][0]["gpuCounts"][0]
    assert default_codes == restored == ["nvidia-a100-1x"]
    assert [sku["skuCode"] for sku in offered["availableSkus"]] == ["a100-1x-spot"]
    assert offered["specs"]["storageGB"] == 500
    assert (old.status, new.status) == (400, 202)
    assert shown.data["configuration"]["skuCode"] == "a100-1x-spot"
    assert shown.data["configuration"]["disk"] == 500


async def test_added_series_sizes_show_in_the_skus() -> None:
    """``add_series`` per-GPU sizes give the SKUs' vCPU, memory and disk."""
    async with running(dialect="reference") as (fake, _wire):
        fake.add_series("nvidia-b200", "NVIDIA B200", vcpu_per_gpu=30, memory_gib_per_gpu=250)
        (sku,) = fake.skus("nvidia-b200", 2)
    assert (sku.code, sku.vcpu, sku.memory_gib, sku.storage_gb) == ("nvidia-b200-2x", 60, 500, 2000)
    assert sku.gpu_description == "2x B200"


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda fake: fake.set_skus("nvidia-a100", 1, []), "at least one SKU"),
        (lambda fake: fake.set_skus("nvidia-a100", 1, ["a100"]), "'a100'"),
        (lambda fake: fake.set_skus("nvidia-a100", 1, [_sku("x"), _sku("x")]), "unique"),
        (lambda fake: fake.set_skus("nvidia-zz", 1, [_sku("x")]), "nvidia-zz"),
        (lambda fake: fake.skus("nvidia-a100", 3), "gpu_count"),
        (
            lambda fake: fake.set_availability(
                "nvidia-a100", fake.datacenters[0].id, gpu_count=True
            ),
            "True",
        ),
        (lambda fake: fake.set_availability(fake.series[0].id, fake.datacenters[0].id, 1), "known"),
        (lambda fake: fake.add_series("nvidia-b200", "B200", vcpu_per_gpu=0), "vcpu_per_gpu"),
        (lambda fake: fake.add_vm(status=""), "status"),
        (lambda fake: FakeGPCN(seed_vms=-1), "seed_vms"),
        (lambda fake: FakeGPCN(seed_vms=2, seed_catalog=False), "seed_catalog"),
    ],
)
def test_seeding_calls_validate(call: Any, named: str) -> None:
    """Impossible catalog, SKU and VM seeding raises ValueError naming the bad value."""
    with pytest.raises(ValueError, match=named):
        call(FakeGPCN())


def _sku(code: str) -> SkuSpec:
    return SkuSpec(code, "desc", "1x GPU", 8, 64, 100)


async def test_log_filters_by_status_and_counts() -> None:
    """``count`` and ``requests_to`` also filter by the status answered."""
    async with running() as (fake, wire):
        vm_id = fake.add_vm()
        fake.inject("GET", "/resource/gpu/*", status=503)
        for _ in range(3):
            await wire.get(f"/resource/gpu/{vm_id}")
        await wire.get("/resource/gpu/missing")
        assert fake.count("GET", "/resource/gpu/*") == 4
        assert fake.count("get", "/resource/gpu/*", status=200) == 2
        assert fake.count(status=503) == 1
        assert [r.path for r in fake.requests_to(status=404)] == ["/resource/gpu/missing"]


@pytest.mark.parametrize(
    ("method", "path", "status", "named"),
    [
        ("GETT", "*", None, "GETT"),
        ("GET", "/v1/resource/gpu", None, "use '/resource/gpu'"),
        ("GET", "resource/gpu", None, "relative to /v1"),
        ("GET", "*", 700, "status"),
    ],
)
def test_log_filters_validate(method: str, path: str, status: int | None, named: str) -> None:
    """A log filter with an unknown method, a path outside /v1's form or a bad status raises."""
    fake = FakeGPCN()
    with pytest.raises(ValueError, match=named):
        fake.count(method, path, status=status)


@pytest.mark.parametrize(
    ("method", "path", "headers", "named"),
    [
        ("FETCH", "/resource/gpu", None, "FETCH"),
        ("GET", "/v1/resource/gpu/*", None, "use '/resource/gpu/\\*'"),
        ("GET", "/resource/gpu", {"Retry-After": 5}, "headers"),
    ],
)
def test_inject_validates_method_path_and_headers(
    method: str, path: str, headers: Any, named: str
) -> None:
    """``inject`` rejects unknown methods, /v1-prefixed globs and non-string headers."""
    fake = FakeGPCN()
    with pytest.raises(ValueError, match=named):
        fake.inject(method, path, status=500, headers=headers)
    assert fake.faults == []


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_gateway_page_fault_sends_an_html_page(status: int) -> None:
    """A fault with ``gateway_page(status)`` answers an nginx-style HTML page as text/html."""
    async with running() as (fake, wire):
        fake.inject("*", "/resource/*", status=status, body=gateway_page(status))
        answer = await wire.get("/resource/gpu")
    assert answer.status == status
    assert answer.body is None  # not JSON
    assert answer.headers["Content-Type"].startswith("text/html")
    assert f"<h1>{status} " in answer.text


def test_gateway_page_rejects_non_error_statuses() -> None:
    """``gateway_page`` only makes error pages (400 to 599)."""
    with pytest.raises(ValueError, match="200"):
        gateway_page(200)


def test_rate_limit_settings_are_readable() -> None:
    """``rate_limit`` and ``rate_window`` report the constructor's and ``set_rate_limit``'s."""
    fake = FakeGPCN(rate_limit=5, rate_window=2)
    before = (fake.rate_limit, fake.rate_window)
    fake.set_rate_limit(7, 0.5)
    assert before == (5, 2.0)
    assert (fake.rate_limit, fake.rate_window) == (7, 0.5)


def test_a_misspelt_script_argument_is_refused() -> None:
    """A job script argument that does not exist (``poll=`` for ``polls=``) raises TypeError."""
    fake = FakeGPCN()
    with pytest.raises(TypeError, match="poll"):
        fake.script_next_jobs(poll=3)  # type: ignore[call-arg]
