from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from gpcn_async.testing import FakeGPCN
from tests.fake.fake_support import DIALECTS, job_id_of, key_mismatches, running, sample


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_get_vm_has_the_sample_shape(dialect: str) -> None:
    """``GET /resource/gpu/{id}`` answers the VM with exactly the keys of the dialect's sample."""
    async with running(dialect=dialect) as (fake, wire):
        vm_id = fake.add_vm(name="node", gpu_count=2, team_id=5)
        answer = await wire.get(f"/resource/gpu/{vm_id}")
    assert answer.status == 200
    assert key_mismatches(answer.body, sample(dialect, "gpu-get")) == []
    vm = answer.data
    assert (vm["id"], vm["name"], vm["status"]) == (vm_id, "node", "Running")
    if dialect == "guide":
        assert vm["series"] == {"id": 1, "name": "NVIDIA A100", "code": "nvidia-a100"}
        assert (vm["gpuCount"], vm["teamId"]) == (2, 5)
        assert vm["jupyterLabUrl"] == f"https://{vm['publicIp']}:8888"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", vm["createdAt"])
    else:
        assert vm["configuration"]["code"] == "nvidia-a100"
        assert vm["configuration"]["gpuCount"] == 2
        assert vm["datacenter"]["region"] == "US East"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", vm["createdAt"])


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_unknown_vm_is_404_not_found_everywhere(dialect: str) -> None:
    """Get, update, delete, actions and ssh-key of an unknown id answer 404 "GPU VM not found"."""
    async with running(dialect=dialect) as (_fake, wire):
        answers = [
            await wire.get("/resource/gpu/missing"),
            await wire.put("/resource/gpu/missing", {"name": "x"}),
            await wire.delete("/resource/gpu/missing"),
            await wire.post("/resource/gpu/missing/stop"),
            await wire.get("/resource/gpu/missing/ssh-key"),
        ]
    for answer in answers:
        assert answer.status == 404
        assert answer.body["message"] == "GPU VM not found"
        code = answer.body["error"] if dialect == "guide" else answer.body["error"]["code"]
        assert code == ("NOT_FOUND" if dialect == "guide" else "Not Found")


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_list_paginates_230_vms_into_three_pages(dialect: str) -> None:
    """230 VMs with limit 100 make 3 pages whose meta is exact and whose items do not repeat."""
    async with running(dialect=dialect) as (fake, wire):
        for _ in range(230):
            fake.add_vm()
        pages = [await wire.get("/resource/gpu", page=str(n), limit="100") for n in (1, 2, 3, 4)]
    assert key_mismatches(pages[0].body, sample(dialect, "gpu-list-page")) == []
    assert pages[0].body["meta"] == {
        "total": 230,
        "page": 1,
        "pageSize": 100,
        "totalPages": 3,
        "hasNextPage": True,
        "hasPreviousPage": False,
    }
    assert pages[2].body["meta"]["hasNextPage"] is False
    assert pages[2].body["meta"]["hasPreviousPage"] is True
    assert [len(page.data) for page in pages] == [100, 100, 30, 0]
    ids = [vm["id"] for page in pages for vm in page.data]
    assert len(set(ids)) == 230


async def test_list_defaults_to_newest_first_and_ten_per_page() -> None:
    """Without parameters the list is page 1 of 10 items, newest ``createdAt`` first."""
    async with running() as (fake, wire):
        ids = [fake.add_vm() for _ in range(12)]
        answer = await wire.get("/resource/gpu")
    assert answer.body["meta"]["pageSize"] == 10
    assert [vm["id"] for vm in answer.data] == ids[::-1][:10]


