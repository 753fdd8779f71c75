"""Small helpers shared by the SDK's tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from gpcn_async import Client, GpuVm, Job
    from gpcn_async.testing import FakeGPCN

T = TypeVar("T")

one_dialect = pytest.mark.parametrize("dialect", ["reference"])
"""For a test of timing or scheduling alone: the dialect changes how an answer reads, not when
a request goes, so one dialect checks it (every other test runs in both)."""


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


class LoopThread:
    """An event loop in a thread of its own, for servers that a synchronous test talks to.

    The ``gpcn`` command line runs its own event loop (``asyncio.run``), so a test that calls
    ``gpcn_async.cli.main()`` in-process cannot serve the fake from its own loop.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine in the thread's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def call(self, function: Callable[[], T]) -> T:
        """Call a function in the thread's loop (where the servers' state lives)."""

        async def call() -> T:
            return function()

        return self.run(call())

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()
