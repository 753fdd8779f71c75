"""Small helpers shared by the SDK's tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gpcn_async import Client, GpuVm, Job
    from gpcn_async.testing import FakeGPCN


async def eventually(condition: Callable[[], bool], *, within: float = 5.0) -> None:
    """Wait (bounded) until ``condition()`` holds, checking every few milliseconds."""
    step = 0.002
    for _ in range(int(within / step)):
        if condition():
            return
        await asyncio.sleep(step)
    raise AssertionError(f"condition not met within {within} s")


async def order_vm(fake: FakeGPCN, gpcn: Client, name: str = "train-01") -> Job[GpuVm]:
    """Order a VM on an offer made available, through the client; return its job (no waiting)."""
    series, datacenter = fake.series[0], fake.datacenters[0]
    fake.set_availability(series.code, datacenter.id, 1, available=True)
    series_id: int | str = series.guide_id if fake.dialect == "guide" else series.id
    return await gpcn.gpu.create(
        name=name, datacenter_id=datacenter.id, series_id=series_id, gpu_count=1
    )
