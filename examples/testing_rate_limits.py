"""A test that your code stays within a rate limit: FakeGPCN enforces it, with real headers."""

import asyncio

from gpcn_async.testing import FakeGPCN


async def test_a_burst_of_reads_meets_no_429() -> None:
    """80 reads against 40 requests per clock-aligned second all succeed, none refused."""
    async with (
        FakeGPCN(rate_limit=40, rate_window=1, rate_alignment="clock") as fake,
        fake.client() as gpcn,
    ):
        vm_id = fake.add_vm(name="train-01")
        vms = await asyncio.gather(*(gpcn.gpu.get(vm_id) for _ in range(80)))
        assert len(vms) == 80
        assert fake.rate_limited_count == 0  # the client paced itself from X-RateLimit-*
