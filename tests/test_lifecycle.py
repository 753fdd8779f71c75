"""A client's life: one event loop, closing ends every wait at once, and closing survives cancel.

Also the connect limit: a server that cannot be reached while connecting means "not sent", so
even a create is tried again rather than reported as an unknown outcome.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import time
import warnings
from collections.abc import Iterator

import pytest

from gpcn_async import (
    Client,
    ClientStateError,
    OutcomeUnknownError,
    RetryPolicy,
    TransportError,
)
from gpcn_async.testing import FakeGPCN
from tests.support import eventually

GET_VMS = ("GET", "/resource/gpu")


async def test_close_ends_a_request_pausing_between_retries(fake: FakeGPCN) -> None:
    """aclose() fails a request sleeping in its retry backoff at once, not after max_delay."""
    fake.inject(*GET_VMS, status=503, times=None)
    retry = RetryPolicy(max_retries=5, base_delay=60.0, max_delay=60.0)
    gpcn = fake.client(retry=retry)
    task = asyncio.create_task(gpcn.request(*GET_VMS))
    await eventually(lambda: bool(fake.requests_to(*GET_VMS)))
    await asyncio.sleep(0.02)  # the 503 arrived: the request now pauses up to 60 s
    started = time.monotonic()
    await gpcn.aclose()
    with pytest.raises(TransportError, match="closed meanwhile"):
        await task
    assert time.monotonic() - started < 5  # far below the pause


async def test_a_cancelled_close_still_closes(fake: FakeGPCN) -> None:
    """Cancelling aclose() mid-way leaves the client closed and its session closed, no warning."""
    gpcn = fake.client()
    waiter = asyncio.create_task(gpcn.jobs.attach(fake.add_job(polls=1000)).wait())
    await eventually(lambda: bool(fake.requests_to("POST", "/resource/jobs")))
    closing = asyncio.create_task(gpcn.aclose())
    await asyncio.sleep(0)  # aclose() runs up to its first await: the poller's tasks
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    with pytest.raises(TransportError, match="closed"):
        await waiter
    assert gpcn.closed
    with pytest.raises(ClientStateError):
        await gpcn.request(*GET_VMS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del gpcn
        gc.collect()
    assert not [w for w in caught if "Unclosed" in str(w.message)]


def test_a_client_of_an_earlier_asyncio_run_refuses_work_in_the_next() -> None:
    """A client entered and closed under one asyncio.run() raises ClientStateError in the next."""
    with serving() as (url, key):
        gpcn = Client(key, base_url=url)

        async def first() -> None:
            async with gpcn:
                await gpcn.request(*GET_VMS)

        async def second() -> None:
            with pytest.raises(ClientStateError, match="closed"):
                await gpcn.request(*GET_VMS)

        asyncio.run(first())
        asyncio.run(second())


async def test_a_client_used_from_another_threads_loop_says_so(fake: FakeGPCN) -> None:
    """Calling a client from another thread's event loop raises ClientStateError there."""
    async with fake.client() as gpcn:
        await gpcn.request(*GET_VMS)
        outcome: list[BaseException] = []

        async def elsewhere() -> None:
            try:
                await gpcn.gpu.get("vm-1")
            except ClientStateError as error:
                outcome.append(error)

        thread = threading.Thread(target=lambda: asyncio.run(elsewhere()))
        thread.start()
        await asyncio.to_thread(thread.join, 10)
    assert len(outcome) == 1
    assert fake.count("GET", "/resource/gpu/vm-1") == 0  # refused before any request


@pytest.fixture
def unreachable_port() -> Iterator[int]:
    """A loopback port whose accept queue is full: connecting to it hangs."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port: int = server.getsockname()[1]
        fillers = []
        for _ in range(4):  # more than the backlog: later SYNs are dropped
            filler = socket.socket()
            filler.setblocking(False)  # noqa: FBT003 -- socket's own signature
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        try:
            yield port
        finally:
            for filler in fillers:
                filler.close()


async def test_a_create_that_timed_out_while_connecting_was_not_sent(
    unreachable_port: int,
) -> None:
    """A connect that never completes is "not sent": a create is retried, never unknown."""
    retry = RetryPolicy(max_retries=1, base_delay=0.001, max_delay=0.002)
    url = f"http://127.0.0.1:{unreachable_port}/v1"
    async with Client("gpcn_test", base_url=url, retry=retry, timeout=0.2) as gpcn:
        started = time.monotonic()
        with pytest.raises(TransportError, match="could not be made") as caught:
            await gpcn.request("POST", "/resource/gpu", json={"name": "x"})
    assert not isinstance(caught.value, OutcomeUnknownError)
    assert time.monotonic() - started >= 0.35  # two tries of 0.2 s each


class serving:  # noqa: N801 -- used as a context manager, like a function
    """A FakeGPCN on its own thread and loop, for tests that run asyncio.run() themselves."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()))
        self.url = ""
        self.key = ""

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with FakeGPCN() as fake:
            self.url, self.key = fake.url, fake.api_key
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> tuple[str, str]:
        self._thread.start()
        assert self._ready.wait(10)
        return self.url, self.key

    def __exit__(self, *_: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
