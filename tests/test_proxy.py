"""Proxies from the environment: HTTPS_PROXY and NO_PROXY are honoured unless trust_env=False.

A tiny proxy on 127.0.0.1 records what it is asked and refuses every tunnel with 502, and a
tiny "server" on 127.0.0.1 records direct connections and closes them: nothing leaves the
machine, and no TLS handshake ever completes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from gpcn_async import Client, ConfigurationError, RetryPolicy, TransportError
from gpcn_async.cli import main
from tests.support import LoopThread


@dataclass
class Listener:
    """A TCP listener on 127.0.0.1 that records the first line of each connection.

    One that answers also records the header lines of each request head it reads, in ``heads``.
    """

    answer: bytes
    lines: list[str] = field(default_factory=list)
    heads: list[list[str]] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Record the first line (or an empty one), answer, and close."""
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=5)
            self.lines.append(line.decode("latin-1").strip())
            if self.answer:
                # Read the rest of the request head first: the client then reads the answer.
                head = []
                while header := (await reader.readline()).strip():
                    head.append(header.decode("latin-1"))
                self.heads.append(head)
                writer.write(self.answer)
                await writer.drain()
        finally:
            writer.close()


async def listen(answer: bytes) -> tuple[Listener, asyncio.Server]:
    """Start a listener on a free port of 127.0.0.1."""
    listener = Listener(answer)
    server = await asyncio.start_server(listener.handle, "127.0.0.1", 0)
    listener.port = server.sockets[0].getsockname()[1]
    return listener, server


# Every request, a CONNECT included, is refused: the tunnel is never made.
PROXY_ANSWER = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"


@pytest.fixture
async def proxy() -> AsyncIterator[Listener]:
    """A proxy that answers every request (a CONNECT included) with 502 Bad Gateway."""
    listener, server = await listen(PROXY_ANSWER)
    async with server:
        yield listener


@pytest.fixture
async def origin() -> AsyncIterator[Listener]:
    """Where a direct connection lands: it records the TLS hello's first bytes and closes."""
    listener, server = await listen(b"")
    async with server:
        yield listener


@pytest.fixture(autouse=True)
def no_gpcn_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here sees GPCN settings from outside (conftest.py removes proxy settings)."""
    monkeypatch.delenv("GPCN_API_KEY", raising=False)
    monkeypatch.delenv("GPCN_BASE_URL", raising=False)


def https_url(origin: Listener) -> str:
    """An https:// base URL on the local origin (https: a proxy gets a CONNECT for it)."""
    return f"https://127.0.0.1:{origin.port}/v1"


async def get_inventory(origin: Listener, *, trust_env: bool = True) -> None:
    """One inventory read, not retried, that cannot succeed: it fails with TransportError."""
    no_retries = RetryPolicy(max_retries=0)
    url = https_url(origin)
    async with Client("gpcn_test", base_url=url, retry=no_retries, trust_env=trust_env) as gpcn:
        with pytest.raises(TransportError):
            await gpcn.gpu.inventory()


async def test_https_proxy_gets_a_connect_by_default(
    proxy: Listener, origin: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HTTPS_PROXY set, the client's own session asks the proxy to CONNECT to the API."""
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    async with Client("gpcn_test", base_url=https_url(origin)) as gpcn:  # trust_env by default
        with pytest.raises(TransportError, match="502"):
            await gpcn.gpu.inventory()
    assert proxy.lines == [f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1"]
    assert origin.lines == []


async def test_the_proxy_is_never_sent_the_api_key(
    proxy: Listener, origin: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CONNECT carries none of the client's own headers: the key is for the API alone."""
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    async with Client("gpcn_test_key_42", base_url=https_url(origin)) as gpcn:
        with pytest.raises(TransportError, match="502"):
            await gpcn.gpu.inventory()
    [head] = proxy.heads
    assert head  # the CONNECT's Host line at least
    assert not [line for line in head if "gpcn_test_key_42" in line or "gpcn-async" in line]


async def test_trust_env_false_ignores_the_proxy(
    proxy: Listener, origin: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """trust_env=False connects directly, whatever HTTPS_PROXY says."""
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    await get_inventory(origin, trust_env=False)
    assert proxy.lines == []
    assert len(origin.lines) == 1


async def test_no_proxy_sends_the_host_directly(
    proxy: Listener, origin: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host listed in NO_PROXY is reached directly, not through HTTPS_PROXY."""
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    await get_inventory(origin)
    assert proxy.lines == []
    assert len(origin.lines) == 1


def test_trust_env_must_be_a_bool() -> None:
    """A trust_env that is not True or False is a ConfigurationError naming it."""
    with pytest.raises(ConfigurationError, match="trust_env"):
        Client("gpcn_test", trust_env="no")  # type: ignore[arg-type]


def test_the_command_line_honours_https_proxy(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`gpcn` asks the HTTPS_PROXY to CONNECT to the API, and reports the refusal on one line."""
    servers = LoopThread()
    proxy, proxy_server = servers.run(listen(PROXY_ANSWER))
    origin, origin_server = servers.run(listen(b""))
    try:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("GPCN_API_KEY", "gpcn_test")
        code = main(["--base-url", https_url(origin), "inventory"])
    finally:
        for server in (proxy_server, origin_server):
            server.close()
            servers.run(server.wait_closed())
        servers.close()
    assert code == 1
    assert proxy.lines == [f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1"]
    assert origin.lines == []
    assert capsys.readouterr().err.startswith("gpcn: error: ")
