"""``FakeGPCN(clock_skew=...)``: a fake whose wall clock is ahead of or behind this machine's.

Everything the fake says about wall-clock time (``Date``, ``X-RateLimit-Reset``, timestamps) is on
its skewed clock; how long anything takes (jobs, rate windows) is not changed by the skew.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest

from gpcn_async.testing import FakeGPCN, gateway_page
from tests.fake.fake_support import DIALECTS, Answer, job_id_of, job_state, running

SKEWS = (-300.0, 300.0)


def fake_now(skew: float) -> float:
    """The fake's wall-clock time (Unix seconds) for a given skew."""
    return time.time() + skew


def date_of(answer: Answer) -> float:
    """The answer's only ``Date`` header as Unix seconds (asserting there is exactly one)."""
    dates = answer.headers.getall("Date", [])
    assert len(dates) == 1, dates
    assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT", dates[0]), dates
    return parsedate_to_datetime(dates[0]).timestamp()


def stamp(text: str) -> float:
    """A wire timestamp (``...Z``, with or without milliseconds) as Unix seconds."""
    return datetime.fromisoformat(text).timestamp()


async def sleep_until_fake(skew: float, moment: float) -> None:
    """Sleep until the fake's clock has passed ``moment``, by 2 ms at most."""
    await asyncio.sleep(max(0.0, moment - fake_now(skew)) + 0.002)


@pytest.mark.parametrize("skew", SKEWS)
async def test_every_answer_has_one_date_header_on_the_skewed_clock(skew: float) -> None:
    """Success, 204, 401, 404, injected faults and limiter 429s each carry one skewed ``Date``."""
    async with running(clock_skew=skew, seed_vms=1) as (fake, wire):
        vm_id = next(iter(fake.vms))
        fake.delete_answers_204 = True
        fake.inject("GET", "/resource/gpu/inventory", status=503, times=1)
        fake.inject("GET", "/resource/gpu/inventory", status=502, body=gateway_page(502))
        fake.inject("GET", "/resource/gpu/inventory", status=429, times=1)
        fake.inject("GET", "/resource/gpu/inventory", delay=0.01, times=1)
        before = fake_now(skew)
        answers = [
            await wire.get("/resource/gpu"),
            await wire.delete(f"/resource/gpu/{vm_id}"),
            await wire.call("GET", "/resource/gpu", key=None),
            await wire.call("GET", "", raw_url=fake.url.removesuffix("/v1") + "/nope"),
            *[await wire.get("/resource/gpu/inventory") for _ in range(4)],
        ]
        fake.set_rate_limit(1, 60.0)
        answers += [await wire.get("/resource/gpu") for _ in range(2)]
        after = fake_now(skew)
    statuses = [answer.status for answer in answers]
    assert statuses == [200, 204, 401, 404, 503, 502, 429, 200, 200, 429]
    assert answers[5].headers["Content-Type"].startswith("text/html")
    for answer in answers:
        assert before - 1 < date_of(answer) <= after, (answer.status, answer.headers)


async def test_an_injected_date_header_replaces_the_fakes_own() -> None:
    """A fault's ``Date`` header is sent instead of the fake's, still only once."""
    bogus = "Thu, 01 Jan 1970 00:00:00 GMT"
    async with running(clock_skew=300) as (fake, wire):
        fake.inject("GET", "/resource/gpu", headers={"date": bogus})
        answer = await wire.get("/resource/gpu")
    assert answer.status == 200
    assert answer.headers.getall("Date") == [bogus]


@pytest.mark.parametrize("skew", SKEWS)
async def test_rate_limit_reset_is_on_the_skewed_clock(skew: float) -> None:
    """``X-RateLimit-Reset`` is the fake's Date plus the window, while ``Retry-After`` stays."""
    async with running(clock_skew=skew, rate_limit=1, rate_window=60.0) as (_fake, wire):
        allowed = await wire.get("/resource/gpu")
        limited = await wire.get("/resource/gpu")
        now = time.time()
    assert (allowed.status, limited.status) == (200, 429)
    for answer in (allowed, limited):
        reset = int(answer.headers["X-RateLimit-Reset"])
        assert 59 <= reset - date_of(answer) <= 61
        assert abs(reset - now - skew - 60) <= 2  # not reset - time.time() == 60
    assert 59 <= int(limited.headers["Retry-After"]) <= 60


async def test_clock_aligned_window_refills_at_the_announced_reset_on_the_fakes_clock() -> None:
    """A clock-aligned 1 s window is denied just before its announced reset and refilled at it."""
    # Half a second of skew puts the fake's whole seconds between this machine's, so windows
    # aligned on this machine's clock would refill half a second off the announced reset.
    skew = -300.5
    async with running(clock_skew=skew, rate_limit=2, rate_window=1.0, rate_alignment="clock") as (
        fake,
        wire,
    ):
        now = fake_now(skew)
        if math.ceil(now) - now < 0.3:  # leave room for a probe before the window ends
            await sleep_until_fake(skew, math.ceil(now))
        started = fake_now(skew)
        burst = [await wire.get("/resource/gpu") for _ in range(3)]
        reset = int(burst[0].headers["X-RateLimit-Reset"])
        assert reset == math.floor(started) + 1  # before sleeping until it
        await sleep_until_fake(skew, reset - 0.05)
        probe = await wire.get("/resource/gpu")
        await sleep_until_fake(skew, reset)
        refilled = [await wire.get("/resource/gpu") for _ in range(2)]
        assert fake.rate_limited_count == 2
    assert [answer.status for answer in burst] == [200, 200, 429]
    assert {answer.headers["X-RateLimit-Reset"] for answer in [*burst, probe]} == {str(reset)}
    assert [reset - date_of(answer) for answer in burst] == [1, 1, 1]
    assert probe.status == 429
    assert [answer.status for answer in refilled] == [200, 200]
    assert {answer.headers["X-RateLimit-Reset"] for answer in refilled} == {str(reset + 1)}


