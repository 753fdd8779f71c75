from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gpcn_async.testing import FakeGPCN
from tests.fake.fake_support import (
    DIALECTS,
    job_progress,
    job_state,
    key_mismatches,
    running,
    sample,
)

RUNNING = {"guide": "in_progress", "reference": "provisioning"}
RUNNING_STATES = {
    "guide": ["in_progress"] * 3,
    "reference": ["provisioning", "provisioning", "configuring"],
}
DONE = {"guide": "completed", "reference": "completed"}


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_job_finishes_on_the_scripted_poll_with_rising_progress(dialect: str) -> None:
    """A 4-poll job reports 25, 50, 75 % and completes with 100 % on the 4th poll."""
    async with running(dialect=dialect, job_polls=4) as (fake, wire):
        job_id = fake.add_job(resource_id=fake.add_vm())
        seen = [(await wire.poll(job_id))[0] for _ in range(4)]
        assert fake.poll_count(job_id) == 4
    assert [job_progress(job) for job in seen] == [25, 50, 75, 100]
    assert [job_state(job) for job in seen[:3]] == RUNNING_STATES[dialect]
    assert job_state(seen[3]) == DONE[dialect]
    expected = sample(dialect, "jobs-poll")["data"]["jobs"]
    assert key_mismatches(seen[0], expected[0]) == []
    # the terminal reference job carries isTerminal, the running ones do not
    if dialect == "reference":
        assert "isTerminal" not in seen[0]
        assert seen[3]["isTerminal"] is True
        assert (seen[3]["isCompleted"], seen[3]["hasFailed"]) == (True, False)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_job_object_has_the_sample_keys(dialect: str) -> None:
    """A polled job has the keys of the sample's job object (running, in both dialects)."""
    async with running(dialect=dialect, job_polls=3) as (fake, wire):
        job_id = fake.add_job()
        answer = await wire.post("/resource/jobs", {"jobIds": [job_id]})
    expected = sample(dialect, "jobs-poll")
    expected["data"]["jobs"] = expected["data"]["jobs"][1 if dialect == "guide" else 0 :]
    assert key_mismatches(answer.body, expected) == []


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_guide_resource_id_appears_only_on_completion(dialect: str) -> None:
    """The guide's ``resourceId`` is null until the job completes; the reference shows it early."""
    async with running(dialect=dialect, job_polls=2) as (fake, wire):
        vm_id = fake.add_vm()
        job_id = fake.add_job(operation="stop", resource_id=vm_id)
        running_job, done_job = (await wire.poll(job_id))[0], (await wire.poll(job_id))[0]
    assert done_job["resourceId"] == vm_id
    assert running_job["resourceId"] == (None if dialect == "guide" else vm_id)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_job_finishes_after_its_duration(dialect: str) -> None:
    """A duration-scripted job runs until its time is up, whatever the number of polls."""
    async with running(dialect=dialect, job_duration=0.15) as (fake, wire):
        vm_id = fake.add_vm(status="Provisioning")
        job_id = fake.add_job(resource_id=vm_id)
        (early,) = await wire.poll(job_id)
        await asyncio.sleep(0.17)
        assert fake.vms[vm_id].status == "Running"  # effects apply without a poll
        (late,) = await wire.poll(job_id)
    assert job_state(early) in {RUNNING[dialect], "pending", "initializing"}
    assert job_progress(early) < 100
    assert (job_state(late), job_progress(late)) == (DONE[dialect], 100)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_failed_job_keeps_its_progress_and_reports_the_error(dialect: str) -> None:
    """A job scripted to fail on poll 2 reports failed, its error, and the progress it had."""
    async with running(dialect=dialect) as (fake, wire):
        job_id = fake.add_job(polls=2, outcome="failed", error="capacity exhausted")
        await wire.poll(job_id)
        (job,) = await wire.poll(job_id)
    assert job_progress(job) == 50
    assert (
        key_mismatches(
            {"success": True, "data": {"jobs": [job]}},
            {
                "success": True,
                "data": {"jobs": sample(dialect, "jobs-poll-failed")["data"]["jobs"]},
            },
        )
        == []
    )
    if dialect == "guide":
        assert (job["status"], job["error"]) == ("failed", "capacity exhausted")
        assert job["completedAt"] is not None
    else:
        assert (job["stage"], job["hasFailed"], job["isTerminal"]) == ("failed", True, True)
        assert job["errorMessage"] == "capacity exhausted"


