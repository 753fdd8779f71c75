"""Fixtures shared by the SDK's tests: a FakeGPCN per test, in each dialect, and a fast client.

The PostgreSQL journal's tests share one throwaway cluster per test session, with a database
of its own for each test. Run in parallel (``make pytest``), each worker process is a session
of its own: a worker that meets such a test starts its own cluster, on a free port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from gpcn_async import Client
from gpcn_async.testing import FakeGPCN
from tests.postgres import Cluster, cluster, missing

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")


@pytest.fixture(autouse=True)
def no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the machine's proxy settings (either case): clients talk to 127.0.0.1 only.

    Clients honour them by default (``trust_env``), and so would the ``gpcn`` processes and
    example scripts the tests start, which inherit this environment.
    """
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


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


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """One throwaway PostgreSQL cluster for the session (skipped, saying what to install, without).

    Its programs missing, the tests that use it skip with a message saying what to install.
    """
    reason = missing()
    if reason is not None:
        pytest.skip(reason)
    with cluster() as running:
        yield running


@pytest.fixture
async def postgres_url(postgres: Cluster) -> str:
    """The URL (password included) of a new, empty database of the session's cluster."""
    return await postgres.new_database()
