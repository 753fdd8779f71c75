from __future__ import annotations

from typing import Any

import pytest

from gpcn_async.testing import FakeGPCN
from tests.fake.fake_support import DIALECTS, job_state, key_mismatches, running, sample


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_bulk_stop_reports_per_id_results_in_request_order(dialect: str) -> None:
    """Bulk stop stops known VMs, fails unknown ids with "GPU VM not found", keeps the order."""
    async with running(dialect=dialect) as (fake, wire):
        first, second = fake.add_vm(), fake.add_vm()
        answer = await wire.post("/resource/gpu/bulk/stop", {"ids": [second, "ghost", first]})
        statuses = [fake.vms[first].status, fake.vms[second].status]
    assert answer.status == 200
    assert key_mismatches(answer.body, sample(dialect, "bulk-stop")) == []
    assert answer.data["results"] == [
        {"id": second, "success": True, "error": None},
        {"id": "ghost", "success": False, "error": "GPU VM not found"},
        {"id": first, "success": True, "error": None},
    ]
    assert answer.data["summary"] == {"total": 3, "succeeded": 2, "failed": 1}
    assert statuses == ["Stopped", "Stopped"]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_fail_bulk_scripts_per_id_failures(dialect: str) -> None:
    """``fail_bulk`` fails an id with its message, for one action or for all of them."""
    async with running(dialect=dialect) as (fake, wire):
        always, only_start = fake.add_vm(status="Stopped"), fake.add_vm(status="Stopped")
        fake.fail_bulk(always, "host unreachable")
        fake.fail_bulk(only_start, "quota exceeded", action="start")
        start = await wire.post("/resource/gpu/bulk/start", {"ids": [always, only_start]})
        reset = await wire.post("/resource/gpu/bulk/reset", {"ids": [always, only_start]})
        assert fake.vms[always].status == "Stopped"
        assert fake.vms[only_start].status == "Running"
    assert [r["error"] for r in start.data["results"]] == ["host unreachable", "quota exceeded"]
    assert [r["success"] for r in reset.data["results"]] == [False, True]
    assert reset.data["summary"] == {"total": 2, "succeeded": 1, "failed": 1}


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_unsupported_bulk_action_is_501_for_the_whole_request(dialect: str) -> None:
    """An action set unsupported answers 501 for the bulk request as a whole."""
    async with running(dialect=dialect) as (fake, wire):
        fake.set_unsupported("reset")
        answer = await wire.post("/resource/gpu/bulk/reset", {"ids": [fake.add_vm()]})
    assert answer.status == 501


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("action", ["start", "delete"])
@pytest.mark.parametrize(
    "body",
    [{"ids": []}, {"ids": [f"vm{n}" for n in range(51)]}, {"ids": [""]}, {"ids": "vm1"}, []],
)
async def test_bulk_enforces_one_to_fifty_ids(dialect: str, action: str, body: Any) -> None:
    """Bulk requests need 1 to 50 non-empty string ids, else a validation error."""
    async with running(dialect=dialect) as (fake, wire):
        answer = await wire.post(f"/resource/gpu/bulk/{action}", body)
        assert fake.jobs == {}
    assert answer.status == (400 if dialect == "guide" else 422)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_bulk_delete_answers_one_job_per_id(dialect: str) -> None:
    """Bulk delete answers a job per id in order; unknown ids get a job that fails."""
    async with running(dialect=dialect, job_polls=1) as (fake, wire):
        vm_id = fake.add_vm()
        answer = await wire.post("/resource/gpu/bulk/delete", {"ids": [vm_id, "ghost"]})
        tickets = answer.data if dialect == "guide" else answer.data["jobs"]
        jobs = await wire.poll(*(ticket["jobId"] for ticket in tickets))
        assert fake.vms == {}
    assert answer.status == 202
    assert key_mismatches(answer.body, sample(dialect, "bulk-delete")) == []
    assert len(tickets) == 2
    if dialect == "reference":
        assert [ticket["resourceId"] for ticket in tickets] == [vm_id, "ghost"]
        assert jobs[1]["errorMessage"] == "GPU VM not found"
    else:
        assert all(ticket["status"] == "pending" for ticket in tickets)
        assert jobs[1]["error"] == "GPU VM not found"
    assert [job_state(job) for job in jobs] == ["completed", "failed"]


def test_fail_bulk_validates() -> None:
    """``fail_bulk`` rejects an unknown action and an empty message."""
    fake = FakeGPCN()
    with pytest.raises(ValueError, match="explode"):
        fake.fail_bulk("vm", "msg", action="explode")
    with pytest.raises(ValueError, match="message"):
        fake.fail_bulk("vm", "")
    with pytest.raises(ValueError, match="dance"):
        fake.set_unsupported("dance")
