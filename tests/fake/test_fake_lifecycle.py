from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest

import gpcn_async.testing
from gpcn_async.testing import FakeGPCN
from tests.fake.fake_support import DIALECTS, running


def test_all_is_sorted_and_importable() -> None:
    """The testing package's ``__all__`` is sorted and every name in it exists."""
    names = gpcn_async.testing.__all__
    assert names == sorted(names)
    assert all(hasattr(gpcn_async.testing, name) for name in names)
    assert "FakeGPCN" in names


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"dialect": "openapi"}, "openapi"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"rate_window": 0}, "rate_window"),
        ({"rate_window": float("nan")}, "rate_window"),
        ({"job_polls": 0}, "job_polls"),
        ({"job_duration": -1.0}, "job_duration"),
        ({"port": 70000}, "port"),
        ({"api_key": ""}, "api_key"),
    ],
)
def test_constructor_rejects_bad_arguments(options: dict[str, Any], named: str) -> None:
    """Each bad constructor argument raises ValueError naming it."""
    with pytest.raises(ValueError, match=named):
        FakeGPCN(**options)


def test_url_before_start_raises() -> None:
    """``url`` is unavailable until the fake has been started."""
    with pytest.raises(RuntimeError, match="not been started"):
        _ = FakeGPCN().url


def test_api_key_is_generated_with_the_test_prefix() -> None:
    """Without an api_key the fake makes a fresh ``gpcn_test_`` key of 24 hex digits."""
    first, second = FakeGPCN(), FakeGPCN()
    assert re.fullmatch(r"gpcn_test_[0-9a-f]{24}", first.api_key)
    assert first.api_key != second.api_key
    assert FakeGPCN(api_key="gpcn_mine").api_key == "gpcn_mine"


async def test_serves_on_loopback_and_closes() -> None:
    """The fake listens on 127.0.0.1 under /v1 while running, and refuses connections after."""
    fake = FakeGPCN(dialect="guide")
    await fake.start()
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", fake.url)
        with pytest.raises(RuntimeError, match="already running"):
            await fake.start()
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                fake.url + "/resource/jobs", headers={"X-API-Key": fake.api_key}
            ) as response,
        ):
            assert response.status == 404  # GET is not a route; the server answered
    finally:
        await fake.close()
    await fake.close()  # a second close is harmless
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(fake.url + "/resource/gpu")


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_dialect_is_exposed(dialect: str) -> None:
    """The fake reports the dialect it was built with."""
    async with running(dialect=dialect) as (fake, _wire):
        assert fake.dialect == dialect
