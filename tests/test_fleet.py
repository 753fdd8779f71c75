"""``Fleet`` against FakeGPCN over real HTTP: ensure, teardown, start/stop, and the fake's faults.

Every test checks what the server holds at the end (by the fake's state and request log):
each member ordered once, names never borne twice, nothing deleted by ``ensure()``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gpcn_async import (
    BulkError,
    Client,
    ConfigurationError,
    InvalidRequestError,
    JobFailedError,
    NoCapacityError,
)
from gpcn_async.fleet import Fleet, Member, MemberState, SqliteJournal
from gpcn_async.fleet._members import member_name, number_of
from gpcn_async.testing import FakeGPCN
from tests.support import eventually, order_vm

ORDER: dict[str, Any] = {"code": "nvidia-a100", "gpu_count": 1}


@pytest.fixture
async def fake(dialect: str) -> AsyncIterator[FakeGPCN]:
    """The fake with jobs that end 20 ms after they start, polled or not, as the API's do.

    A VM found by name has no job anybody polls: with jobs that end only when polled (the
    fake's default) it would be created never.
    """
    async with FakeGPCN(dialect=dialect, job_duration=0.02) as server:
        yield server


def fleet_of(gpcn: Client, tmp_path: Path, name: str = "f", **options: Any) -> Fleet:
    """A fleet whose journal is in the test's folder."""
    return Fleet(gpcn, name, journal=tmp_path / f"{name}.db", **options)


def names(fake: FakeGPCN) -> list[str]:
    """The names of the VMs on the fake, sorted (repeats kept)."""
    return sorted(vm.name for vm in fake.vms.values())


async def test_ensure_orders_each_member_once_in_name_order(
    fake: FakeGPCN, gpcn: Client, tmp_path: Path
) -> None:
    """Ensure orders members 000 to count-1, returns them ready in name order, and records them."""
    fleet = fleet_of(gpcn, tmp_path)
    vms = await fleet.ensure(3, **ORDER)
    assert [vm.name for vm in vms] == ["f-000", "f-001", "f-002"]
    assert {vm.status for vm in vms} == {"Running"}
    assert fake.created_vm_count == 3
    members = await fleet.members()
    assert [(m.name, m.state, m.vm_id, m.vm_status) for m in members] == [
        (vm.name, MemberState.READY, vm.id, "Running") for vm in vms
    ]
    assert members[0].order == ORDER


async def test_ensure_again_sends_no_order_and_one_listing(
    fake: FakeGPCN, gpcn: Client, tmp_path: Path
) -> None:
    """A second ensure of the same count reads one page of VMs and orders nothing."""
    fleet = fleet_of(gpcn, tmp_path)
    first = await fleet.ensure(3, **ORDER)
    fake.clear_requests()
    assert await fleet.ensure(3, **ORDER) == first
    assert [(r.method, r.path) for r in fake.requests] == [("GET", "/resource/gpu")]


async def test_created_members_are_read_together_from_a_listing_not_one_get_each(
    fake: FakeGPCN, gpcn: Client, tmp_path: Path
) -> None:
    """The VMs of members whose jobs ended together come from one listing, with no GET per VM."""
    vms = await fleet_of(gpcn, tmp_path).ensure(6, **ORDER)
    assert {vm.id for vm in vms} == set(fake.vms)
    reads = [r.path for r in fake.requests if r.method == "GET" and r.path != "/resource/gpu"]
    assert [path for path in reads if path != "/resource/gpu/inventory"] == []
    assert fake.count("GET", "/resource/gpu") < len(vms)  # listings, not one per member


async def test_ensure_grows_and_never_deletes_members_beyond_count(
    fake: FakeGPCN, gpcn: Client, tmp_path: Path
) -> None:
    """A smaller count leaves the members above it alone; a larger one orders only the new."""
    fleet = fleet_of(gpcn, tmp_path)
    await fleet.ensure(3, **ORDER)
    assert [vm.name for vm in await fleet.ensure(2, **ORDER)] == ["f-000", "f-001"]
    assert names(fake) == ["f-000", "f-001", "f-002"]
    assert fake.count("DELETE") == fake.count("POST", "/resource/gpu/bulk/delete") == 0
    assert [vm.name for vm in await fleet.ensure(4, **ORDER)][-1] == "f-003"
    assert fake.created_vm_count == 4
    assert await fleet.ensure(0, **ORDER) == []


async def test_members_on_the_server_are_adopted_by_exact_name(
    fake: FakeGPCN, gpcn: Client, tmp_path: Path
) -> None:
    """A VM named like a member is adopted; look-alike names are neither adopted nor touched."""
    adopted = fake.add_vm(name="f-001")
    for other in ("f-1", "xf-000", "f-002-old", "f-0002"):
        fake.add_vm(name=other)
    vms = await fleet_of(gpcn, tmp_path).ensure(3, **ORDER)
    assert vms[1].id == adopted
    assert fake.created_vm_count == 2
    ordered = sorted(r.json["name"] for r in fake.requests_to("POST", "/resource/gpu"))
    assert ordered == ["f-000", "f-002"]
    assert len(fake.vms) == 7


async def test_a_member_found_while_provisioning_is_waited_for(
    fake: FakeGPCN, gpcn: Client, tmp_path: Path
) -> None:
    """A VM found by name while still being created is waited on until it runs, not re-ordered."""
    vm_id = fake.add_vm(name="f-000", status="Provisioning")
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, setattr, fake.vms[vm_id], "status", "Running")
    [vm] = await fleet_of(gpcn, tmp_path).ensure(1, **ORDER)
    assert (vm.id, vm.status) == (vm_id, "Running")
    assert fake.created_vm_count == 0