async def test_cancelled_reference_job_has_the_sample_shape() -> None:
    """A reference job scripted to be cancelled ends in stage cancelled with isTerminal."""
    async with running(dialect="reference") as (fake, wire):
        job_id = fake.add_job(polls=1, outcome="cancelled", error="Cancelled by the platform")
        answer = await wire.post("/resource/jobs", {"jobIds": [job_id]})
    (job,) = answer.data["jobs"]
    assert key_mismatches(answer.body, sample("reference", "jobs-poll-cancelled")) == []
    assert (job["stage"], job["isCompleted"], job["hasFailed"]) == ("cancelled", False, False)
    assert job["message"] == "Cancelled by the platform"


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_poll_answers_known_jobs_in_request_order(dialect: str) -> None:
    """Unknown ids are simply absent; the rest come back in request order, duplicates once."""
    async with running(dialect=dialect) as (fake, wire):
        first, second = fake.add_job(), fake.add_job()
        answer = await wire.post("/resource/jobs", {"jobIds": [second, "nope", first, second]})
        none = await wire.post("/resource/jobs", {"jobIds": ["nope"]})
        assert fake.poll_count(second) == 1
    key = "id" if dialect == "guide" else "jobId"
    assert [job[key] for job in answer.data["jobs"]] == [second, first]
    assert none.status == 200
    assert none.data == {"jobs": []}
    if dialect == "reference":
        assert none.body == sample("reference", "jobs-poll-not-visible")


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "body",
    [{"jobIds": []}, {"jobIds": [f"j{n}" for n in range(51)]}, {"jobIds": [1]}, {"ids": ["a"]}],
)
async def test_poll_enforces_one_to_fifty_string_ids(dialect: str, body: dict[str, Any]) -> None:
    """The poll endpoint rejects 0 or 51 ids, non-string ids and a missing ``jobIds``."""
    async with running(dialect=dialect) as (_fake, wire):
        answer = await wire.post("/resource/jobs", body)
        fifty = await wire.post("/resource/jobs", {"jobIds": [f"j{n}" for n in range(50)]})
    assert answer.status == (400 if dialect == "guide" else 422)
    assert fifty.status == 200


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_script_jobs_sets_what_future_jobs_do(dialect: str) -> None:
    """After ``script_jobs`` a job made by a request follows the new default script."""
    async with running(dialect=dialect, job_polls=3) as (fake, wire):
        fake.script_jobs(polls=1, outcome="failed", error="no capacity")
        answer = await wire.delete(f"/resource/gpu/{fake.add_vm()}")
        (job,) = await wire.poll(answer.data["jobId"])
        assert len(fake.vms) == 1  # the delete failed
    assert job_state(job) == "failed"


async def test_queued_scripts_are_taken_by_the_next_jobs_in_order() -> None:
    """``script_next_jobs`` scripts the next jobs made by requests; later ones use the default."""
    async with running(job_polls=1) as (fake, wire):
        fake.script_next_jobs(1, outcome="failed", error="boom")
        vm_ids = [fake.add_vm(), fake.add_vm()]
        answers = [await wire.delete(f"/resource/gpu/{vm_id}") for vm_id in vm_ids]
        jobs = await wire.poll(*(answer.data["jobId"] for answer in answers))
        assert list(fake.vms) == [vm_ids[0]]
    assert [job["stage"] for job in jobs] == ["failed", "completed"]
    assert jobs[0]["errorMessage"] == "boom"


async def test_script_job_changes_an_existing_job() -> None:
    """``script_job`` rescripts a running job; it refuses finished or unknown jobs."""
    async with running(job_polls=5) as (fake, wire):
        job_id = fake.add_job()
        fake.script_job(job_id, polls=1, outcome="failed", error="late failure")
        (job,) = await wire.poll(job_id)
        assert fake.jobs[job_id].state == "failed"
    assert job["errorMessage"] == "late failure"
    with pytest.raises(ValueError, match="already finished"):
        fake.script_job(job_id, polls=1)
    with pytest.raises(KeyError, match="nope"):
        fake.script_job("nope", polls=1)
    with pytest.raises(KeyError, match="nope"):
        fake.poll_count("nope")


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"polls": 0}, "polls"),
        ({"polls": 1, "duration": 1.0}, "not both"),
        ({"duration": -0.5}, "duration"),
        ({"outcome": "exploded"}, "exploded"),
        ({"error": "why"}, "succeed"),
    ],
)
def test_scripting_api_validates(kwargs: dict[str, Any], named: str) -> None:
    """Scripting calls reject bad polls, both timings, negative durations and odd outcomes."""
    fake = FakeGPCN()
    job_id = fake.add_job()
    for call in (fake.script_jobs, fake.script_next_jobs, fake.add_job):
        with pytest.raises(ValueError, match=named):
            call(**kwargs)
    with pytest.raises(ValueError, match=named):
        fake.script_job(job_id, **kwargs)
    with pytest.raises(ValueError, match="count"):
        fake.script_next_jobs(0)


def test_guide_dialect_cannot_cancel_jobs() -> None:
    """A cancelled outcome is impossible in the guide dialect, so scripting it raises."""
    fake = FakeGPCN(dialect="guide")
    with pytest.raises(ValueError, match="cancelled"):
        fake.script_jobs(outcome="cancelled")
    with pytest.raises(ValueError, match="cancelled"):
        fake.add_job(outcome="cancelled")
