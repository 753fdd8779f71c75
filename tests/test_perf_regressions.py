"""Behaviour fixed while benchmarking (issue 8): poll timing, waking, retries, limiter, memory."""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import logging
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import FrameType
from typing import Any

import attrs
import pytest

import gpcn_async
from gpcn_async import Client, PollPolicy, RateLimitError, ServerError, _convert, _wire
from gpcn_async._limiter import RateLimiter
from gpcn_async._wire import RateLimitHeaders
from gpcn_async.models import GpuVm
from gpcn_async.testing import FakeGPCN

POLL = ("POST", "/resource/jobs")
SAMPLES = Path(__file__).parent / "wire_samples"
PACKAGE = str(Path(gpcn_async.__file__).parent)


def calls_into_the_package(run: Callable[[], object]) -> Counter[str]:
    """The functions of gpcn_async that ``run()`` calls, with how often (a second run's)."""
    run()  # the first run may fill caches
    called: Counter[str] = Counter()

    def profile(frame: FrameType, event: str, _: object) -> None:
        if event == "call" and frame.f_code.co_filename.startswith(PACKAGE):
            called[frame.f_code.co_name] += 1

    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    return called


@pytest.mark.parametrize("dialect", ["guide", "reference"])
def test_decoding_a_vm_calls_one_hook_per_field_and_none_per_dialect_path(dialect: str) -> None:
    """Decoding a VM calls each field's hook once and follows dialect paths inline."""
    data = json.loads((SAMPLES / dialect / "gpu-get.json").read_text(encoding="utf-8"))["data"]
    called = calls_into_the_package(lambda: _convert.structure_vm(data))
    assert called["_dig"] == called["_put"] == 0, called
    # structure_vm, _decode, the class hook and _normalised, then at most one hook per field.
    assert called.total() <= 4 + len(attrs.fields(GpuVm)), called


def test_reading_rate_limit_headers_makes_no_call_per_header_beyond_the_parse() -> None:
    """Parsing the three X-RateLimit headers calls one helper per header and nothing else."""
    headers = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "7", "X-RateLimit-Reset": "9"}
    assert _wire.parse_rate_limit(headers) == (100, 7, 9.0)
    called = calls_into_the_package(lambda: _wire.parse_rate_limit(headers))
    assert called == Counter({"parse_rate_limit": 1, "_number": 3})