async def record(tmp_path: Path, *members: Member) -> None:
    """Write members to the fleet ``f``'s journal, as an earlier (killed) run left them."""
    journal = SqliteJournal(tmp_path / "f.db", fleet="f")
    await journal.hold()
    await journal.put(members)
    await journal.release()


async def test_an_accepted_order_is_resumed_by_its_token_not_ordered_again(
    fake: FakeGPCN, gpcn: Client, tmp_path: Path
) -> None:
    """A member recorded with its job's resume token is followed by that job: no new order."""
    fake.script_next_jobs(duration=0.3)  # still running when the next run starts
    job = await order_vm(fake, gpcn, "f-000")
    assert job.resume_token is not None
    await record(tmp_path, Member("f-000", 0, MemberState.ORDERED, resume_token=job.resume_token))
    fake.clear_requests()
    [vm] = await fleet_of(gpcn, tmp_path).ensure(1, **ORDER)
    assert (vm.name, vm.status) == ("f-000", "Running")
    assert fake.count("POST", "/resource/gpu") == 0
    assert fake.count("POST", "/resource/jobs") >= 1


async def test_a_token_whose_job_is_gone_is_looked_up_then_ordered(
    fake: FakeGPCN, gpcn: Client, tmp_path: Path
) -> None:
    """A recorded job the server no longer shows, and no VM by name: ordered once more."""
    token = "gpu.create:00000000-0000-4000-8000-00000000dead"
    await record(tmp_path, Member("f-000", 0, MemberState.ORDERED, resume_token=token))
    [vm] = await fleet_of(gpcn, tmp_path).ensure(1, **ORDER)
    assert vm.name == "f-000"
    assert fake.created_vm_count == 1


@pytest.mark.parametrize(
    ("vm_name", "number"),
    [
        *[("f-000", 0), ("f-042", 42), ("f-1000", 1000)],
        *[("f-7", None), ("f-0007", None), ("f-000-old", None), ("xf-000", None)],
        *[("f-", None), ("f-٣٣٣", None)],  # Arabic-Indic digits are digits, but not ours
    ],
)
def test_member_names_are_matched_exactly(vm_name: str, number: int | None) -> None:
    """Only the exact form <fleet>-NNN (three digits at least, no padding beyond) is a member."""
    assert number_of("f", vm_name) == number
    if number is not None:
        assert member_name("f", number) == vm_name


