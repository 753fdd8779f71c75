"""Fixtures shared by the SDK's tests: a FakeGPCN per test, in each dialect, and a fast client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gpcn_async import Client
from gpcn_async.testing import FakeGPCN


@pytest.fixture(params=["guide", "reference"])
def dialect(request: pytest.FixtureRequest) -> str:
    """Each test that uses the fake runs once per wire dialect."""
    return str(request.param)


@pytest.fixture
async def fake(dialect: str) -> AsyncIterator[FakeGPCN]:
    """A started FakeGPCN speaking the dialect under test."""
    async with FakeGPCN(dialect=dialect) as server:
        yield server


@pytest.fixture
async def gpcn(fake: FakeGPCN) -> AsyncIterator[Client]:
    """A client of the fake with millisecond retry and poll delays."""
    async with fake.client() as client:
        yield client
