"""Tests of your own code with the gpcn_async pytest plugin: a fake GPCN, real HTTP, no mocks.

Installing gpcn_async gives pytest the fixtures ``gpcn_fake`` (a running FakeGPCN) and
``gpcn_client`` (a Client pointed at it, with millisecond retries and polls). Needs pytest-asyncio
(``asyncio_mode = "auto"`` here; in strict mode, mark each test ``@pytest.mark.asyncio``).
"""

import pytest

from gpcn_async import Client, ConflictError, JobFailedError, PermissionDeniedError
from gpcn_async.testing import FakeGPCN, gateway_page

# Every test of this module runs twice: once per wire dialect the service speaks.
pytestmark = pytest.mark.gpcn_dialect("guide", "reference")


async def launch(gpcn: Client, name: str, progress: list[int | None]) -> str:
    """The code under test: order a 1-GPU VM wherever one is free and return its IP address."""
    offer = next((await gpcn.gpu.inventory()).offers(gpu_count=1))
    job = await gpcn.gpu.create(
        name=name, datacenter_id=offer.datacenter_id, series_id=offer.series_id, gpu_count=1
    )
    progress.extend([status.progress async for status in job.watch()])  # each change, to the end
    vm = await job
    return vm.ip or ""


async def test_launch_follows_the_job_to_the_end(gpcn_client: Client, gpcn_fake: FakeGPCN) -> None:
    """launch() sees the job's progress and returns the address of the running VM."""
    gpcn_fake.script_next_jobs(progress=[10, 60, 90])  # three polls running, the 4th completes
    progress: list[int | None] = []
    ip = await launch(gpcn_client, "train-01", progress)
    assert ip
    assert progress[-4:] == [10, 60, 90, 100]
    assert gpcn_fake.count("POST", "/resource/jobs") == 4


async def test_launch_retries_a_gateway_error(gpcn_client: Client, gpcn_fake: FakeGPCN) -> None:
    """A 502 HTML page from the gateway on the inventory read is retried."""
    gpcn_fake.inject("GET", "/resource/gpu/inventory", status=502, body=gateway_page(502))
    assert await launch(gpcn_client, "train-02", [])
    assert gpcn_fake.count("GET", "/resource/gpu/inventory") == 2


async def test_launch_reports_failures(gpcn_client: Client, gpcn_fake: FakeGPCN) -> None:
    """A lost race (409) and a failed create job reach the caller as typed errors."""
    gpcn_fake.race_next_create()
    with pytest.raises(ConflictError):
        await launch(gpcn_client, "train-03", [])
    gpcn_fake.script_next_jobs(outcome="failed", error="GPU host lost")
    with pytest.raises(JobFailedError, match="GPU host lost"):
        await launch(gpcn_client, "train-04", [])
    assert gpcn_fake.vms == {}  # the failed create left nothing behind


@pytest.mark.gpcn_fake(gpu_enabled=False)  # an account without GPU features
async def test_launch_without_gpu_access(gpcn_client: Client) -> None:
    """Every GPU endpoint answers 403 when the account has no GPU features."""
    with pytest.raises(PermissionDeniedError):
        await launch(gpcn_client, "train-05", [])


@pytest.mark.gpcn_fake(seed_vms=3)  # start with vm-0001 to vm-0003, running
async def test_fleet_listing(gpcn_client: Client) -> None:
    """Seeded VMs are listed like real ones."""
    names = sorted([vm.name async for vm in gpcn_client.gpu.list()])
    assert names == ["vm-0001", "vm-0002", "vm-0003"]