async def test_a_lost_answer_to_an_order_that_took_effect_adopts_its_vm(
    fake: FakeGPCN, gpcn: Client, tmp_path: Path
) -> None:
    """An order whose answer was lost after it took effect is found by name, not ordered again."""
    fake.inject("POST", "/resource/gpu", disconnect=True, after_commit=True)
    vms = await fleet_of(gpcn, tmp_path).ensure(2, **ORDER)
    assert names(fake) == ["f-000", "f-001"]
    assert fake.count("POST", "/resource/gpu") == 2
    assert {vm.status for vm in vms} == {"Running"}


async def test_a_500_before_the_order_took_effect_orders_again_after_looking(
    fake: FakeGPCN, gpcn: Client, tmp_path: Path
) -> None:
    """A 500 leaves the order unknown: the name is looked up, then ordered once more."""
    fake.inject("POST", "/resource/gpu", status=500)
    fleet = fleet_of(gpcn, tmp_path, concurrency=1)
    await fleet.ensure(2, **ORDER)
    assert names(fake) == ["f-000", "f-001"]
    posts = [r for r in fake.requests_to("POST", "/resource/gpu") if r.json["name"] == "f-000"]
    assert [r.status for r in posts] == [500, 202]
    [looked] = [
        r for r in fake.requests_to("GET", "/resource/gpu") if r.query.get("search") == "f-000"
    ]
    assert posts[0].time < looked.time < posts[1].time


async def test_a_500_after_the_order_took_effect_adopts_its_vm(
    fake: FakeGPCN, gpcn: Client, tmp_path: Path
) -> None:
    """A 500 sent after the order took effect: the VM is found by name; one VM per member."""
    fake.inject("POST", "/resource/gpu", status=500, after_commit=True, times=2)
    await fleet_of(gpcn, tmp_path).ensure(3, **ORDER)
    assert names(fake) == ["f-000", "f-001", "f-002"]
    assert fake.created_vm_count == 3


async def test_no_capacity_is_recorded_and_only_that_member_is_retried(
    fake: FakeGPCN, gpcn: Client, tmp_path: Path
) -> None:
    """A member that meets no capacity fails the call after the others are ready; rerun: only it."""
    fake.inject("POST", "/resource/gpu", status=409)
    fleet = fleet_of(gpcn, tmp_path)
    with pytest.raises(BulkError) as caught:
        await fleet.ensure(3, **ORDER, max_attempts=1)
    [(failed_name, error)] = caught.value.errors_by_id.items()
    assert isinstance(error, NoCapacityError)
    states = {m.name: m.state for m in await fleet.members()}
    assert states.pop(failed_name) is MemberState.FAILED
    assert set(states.values()) == {MemberState.READY}
    fake.clear_requests()
    await fleet.ensure(3, **ORDER, max_attempts=1)
    assert [r.json["name"] for r in fake.requests_to("POST", "/resource/gpu")] == [failed_name]
    assert names(fake) == ["f-000", "f-001", "f-002"]


async def test_a_failed_create_job_is_recorded_and_ordered_again_next_run(
    fake: FakeGPCN, gpcn: Client, tmp_path: Path
) -> None:
    """A create job that fails makes its member FAILED; the next run orders it again."""
    fake.script_next_jobs(outcome="failed", error="no GPU left in the rack")
    fleet = fleet_of(gpcn, tmp_path, concurrency=1)
    with pytest.raises(BulkError) as caught:
        await fleet.ensure(2, **ORDER)
    assert isinstance(caught.value.errors_by_id["f-000"], JobFailedError)
    [failed, _] = await fleet.members()
    assert failed.state is MemberState.FAILED
    assert failed.error is not None
    assert "no GPU left in the rack" in failed.error
    await fleet.ensure(2, **ORDER)
    assert names(fake) == ["f-000", "f-001"]
    assert fake.created_vm_count == 3


async def test_500s_on_reads_are_retried(fake: FakeGPCN, gpcn: Client, tmp_path: Path) -> None:
    """Listings and inventory answered 500 are retried (safe to repeat); no order is doubled."""
    fake.inject("GET", "/resource/gpu", status=500, times=2)
    fake.inject("GET", "/resource/gpu/inventory", status=503, times=2)
    await fleet_of(gpcn, tmp_path).ensure(2, **ORDER)
    assert fake.created_vm_count == 2