async def test_list_sorts_searches_and_filters() -> None:
    """``sort``, ``search`` (case-insensitive), ``filter[teamId]`` and ``resourceGroupId`` apply."""
    async with running() as (fake, wire):
        fake.add_vm(name="beta-train", team_id=5)
        fake.add_vm(name="Alpha-train", team_id=6, resource_group_id="rg-1")
        fake.add_vm(name="gamma-serve", team_id=5, resource_group_id="rg-1")
        by_name = await wire.get("/resource/gpu", sort="name:asc")
        oldest = await wire.get("/resource/gpu", sort="createdAt:asc")
        search = await wire.get("/resource/gpu", search="TRAIN")
        team = await wire.get("/resource/gpu", **{"filter[teamId]": "5"})
        group = await wire.get("/resource/gpu", resourceGroupId="rg-1")
    names = [vm["name"] for vm in by_name.data]
    assert names == ["Alpha-train", "beta-train", "gamma-serve"]
    assert [vm["name"] for vm in oldest.data] == ["beta-train", "Alpha-train", "gamma-serve"]
    assert {vm["name"] for vm in search.data} == {"beta-train", "Alpha-train"}
    assert search.body["meta"]["total"] == 2
    assert {vm["name"] for vm in team.data} == {"beta-train", "gamma-serve"}
    assert {vm["name"] for vm in group.data} == {"Alpha-train", "gamma-serve"}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("param", "value"),
    [("page", "0"), ("page", "x"), ("limit", "0"), ("limit", "101"), ("sort", "size:asc")],
)
async def test_list_rejects_bad_paging(dialect: str, param: str, value: str) -> None:
    """Out-of-range ``page``/``limit`` or an unknown sort is a validation error naming the field."""
    async with running(dialect=dialect) as (_fake, wire):
        answer = await wire.get("/resource/gpu", **{param: value})
    if dialect == "guide":
        assert answer.status == 400
        assert answer.body["error"] == "VALIDATION_ERROR"
        assert param in answer.body["message"]
    else:
        assert answer.status == 422
        assert answer.body["error"]["details"]["issues"][0]["path"] == param


async def test_vms_added_between_pages_shift_later_pages() -> None:
    """State is read per request, so a VM added after page 1 pushes an item onto page 2."""
    async with running() as (fake, wire):
        for _ in range(4):
            fake.add_vm()
        first = await wire.get("/resource/gpu", page="1", limit="2")
        fake.add_vm()
        second = await wire.get("/resource/gpu", page="2", limit="2")
    assert first.data[-1]["id"] == second.data[0]["id"]
    assert second.body["meta"]["total"] == 5


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_update_changes_the_vm_and_answers_it(dialect: str) -> None:
    """PUT renames and re-teams the VM, a null ``sshKeyId`` clears the key, the VM comes back."""
    async with running(dialect=dialect) as (fake, wire):
        vm_id = fake.add_vm(name="old")
        fake.vms[vm_id].ssh_key_id = "key-1"
        answer = await wire.put(
            f"/resource/gpu/{vm_id}",
            {"name": "new", "teamId": 9, "resourceGroupId": "rg-2", "sshKeyId": None},
        )
        record = fake.vms[vm_id]
    assert answer.status == 200
    assert answer.data["name"] == "new"
    assert (record.name, record.team_id, record.resource_group_id) == ("new", 9, "rg-2")
    assert record.ssh_key_id is None


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_update_without_body_and_empty_name(dialect: str) -> None:
    """``update_returns_body=False`` answers a bare success; an empty name is a validation error."""
    async with running(dialect=dialect) as (fake, wire):
        vm_id = fake.add_vm(name="old")
        fake.update_returns_body = False
        bare = await wire.put(f"/resource/gpu/{vm_id}", {"name": "new"})
        empty = await wire.put(f"/resource/gpu/{vm_id}", {"name": ""})
        assert fake.vms[vm_id].name == "new"
    assert (bare.status, bare.body) == (200, {"success": True, "message": "GPU VM updated"})
    assert empty.status == (400 if dialect == "guide" else 422)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_delete_answers_202_with_a_job_that_removes_the_vm(dialect: str) -> None:
    """DELETE answers the dialect's 202 job body; the VM goes once the job succeeds."""
    async with running(dialect=dialect, job_polls=1) as (fake, wire):
        vm_id = fake.add_vm()
        answer = await wire.delete(f"/resource/gpu/{vm_id}")
        assert vm_id in fake.vms
        await wire.poll(job_id_of(answer))
        gone = await wire.get(f"/resource/gpu/{vm_id}")
    assert answer.status == 202
    assert key_mismatches(answer.body, sample(dialect, "delete-202")) == []
    assert gone.status == 404


