"""A pytest plugin with the fixtures ``gpcn_fake`` and ``gpcn_client``.

Enable it with the ``pytest11`` entry point (``gpcn_async = "gpcn_async.testing.pytest_plugin"``)
or ``-p gpcn_async.testing.pytest_plugin``. The fixtures are async: they need pytest-asyncio.

Choose the dialect by parametrizing ``gpcn_dialect`` (default ``"reference"``)::

    @pytest.mark.parametrize("gpcn_dialect", ["guide", "reference"])
    async def test_lists(gpcn_client, gpcn_fake): ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from gpcn_async.testing._server import FakeGPCN

if TYPE_CHECKING:
    from gpcn_async import Client

__all__ = ["gpcn_client", "gpcn_dialect", "gpcn_fake"]

try:
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pragma: no cover - without pytest-asyncio the async fixtures cannot run
    _async_fixture = pytest.fixture  # type: ignore[assignment]


@pytest.fixture
def gpcn_dialect() -> str:
    """The wire dialect ``gpcn_fake`` speaks; parametrize or override it to change it."""
    return "reference"


@_async_fixture
async def gpcn_fake(gpcn_dialect: str) -> AsyncIterator[FakeGPCN]:
    """A running ``FakeGPCN`` speaking ``gpcn_dialect``, closed after the test."""
    async with FakeGPCN(dialect=gpcn_dialect) as fake:
        yield fake


@_async_fixture
async def gpcn_client(gpcn_fake: FakeGPCN) -> AsyncIterator[Client]:
    """A ``gpcn_async.Client`` pointed at ``gpcn_fake`` (fast retries and polls), closed after."""
    async with gpcn_fake.client() as client:
        yield client