async def test_a_cancelled_ensure_is_taken_up_by_the_next(
    fake: FakeGPCN, gpcn: Client, tmp_path: Path
) -> None:
    """Cancelled (Ctrl-C) while orders are in flight, a rerun ends with each member once."""
    fake.inject("POST", "/resource/gpu", delay=0.2, times=None)
    fleet = fleet_of(gpcn, tmp_path)
    task = asyncio.create_task(fleet.ensure(3, **ORDER))
    await eventually(lambda: fake.count("POST", "/resource/gpu") == 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    fake.clear_faults()
    assert {m.state for m in await fleet.members()} == {MemberState.ORDERING}
    vms = await fleet.ensure(3, **ORDER)  # the journal's lock was let go on the way out
    assert [vm.name for vm in vms] == names(fake) == ["f-000", "f-001", "f-002"]
    assert fake.created_vm_count == 3


async def test_teardown_deletes_every_member_and_empties_the_journal(
    fake: FakeGPCN, gpcn: Client, tmp_path: Path
) -> None:
    """Teardown deletes the journal's members and the server's by name, in one bulk call."""
    fleet = fleet_of(gpcn, tmp_path)
    await fleet.ensure(2, **ORDER)
    stray = fake.add_vm(name="f-007")  # ordered by some earlier run whose journal was lost
    other = fake.add_vm(name="f-7")
    deleted = await fleet.teardown()
    assert [m.name for m in deleted] == ["f-000", "f-001", "f-007"]
    assert stray not in fake.vms
    assert list(fake.vms) == [other]
    assert await fleet.members() == []
    assert fake.count("POST", "/resource/gpu/bulk/delete") == 1
    assert await fleet.teardown() == []


async def test_teardown_asks_again_when_a_delete_answer_was_lost(
    fake: FakeGPCN, gpcn: Client, tmp_path: Path
) -> None:
    """A bulk delete whose answer was lost is asked again per VM; its 409 means it is going."""
    fleet = fleet_of(gpcn, tmp_path)
    await fleet.ensure(2, **ORDER)
    # The deletes run until both are asked again (20 ms jobs could end first on a busy machine,
    # and a VM already gone answers 404, not 409); then the test ends them.
    fake.jobs.script_next(2, duration=60.0)
    fake.inject("POST", "/resource/gpu/bulk/delete", disconnect=True, after_commit=True)
    teardown = asyncio.create_task(fleet.teardown())
    await eventually(lambda: fake.count("DELETE", "/resource/gpu/*") == 2)
    for job_id, job in fake.jobs.items():
        if job.operation == "delete" and not job.terminal:
            fake.jobs.finish(job_id)
    await teardown
    assert fake.vms == {}
    assert fake.count("DELETE", "/resource/gpu/*", status=409) == 2
    assert await fleet.members() == []


async def test_a_duplicate_made_elsewhere_is_adopted_once_and_both_torn_down(
    fake: FakeGPCN, gpcn: Client, tmp_path: Path
) -> None:
    """Two VMs with one member name: ensure orders nothing and uses one; teardown deletes both."""
    both = {fake.add_vm(name="f-000"), fake.add_vm(name="f-000")}
    fleet = fleet_of(gpcn, tmp_path)
    [vm] = await fleet.ensure(1, **ORDER)
    assert vm.id in both
    assert fake.created_vm_count == 0
    await fleet.teardown()
    assert fake.vms == {}


async def test_ensure_refuses_while_a_teardown_is_unfinished(
    fake: FakeGPCN, gpcn: Client, tmp_path: Path
) -> None:
    """A journal with members being deleted makes ensure refuse before any request."""
    await record(tmp_path, Member("f-000", 0, MemberState.DELETING, vm_id="vm-1"))
    with pytest.raises(InvalidRequestError, match="teardown"):
        await fleet_of(gpcn, tmp_path).ensure(1, **ORDER)
    assert fake.requests == []


async def test_stop_and_start_are_bulk_calls_that_record_states(
    fake: FakeGPCN, gpcn: Client, tmp_path: Path
) -> None:
    """Stop and start send one bulk call each and keep the states the server shows."""
    fleet = fleet_of(gpcn, tmp_path)
    vms = await fleet.ensure(2, **ORDER)
    stopped = await fleet.stop()
    assert stopped.succeeded == [vm.id for vm in vms]
    assert {m.vm_status for m in await fleet.members()} == {"Stopped"}
    assert {vm.status for vm in fake.vms.values()} == {"Stopped"}
    assert (await fleet.start()).ok
    assert {m.vm_status for m in await fleet.members()} == {"Running"}
    assert fake.count("POST", "/resource/gpu/bulk/*") == 2
    empty = fleet_of(gpcn, tmp_path, name="empty")
    assert (await empty.stop()).items == {}


async def test_a_held_fleet_keeps_its_journal_and_others_read_it(
    fake: FakeGPCN, gpcn: Client, tmp_path: Path
) -> None:
    """Inside ``async with fleet`` another opener is refused by pid, and readers still read."""
    fleet = fleet_of(gpcn, tmp_path)
    async with fleet:
        await fleet.ensure(1, **ORDER)
        await fleet.stop()
        other = fleet_of(gpcn, tmp_path)
        with pytest.raises(ConfigurationError, match=rf"pid {os.getpid()}\b"):
            await other.ensure(1, **ORDER)
        assert [m.name for m in await other.members()] == ["f-000"]
    await other.ensure(1, **ORDER)  # released: free to take
    assert fake.created_vm_count == 1


@pytest.mark.parametrize(
    "case",
    [
        (-1, ORDER, "count must be an int >= 0"),
        (1.5, ORDER, "count must be an int"),
        (True, ORDER, "count must be an int"),
        ("3", ORDER, "count must be an int"),
        (1, {"gpu_count": 1}, "needs code="),
        (1, {"code": "nvidia-a100"}, "needs gpu_count="),
        (1, {**ORDER, "gpu_count": 3}, "gpu_count must be one of"),
        (1, {**ORDER, "name": "x"}, "names the members itself"),
        (1, {**ORDER, "colour": "red"}, "unknown: colour"),
        (1, {**ORDER, "datacenter_id": "dc"}, "unknown: datacenter_id"),
        (1, {**ORDER, "image_name": ""}, "image_name must be a non-empty string"),
        (1, {**ORDER, "datacenters": "dc-1"}, "datacenters must be a list"),
        (1, {**ORDER, "max_attempts": 0}, "max_attempts must be an int >= 1"),
    ],
)
async def test_bad_arguments_are_refused_before_any_request(
    fake: FakeGPCN, gpcn: Client, tmp_path: Path, case: tuple[Any, dict[str, Any], str]
) -> None:
    """A bad count or order raises InvalidRequestError with no request and no journal written."""
    count, order, message = case
    with pytest.raises(InvalidRequestError, match=message):
        await fleet_of(gpcn, tmp_path).ensure(count, **order)
    assert fake.requests == []
    assert not (tmp_path / "f.db").exists()


@pytest.mark.parametrize("name", ["", "-a", "a b", "a/b", "é", "x" * 51, 7])
async def test_a_name_that_makes_bad_vm_names_is_refused(gpcn: Client, name: Any) -> None:
    """A fleet name that would make invalid VM names raises InvalidRequestError at once."""
    with pytest.raises(InvalidRequestError, match="fleet name"):
        Fleet(gpcn, name)


async def test_a_journal_in_a_missing_folder_is_refused(gpcn: Client, tmp_path: Path) -> None:
    """A journal path in a folder that does not exist raises ConfigurationError at once."""
    with pytest.raises(ConfigurationError, match="does not exist"):
        Fleet(gpcn, "f", journal=tmp_path / "nowhere" / "f.db")
    with pytest.raises(ConfigurationError, match="is a folder"):
        Fleet(gpcn, "f", journal=tmp_path)