async def test_a_slow_poll_answer_does_not_stretch_the_poll_interval() -> None:
    """A job's next poll is timed from when its previous poll was sent, not from its answer."""
    poll = PollPolicy(interval=0.2, max_interval=0.2, timeout=10.0)
    async with FakeGPCN(job_polls=3) as fake, fake.client(poll=poll) as gpcn:
        fake.inject(*POLL, delay=0.3, times=None)  # every answer takes 0.3 s
        job_id = fake.add_job()
        await gpcn.jobs.attach(job_id)
    sent = [request.time for request in fake.requests_to(*POLL)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
    assert len(sent) == 3
    # From the send: max(answer time, interval) = 0.3 s; from the answer it was 0.3 + 0.2 s.
    assert all(0.19 <= gap < 0.42 for gap in gaps), gaps


async def test_each_chunk_wakes_its_waiters_without_waiting_for_the_others() -> None:
    """The jobs of a chunk whose answer is in wake at once, even while another chunk is slow."""
    poll = PollPolicy(interval=0.05, max_interval=0.05, timeout=10.0)
    async with FakeGPCN(job_polls=1) as fake, fake.client(poll=poll) as gpcn:
        fake.inject(*POLL, delay=0.6, times=1)  # one of the two chunks answers late
        ids = [fake.add_job() for _ in range(100)]
        started = time.monotonic()
        woke: list[float] = []

        async def wait(job_id: str) -> None:
            await gpcn.jobs.attach(job_id)
            woke.append(time.monotonic() - started)

        await asyncio.gather(*(wait(job_id) for job_id in ids))
    assert fake.count(*POLL) == 2
    early = [moment for moment in woke if moment < 0.4]
    assert len(early) == 50  # the prompt chunk's jobs did not wait for the slow one
    assert min(moment for moment in woke if moment >= 0.4) >= 0.6


async def test_retries_still_count_the_first_attempt_made_outside_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failure that persists is tried max_retries + 1 times, with one retry log line between."""
    caplog.set_level(logging.INFO, logger="gpcn_async")
    async with FakeGPCN() as fake, fake.client() as gpcn:
        vm_id = fake.add_vm()
        fake.inject("GET", f"/resource/gpu/{vm_id}", status=503, times=None)
        with pytest.raises(ServerError):
            await gpcn.gpu.get(vm_id)
        attempts = fake.count("GET", f"/resource/gpu/{vm_id}")
        fake.clear_faults()
        fake.inject("GET", f"/resource/gpu/{vm_id}", status=503, times=1)
        vm = await gpcn.gpu.get(vm_id)
    assert attempts == gpcn.retry.max_retries + 1 == 4
    assert vm.id == vm_id
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retrying")]
    assert [line.rsplit("(", 1)[1] for line in retries] == [
        "attempt 1 of 4)",
        "attempt 2 of 4)",
        "attempt 3 of 4)",
        "attempt 1 of 4)",
    ]


async def test_a_request_arriving_as_the_budget_refills_queues_behind_those_waiting() -> None:
    """The limiter's no-wait path never lets a newcomer take a slot before requests queued."""
    limiter = RateLimiter(max_wait=1.0)
    await limiter.acquire()
    limiter.observe(RateLimitHeaders(limit=1, remaining=0, reset=time.time() + 0.03))
    limiter.release()
    order: list[str] = []

    async def take(name: str) -> None:
        try:
            await limiter.acquire()
        except RateLimitError:  # the next window is beyond max_wait
            order.append(f"{name}: refused")
        else:
            order.append(name)
            limiter.release()

    first = asyncio.create_task(take("queued"))
    await asyncio.sleep(0)  # it waits at the limiter for the reset
    time.sleep(0.05)  # noqa: ASYNC251 -- block the loop past the reset, so both are ready at once
    newcomer = asyncio.create_task(take("newcomer"))  # its first step runs before the wake-up
    await asyncio.gather(first, newcomer)
    assert order == ["queued", "newcomer: refused"]


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def _bytes_per_wait(
    count: int, make_wait: Callable[[int], Coroutine[Any, Any, object]]
) -> float:
    """Bytes held per pending wait: tasks started from ``make_wait(i)``, measured, cancelled."""
    tracemalloc.start()
    try:
        before = _traced()
        tasks = [asyncio.create_task(make_wait(index)) for index in range(count)]
        for _ in range(5):
            await asyncio.sleep(0)
        held = _traced() - before
    finally:
        tracemalloc.stop()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return held / count


async def test_a_pending_wait_costs_little_more_than_a_bare_task() -> None:
    """A job wait holds one frame, a future, a timer and a poller entry: no chain, no generator."""
    count = 2000
    loop = asyncio.get_running_loop()
    futures = [loop.create_future() for _ in range(count)]

    async def bare(index: int) -> None:
        await futures[index]

    bare_bytes = await _bytes_per_wait(count, bare)
    poll = PollPolicy(interval=600.0, max_interval=600.0, timeout=3600.0)
    async with Client(api_key="gpcn_test", base_url="http://127.0.0.1:9/v1", poll=poll) as gpcn:
        jobs = [gpcn.jobs.attach(f"job-{index}") for index in range(count)]
        wait_bytes = await _bytes_per_wait(count, lambda index: jobs[index].wait())
    # About 600 B more than a bare task on a future; it was about 1,800 B (four frames, a poll
    # schedule generator and an asyncio.timeout per wait).
    assert wait_bytes - bare_bytes < 1000, (wait_bytes, bare_bytes)
