"""Soak: hundreds of concurrent fleet workflows against a fake throwing random faults.

Each workflow orders a VM, waits for it, stops it and deletes it, recovering the way a careful
script would (after ``OutcomeUnknownError`` it looks the VM up by name instead of ordering again).
At the end every workflow has a definite outcome, the fake holds no VM the client does not know
about, and no task of the SDK is left running. CI runs the default size; run a bigger one with
``GPCN_SOAK_WORKFLOWS=2000 pytest -m soak tests/test_soak.py``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from gpcn_async import (
    Client,
    ConflictError,
    GPCNError,
    NotFoundError,
    OutcomeUnknownError,
    PollPolicy,
    RetryPolicy,
)
from gpcn_async.testing import FakeGPCN
from tests.test_cancellation import sdk_tasks

pytestmark = pytest.mark.soak

WORKFLOWS = int(os.environ.get("GPCN_SOAK_WORKFLOWS", "300"))
FAULT_RATE = 0.05
STEP_ATTEMPTS = 6  # workflow-level tries of a step whose error is definite (nothing happened)

T = TypeVar("T")


async def persist(step: Callable[[], Awaitable[T]]) -> T:
    """Run a safe step again after an error, a bounded number of times (the last error wins)."""
    for _ in range(STEP_ATTEMPTS - 1):
        try:
            return await step()
        except GPCNError:
            await asyncio.sleep(0.005)
    return await step()


async def find_by_name(gpcn: Client, name: str) -> str | None:
    """The id of the VM with exactly this name, if the server has one."""

    async def search() -> str | None:
        async for vm in gpcn.gpu.list(search=name):
            if vm.name == name:
                return vm.id
        return None

    return await persist(search)


async def order(gpcn: Client, fake: FakeGPCN, name: str) -> str:
    """Order one VM without ever making two, wait for it, and return its id."""
    series, datacenter = fake.series[0], fake.datacenters[0]
    series_id: int | str = series.guide_id if fake.dialect == "guide" else series.id
    for _ in range(STEP_ATTEMPTS):
        try:
            job = await gpcn.gpu.create(
                name=name, datacenter_id=datacenter.id, series_id=series_id, gpu_count=1
            )
        except OutcomeUnknownError:
            vm_id = await find_by_name(gpcn, name)
            if vm_id is not None:
                return vm_id  # the order went through: adopt the VM
            continue  # the server has no such VM: the order did not happen, so order again
        except GPCNError:
            continue  # a definite refusal (429 after retries, connection never made...)
        vm = await persist(job.wait)
        return vm.id
    raise AssertionError(f"{name}: no order went through in {STEP_ATTEMPTS} attempts")


async def workflow(gpcn: Client, fake: FakeGPCN, name: str, known: set[str]) -> str:
    """Create → wait → stop → delete one VM; return its definite outcome."""
    vm_id = await order(gpcn, fake, name)
    known.add(vm_id)
    await persist(lambda: _stop(gpcn, vm_id))
    await persist(lambda: _delete(gpcn, vm_id))
    return "deleted"


async def _stop(gpcn: Client, vm_id: str) -> None:
    await (await gpcn.gpu.stop(vm_id))


async def _delete(gpcn: Client, vm_id: str) -> None:
    """Delete without ever deleting twice: after an unknown outcome, asking again is looking.

    A delete that did reach the server makes the next one answer 409 (being deleted), and one
    that ended meanwhile makes it answer 404: either way the VM is going, so wait for it.
    """
    try:
        await (await gpcn.gpu.delete(vm_id))
    except NotFoundError:
        return  # an earlier try deleted it but its answer was lost
    except ConflictError:
        await gone(gpcn, vm_id)  # an earlier try's delete is running


async def gone(gpcn: Client, vm_id: str) -> None:
    """Wait (bounded) until the server no longer shows the VM."""
    for _ in range(500):
        try:
            await gpcn.gpu.get(vm_id)
        except NotFoundError:
            return
        except GPCNError:
            pass
        await asyncio.sleep(0.005)
    raise AssertionError(f"VM {vm_id} is still there")


async def test_soak_every_workflow_ends_and_nothing_is_left(dialect: str) -> None:
    """Under 5% random faults, every workflow ends deleted and the fake holds no VM."""
    retry = RetryPolicy(max_retries=3, base_delay=0.001, max_delay=0.01, max_rate_limit_wait=5)
    poll = PollPolicy(interval=0.01, max_interval=0.05, timeout=60)
    known: set[str] = set()
    # Jobs end after a while, polled or not, as the real ones do: a delete whose answer was lost
    # still ends, and the workflow sees its VM go.
    async with FakeGPCN(dialect=dialect, job_duration=0.02) as fake:
        fake.set_availability(fake.series[0].code, fake.datacenters[0].id, 1, available=True)
        chaos = fake.inject_random(FAULT_RATE, seed=2026)
        async with fake.client(retry=retry, poll=poll, max_connections=64) as gpcn:
            async with asyncio.timeout(120):
                outcomes = await asyncio.gather(
                    *(workflow(gpcn, fake, f"soak-{n:05}", known) for n in range(WORKFLOWS))
                )
        left = set(fake.vms)
        created = fake.created_vm_count
    assert outcomes == ["deleted"] * WORKFLOWS
    assert chaos.hits > 0.02 * len(fake.requests)  # the faults really happened
    assert left <= known
    assert left == set()
    assert created == WORKFLOWS  # never a second VM for one workflow
    assert sdk_tasks() == []
