"""Secrets stay secret: a whole workflow, with failures, never shows an API or private key."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from gpcn_async import Client, GPCNError, RetryPolicy
from gpcn_async.testing import FakeGPCN

API_KEY = "gpcn_live_S3CR3T0123456789abcdef"


def shown(value: Any) -> list[str]:
    """Every way a value is commonly shown: str, repr, and for errors their notes and cause."""
    texts = [str(value), repr(value)]
    if isinstance(value, BaseException):
        texts += list(getattr(value, "__notes__", []))
        if value.__cause__ is not None:
            texts += shown(value.__cause__)
    return texts


async def test_no_secret_in_logs_errors_or_reprs_during_a_workflow(
    dialect: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Across a full workflow with faults, no log line, error or repr shows a key."""
    caplog.set_level(logging.DEBUG)  # every logger: ours, aiohttp's, asyncio's
    texts: list[str] = []
    async with FakeGPCN(dialect=dialect, api_key=API_KEY) as fake:
        retry = RetryPolicy(max_retries=1, base_delay=0.001, max_delay=0.002)
        async with fake.client(retry=retry) as gpcn:
            texts += shown(gpcn)
            fake.inject("GET", "/resource/gpu/inventory", status=503)
            inventory = await gpcn.gpu.inventory()
            offer = next(inventory.offers())
            texts += shown(offer)
            vm = await (
                await gpcn.gpu.create(
                    name="secret-test",
                    datacenter_id=offer.datacenter.id,
                    series_id=offer.series.id,
                    gpu_count=offer.gpu_count,
                )
            )
            texts += shown(vm)
            key = await gpcn.gpu.ssh_key(vm.id)
            private_key = key.private_key
            texts += [*shown(key), f"{key}", f"{key!r}"]
            fake.inject("GET", f"/resource/gpu/{vm.id}/ssh-key", status=200, body="{trunc")
            failures: list[GPCNError] = []
            for call in (
                gpcn.gpu.ssh_key(vm.id),
                gpcn.gpu.get("no-such-vm"),
                gpcn.gpu.create(name="x", datacenter_id="nowhere", series_id=1, gpu_count=1),
            ):
                try:
                    await call
                except GPCNError as error:
                    failures.append(error)
            result = await gpcn.gpu.bulk_stop([vm.id, "no-such-vm"])
            texts += shown(result)
            try:
                result.raise_for_failures()
            except GPCNError as error:
                failures.append(error)
            texts += [text for error in failures for text in shown(error)]
        async with Client("gpcn_wrong_9876543210", base_url=fake.url) as stranger:
            try:
                await stranger.gpu.inventory()
            except GPCNError as error:
                texts += shown(error)
            texts += shown(stranger)
    assert len(failures) == 4
    secrets = [API_KEY.removeprefix("gpcn_"), "9876543210", *private_key.splitlines()[1:-1]]
    everything = "\n".join([*texts, caplog.text])
    assert caplog.records  # DEBUG lines were captured: the check below is not vacuous
    for secret in secrets:
        assert secret not in everything


def chain(error: BaseException) -> list[BaseException]:
    """The error and every exception reachable from it as a cause or context."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or any(current is other for other in seen):
            continue
        seen.append(current)
        pending += [current.__cause__, current.__context__, getattr(current, "error", None)]
    return seen


async def malformed_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer one request with a response aiohttp cannot parse (an aiohttp ClientResponseError)."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n{}")
    await writer.drain()
    writer.close()


@pytest.mark.parametrize(("method", "path"), [("GET", "/resource/gpu"), ("POST", "/resource/gpu")])
async def test_no_secret_reachable_from_an_error_about_a_malformed_answer(
    method: str, path: str
) -> None:
    """No exception chained to an error about an unparsable answer shows the API key."""
    server = await asyncio.start_server(malformed_answer, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    retry = RetryPolicy(max_retries=1, base_delay=0.001, max_delay=0.002)
    try:
        async with Client(API_KEY, base_url=url, retry=retry) as gpcn:
            with pytest.raises(GPCNError) as caught:
                await gpcn.request(method, path, json={"name": "x"} if method == "POST" else None)
    finally:
        server.close()
        await server.wait_closed()
    reachable = chain(caught.value)
    assert any("not valid HTTP" in str(error) for error in reachable)  # the walk is not vacuous
    texts = [text for error in reachable for text in (str(error), repr(error), repr(error.args))]
    assert all(API_KEY.removeprefix("gpcn_") not in text for text in texts)