async def test_delete_can_answer_204_at_once() -> None:
    """With ``delete_answers_204`` the VM is gone at once and the answer has no body."""
    async with running() as (fake, wire):
        fake.delete_answers_204 = True
        vm_id = fake.add_vm()
        answer = await wire.delete(f"/resource/gpu/{vm_id}")
        assert vm_id not in fake.vms
    assert (answer.status, answer.text) == (204, "")


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("action", "status"), [("stop", "Stopped"), ("start", "Running")])
async def test_power_actions_change_status(dialect: str, action: str, status: str) -> None:
    """start/stop/reset answer 200 with a message and set the VM's status."""
    async with running(dialect=dialect) as (fake, wire):
        vm_id = fake.add_vm(status="Unknown")
        answer = await wire.post(f"/resource/gpu/{vm_id}/{action}")
        assert fake.vms[vm_id].status == status
    assert answer.status == 200
    assert answer.body["success"] is True
    assert answer.body["message"]
    assert "data" not in answer.body


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_unsupported_action_answers_501(dialect: str) -> None:
    """``set_unsupported("start")`` makes start answer 501 Not Implemented; other actions work."""
    async with running(dialect=dialect) as (fake, wire):
        vm_id = fake.add_vm(status="Stopped")
        fake.set_unsupported("start")
        start = await wire.post(f"/resource/gpu/{vm_id}/start")
        stop = await wire.post(f"/resource/gpu/{vm_id}/stop")
        fake.set_unsupported("start", unsupported=False)
        again = await wire.post(f"/resource/gpu/{vm_id}/start")
    assert (start.status, stop.status, again.status) == (501, 200, 200)
    code = start.body["error"] if dialect == "guide" else start.body["error"]["code"]
    assert code == ("NOT_IMPLEMENTED" if dialect == "guide" else "Not Implemented")


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_actions_can_answer_202_with_a_job(dialect: str) -> None:
    """With ``actions_answer_202`` an action answers a job; the status changes when it succeeds."""
    async with running(dialect=dialect, job_polls=2) as (fake, wire):
        fake.actions_answer_202 = True
        vm_id = fake.add_vm()
        answer = await wire.post(f"/resource/gpu/{vm_id}/stop")
        job_id = job_id_of(answer)
        await wire.poll(job_id)
        assert fake.vms[vm_id].status == "Running"
        await wire.poll(job_id)
        assert fake.vms[vm_id].status == "Stopped"
    assert answer.status == 202
    assert fake.jobs[job_id].operation == "stop"


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_ssh_key_is_a_deterministic_openssh_key(dialect: str) -> None:
    """The ssh-key endpoint answers the same OpenSSH-framed key for a VM every time."""
    async with running(dialect=dialect) as (fake, wire):
        vm_id = fake.add_vm(id="vm-fixed")
        first = await wire.get(f"/resource/gpu/{vm_id}/ssh-key")
        second = await wire.get(f"/resource/gpu/{vm_id}/ssh-key")
    key = first.data["privateKey"]
    assert key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    assert key.endswith("\n-----END OPENSSH PRIVATE KEY-----\n")
    assert key == second.data["privateKey"]
    if dialect == "guide":
        assert key_mismatches(first.body, sample("guide", "ssh-key")) == []


def test_add_vm_defaults_and_validation() -> None:
    """add_vm fills defaults with increasing creation times and rejects unknown references."""
    fake = FakeGPCN()
    first, second = fake.add_vm(), fake.add_vm(name="named", id="vm-2")
    vms = fake.vms
    assert second == "vm-2"
    assert vms[first].created_at < vms[second].created_at
    assert vms[first].series_code == fake.series[0].code
    assert vms[first].datacenter_id == fake.datacenters[0].id
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    assert fake.vms[fake.add_vm(created_at=stamp)].created_at == stamp
    for kwargs, named in [
        ({"series_code": "nope"}, "nope"),
        ({"datacenter_id": "dc-x"}, "dc-x"),
        ({"gpu_count": 3}, "gpu_count"),
        ({"id": "vm-2"}, "vm-2"),
        ({"created_at": datetime(2026, 1, 1)}, "timezone"),
    ]:
        with pytest.raises(ValueError, match=named):
            fake.add_vm(**kwargs)  # type: ignore[arg-type]
