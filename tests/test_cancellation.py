"""Cancellation at random points: waits, bulk calls and provision() stop, nothing else does."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

import gpcn_async
from gpcn_async import Client, JobState
from gpcn_async.testing import FakeGPCN

PACKAGE = Path(gpcn_async.__file__).resolve().parent
FAKE = PACKAGE / "testing"


def sdk_tasks() -> list[asyncio.Task[Any]]:
    """Unfinished tasks running the SDK's own code (not the fake's, not the test's).

    Decided by where the code lives, not by a word in its path: the tests of an unpacked sdist
    live in a directory named ``gpcn_async-<version>``.
    """
    found = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if code is None or task.done():
            continue
        path = Path(code.co_filename).resolve()
        if path.is_relative_to(PACKAGE) and not path.is_relative_to(FAKE):
            found.append(task)
    return found


def operations(fake: FakeGPCN, gpcn: Client) -> list[Coroutine[Any, Any, Any]]:
    """A mix of concurrent work: job waits, a bulk stop, a bulk delete and a provision()."""
    vm_ids = [fake.add_vm(name=f"train-{n:03}") for n in range(120)]
    job_ids = [fake.add_job(polls=3) for _ in range(6)]
    series = fake.series[0]
    for datacenter in fake.datacenters:
        fake.set_availability(series.code, datacenter.id, 1, available=True)

    async def delete_and_wait() -> Any:
        return await (await gpcn.gpu.bulk_delete(vm_ids[60:]))

    async def provision_and_wait() -> Any:
        return await (await gpcn.gpu.provision(name="p-1", code=series.code, gpu_count=1))

    return [
        *(gpcn.jobs.attach(job_id).wait() for job_id in job_ids),
        gpcn.gpu.bulk_stop(vm_ids[:60]),
        delete_and_wait(),
        provision_and_wait(),
    ]


@pytest.mark.parametrize("seed", range(8))
async def test_cancelling_at_random_points_leaves_the_client_usable(
    dialect: str, seed: int
) -> None:
    """Cancelled work ends with CancelledError promptly; the rest finishes; nothing leaks."""
    rng = random.Random(seed)
    async with FakeGPCN(dialect=dialect, job_polls=3) as fake:
        async with fake.client() as gpcn:
            tasks = [asyncio.create_task(op) for op in operations(fake, gpcn)]
            await asyncio.sleep(rng.uniform(0, 0.05))
            doomed = set(rng.sample(range(len(tasks)), k=rng.randint(1, len(tasks))))
            for index in doomed:
                tasks[index].cancel()
            async with asyncio.timeout(10):
                outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            for index, (task, outcome) in enumerate(zip(tasks, outcomes, strict=True)):
                if index in doomed and task.cancelled():
                    continue  # cancelled in flight (a task already done just finished first)
                assert not isinstance(outcome, BaseException), outcome
            # The same client still works, its poller included.
            assert (await gpcn.gpu.inventory()).series
            status = await gpcn.jobs.attach(fake.add_job(polls=1))
            assert status.state is JobState.SUCCEEDED
        assert sdk_tasks() == []


async def test_closing_the_client_mid_work_ends_every_wait(fake: FakeGPCN) -> None:
    """aclose() during waits and bulk calls ends them and leaves no SDK task running."""
    gpcn = fake.client()
    job_ids = [fake.add_job(polls=1000) for _ in range(5)]
    waits = [asyncio.create_task(gpcn.jobs.attach(job_id).wait()) for job_id in job_ids]
    await asyncio.sleep(0.05)
    await gpcn.aclose()
    outcomes = await asyncio.gather(*waits, return_exceptions=True)
    assert all(isinstance(outcome, Exception) and "closed" in str(outcome) for outcome in outcomes)
    assert sdk_tasks() == []
