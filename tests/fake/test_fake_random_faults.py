"""Random faults (chaos for soak tests), checked over raw HTTP."""

from __future__ import annotations

import aiohttp
import pytest

from gpcn_async.testing import FakeGPCN
from tests.fake.fake_support import running


async def statuses(seed: int, count: int) -> list[int]:
    """The statuses of ``count`` reads against a fake throwing 503s at half the requests."""
    async with running() as (fake, wire):
        fake.inject_random(0.5, faults=[{"status": 503}], seed=seed)
        return [(await wire.get("/resource/gpu")).status for _ in range(count)]


async def test_random_faults_hit_about_the_rate_and_replay_by_seed() -> None:
    """About rate x requests get a fault, and the same seed gives the same sequence."""
    first = await statuses(seed=7, count=60)
    again = await statuses(seed=7, count=60)
    assert first == again
    assert set(first) == {200, 503}
    assert 15 <= first.count(503) <= 45


async def test_random_faults_apply_only_to_matching_requests() -> None:
    """A method and path glob limit which requests may get a fault."""
    async with running() as (fake, wire):
        chaos = fake.inject_random(
            1.0, faults=[{"status": 500}], method="POST", path="/resource/jobs"
        )
        read = await wire.get("/resource/gpu")
        poll = await wire.post("/resource/jobs", {"jobIds": ["x"]})
    assert (read.status, poll.status) == (200, 500)
    assert chaos.hits == 1


async def test_injected_faults_come_before_random_ones() -> None:
    """An injected fault takes a request before the random faults are considered."""
    async with running() as (fake, wire):
        fake.inject_random(1.0, faults=[{"status": 500}])
        fake.inject("GET", "/resource/gpu", status=418)
        first = await wire.get("/resource/gpu")
        second = await wire.get("/resource/gpu")
        fake.clear_faults()
        third = await wire.get("/resource/gpu")
    assert [first.status, second.status, third.status] == [418, 500, 200]


async def test_default_mix_includes_drops_and_gateway_pages() -> None:
    """With the default mix every request gets one of its faults, each kind showing up."""
    async with running() as (fake, wire):
        fake.inject_random(1.0, seed=3)
        for _ in range(80):
            try:
                await wire.get("/resource/gpu")
            except aiohttp.ClientError:  # a dropped connection is one of the faults
                continue
        seen = {record.status for record in fake.requests}
    assert {0, 429, 500, 502, 503, 504} <= seen


@pytest.mark.parametrize(
    ("rate", "faults"),
    [(1.5, None), (-0.1, None), (True, None), (0.5, []), (0.5, [{"status": 503, "times": 2}])],
)
def test_impossible_random_faults_are_refused(rate: object, faults: object) -> None:
    """A rate outside [0, 1], an empty mix or a fault with times raises ValueError."""
    fake = FakeGPCN()
    with pytest.raises(ValueError, match=r"rate|faults|times"):
        fake.inject_random(rate, faults=faults)  # type: ignore[arg-type]