@pytest.mark.parametrize("skew", SKEWS)
@pytest.mark.parametrize("dialect", DIALECTS)
async def test_job_and_vm_timestamps_are_on_the_skewed_clock(dialect: str, skew: float) -> None:
    """Jobs' and VMs' createdAt, updatedAt, completedAt and estimatedCompletion are skewed."""
    before = fake_now(skew)
    async with running(dialect=dialect, clock_skew=skew, job_polls=1, seed_vms=1) as (fake, wire):
        seeded = next(iter(fake.vms))
        job = (await wire.poll(job_id_of(await wire.create())))[0]
        vm_ids = [seeded, job["resourceId"]]
        vms = [(await wire.get(f"/resource/gpu/{vm_id}")).data for vm_id in vm_ids]
        after = fake_now(skew)
    assert job_state(job) == "completed"
    job_fields = ["createdAt", "updatedAt"]
    job_fields += ["completedAt"] if dialect == "guide" else ["estimatedCompletion"]
    vm_fields = ["createdAt"] if dialect == "guide" else ["createdAt", "updatedAt"]
    moments = {f"job.{name}": stamp(job[name]) for name in job_fields}
    for index, vm in enumerate(vms):
        moments |= {f"vm{index}.{name}": stamp(vm[name]) for name in vm_fields}
    late = {"job.estimatedCompletion": 1.0}  # created + 1 s per scripted poll
    for name, moment in moments.items():
        assert before - 1 < moment <= after + late.get(name, 0.0), (name, moment, before)


@pytest.mark.parametrize("skew", SKEWS)
async def test_skew_does_not_change_how_long_a_job_takes(skew: float) -> None:
    """A 0.1 s job still takes 0.1 s and estimates 0.1 s, whatever the skew."""
    async with running(clock_skew=skew, job_duration=0.1) as (_fake, wire):
        job_id = job_id_of(await wire.create())
        running_job = (await wire.poll(job_id))[0]
        await asyncio.sleep(0.12)
        finished = (await wire.poll(job_id))[0]
    assert job_state(running_job) != "completed"
    assert running_job["timeRemaining"] == "1 seconds"
    estimated = stamp(running_job["estimatedCompletion"]) - stamp(running_job["createdAt"])
    assert estimated == pytest.approx(0.1, abs=0.0015)
    assert job_state(finished) == "completed"


async def test_setting_clock_skew_mid_run_moves_later_dates_but_not_durations() -> None:
    """A clock jump moves later Dates and resets; the first-request window and log keep going."""
    async with running(rate_limit=10, rate_window=60.0) as (fake, wire):
        answers = []
        for skew in (0.0, 300.0, -300.0):
            fake.clock_skew = skew
            before = fake_now(skew)
            answer = await wire.get("/resource/gpu")
            assert before - 1 < date_of(answer) <= fake_now(skew), skew
            answers.append(answer)
        monotonic = time.monotonic()
        log_times = [entry.time for entry in fake.requests]
        assert fake.clock_skew == -300.0
    resets = [int(answer.headers["X-RateLimit-Reset"]) for answer in answers]
    assert [resets[1] - resets[0], resets[2] - resets[0]] == [300, -300]
    remaining = [answer.headers["X-RateLimit-Remaining"] for answer in answers]
    assert remaining == ["9", "8", "7"]  # one window, not restarted by the jumps
    assert log_times == sorted(log_times)
    assert monotonic - 1 < log_times[0] <= monotonic


async def test_a_clock_jump_moves_a_clock_aligned_window() -> None:
    """Jumping back 300 s puts a clock-aligned window on the new time, with a full budget."""
    async with running(rate_limit=1, rate_window=60.0, rate_alignment="clock") as (fake, wire):
        first = [await wire.get("/resource/gpu") for _ in range(2)]
        fake.clock_skew = -300
        after_jump = await wire.get("/resource/gpu")
    assert [answer.status for answer in [*first, after_jump]] == [200, 429, 200]
    reset, new_reset = (int(a.headers["X-RateLimit-Reset"]) for a in (first[0], after_jump))
    assert reset % 60 == new_reset % 60 == 0
    assert new_reset - reset in {-300, -240}  # the jump may cross one window boundary less


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "5", None, True])
def test_bad_clock_skew_is_rejected_and_named(bad: object) -> None:
    """A non-finite or non-numeric ``clock_skew`` raises ValueError naming it; nothing changes."""
    message = rf"clock_skew must be a finite number of seconds, got {re.escape(repr(bad))}"
    with pytest.raises(ValueError, match=message):
        FakeGPCN(clock_skew=bad)  # type: ignore[arg-type]
    fake = FakeGPCN(clock_skew=-2)
    with pytest.raises(ValueError, match=message):
        fake.clock_skew = bad  # type: ignore[assignment]
    assert fake.clock_skew == -2.0
    assert FakeGPCN().clock_skew == 0.0


def test_created_vm_timestamps_keep_increasing_across_a_backward_jump() -> None:
    """VMs added after the clock jumps back still sort after earlier ones (creation order)."""
    fake = FakeGPCN(seed_catalog=True)
    first = fake.vms[fake.add_vm()].created_at
    fake.clock_skew = -300
    second = fake.vms[fake.add_vm()].created_at
    assert second > first
    assert second - first < timedelta(seconds=1)
