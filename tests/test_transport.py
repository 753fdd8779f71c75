"""The request pipeline over real HTTP to FakeGPCN: errors, retries, rate limits, cancellation."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any

import aiohttp
import aiohttp.web
import pytest

from gpcn_async import Client, RetryPolicy
from gpcn_async.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ClientStateError,
    ConflictError,
    NotFoundError,
    NotSupportedError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    TransportError,
)
from gpcn_async.testing import FakeGPCN
from tests.support import eventually, one_dialect

GET_VMS = ("GET", "/resource/gpu")


def create_body(fake: FakeGPCN, name: str = "train-01") -> dict[str, Any]:
    """A create body the fake accepts, for the fake's dialect, on an offer made available."""
    series, datacenter = fake.series[0], fake.datacenters[0]
    fake.set_availability(series.code, datacenter.id, 1, available=True)
    series_id: int | str = series.guide_id if fake.dialect == "guide" else series.id
    return {"name": name, "datacenterId": datacenter.id, "seriesId": series_id, "gpuCount": 1}


STATUS_ERRORS = [
    (400, BadRequestError),
    (401, AuthenticationError),
    (403, PermissionDeniedError),
    (404, NotFoundError),
    (409, ConflictError),
    (422, BadRequestError),
    (501, NotSupportedError),
]


@pytest.mark.parametrize(("status", "cls"), STATUS_ERRORS)
async def test_error_status_raises_its_typed_error(
    fake: FakeGPCN, gpcn: Client, status: int, cls: type[APIError]
) -> None:
    """Each error status of the dialect raises its class, with code, message and request id."""
    fake.inject(*GET_VMS, status=status)
    with pytest.raises(cls) as caught:
        await gpcn.request(*GET_VMS)
    error = caught.value
    assert error.status == status
    assert error.code
    assert error.message
    assert error.request_id
    assert fake.count(*GET_VMS) == 1  # client errors are never retried


async def test_route_not_found_is_a_not_found_error(gpcn: Client) -> None:
    """An unknown route's bare {"message": ...} body becomes a NotFoundError without a code."""
    with pytest.raises(NotFoundError) as caught:
        await gpcn.request("GET", "/no/such/route")
    assert caught.value.code is None
    assert caught.value.message == "Route Not Found"


async def test_wrong_api_key_is_an_authentication_error(fake: FakeGPCN) -> None:
    """A key the server rejects raises AuthenticationError, without showing the key."""
    async with fake.client(api_key="gpcn_wrong_key_123") as gpcn:
        with pytest.raises(AuthenticationError) as caught:
            await gpcn.request(*GET_VMS)
    assert "wrong_key_123" not in str(caught.value)
    assert "wrong_key_123" not in repr(caught.value)


async def test_gpu_features_disabled_is_permission_denied(dialect: str) -> None:
    """An account without GPU features gets PermissionDeniedError on GPU endpoints."""
    async with FakeGPCN(dialect=dialect, gpu_enabled=False) as fake, fake.client() as gpcn:
        with pytest.raises(PermissionDeniedError) as caught:
            await gpcn.request(*GET_VMS)
    assert "GPU feature not enabled" in caught.value.message


async def test_html_gateway_page_is_a_server_error_after_retries(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """A 502 HTML page is retried, then raised as ServerError titled by the page."""
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    fake.inject(*GET_VMS, status=502, body=page, times=None)
    with pytest.raises(ServerError) as caught:
        await gpcn.request(*GET_VMS)
    assert caught.value.message == "502 Bad Gateway"
    assert fake.count(*GET_VMS) == gpcn.retry.max_retries + 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_safe_request_is_retried_on_server_errors(
    fake: FakeGPCN, gpcn: Client, status: int
) -> None:
    """A read that fails with 500/502/503/504 twice succeeds on the third try."""
    fake.inject(*GET_VMS, status=status, times=2)
    assert await gpcn.request(*GET_VMS) == []
    assert fake.count(*GET_VMS) == 3


async def test_persistent_failure_is_tried_max_retries_plus_one_times(fake: FakeGPCN) -> None:
    """A retryable failure that persists is tried exactly max_retries + 1 times in all."""
    fake.inject(*GET_VMS, status=503, times=None)
    retry = RetryPolicy(max_retries=2, base_delay=0.001, max_delay=0.002)
    async with fake.client(retry=retry) as gpcn:
        with pytest.raises(ServerError):
            await gpcn.request(*GET_VMS)
    assert fake.count(*GET_VMS) == 3


async def test_dropped_connection_on_a_state_change_is_retried(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """A stop whose connection drops is safe to repeat, so it is sent again and succeeds."""
    vm_id = fake.add_vm(name="a")
    path = f"/resource/gpu/{vm_id}/stop"
    fake.inject("POST", path, disconnect=True)  # aiohttp itself never re-sends a POST
    await gpcn.request("POST", path)
    assert fake.count("POST", path) == 2
    assert fake.vms[vm_id].status == "Stopped"


async def test_slow_read_times_out_and_is_retried(fake: FakeGPCN) -> None:
    """A read slower than the per-request timeout is abandoned and sent again."""
    fake.inject(*GET_VMS, delay=1.0)
    # Half a second: the retry must not time out too on a busy machine (the suite runs in parallel).
    async with fake.client(timeout=0.5) as gpcn:
        assert await gpcn.request(*GET_VMS) == []
    assert fake.count(*GET_VMS) == 2


async def test_state_change_is_retried_on_500(fake: FakeGPCN, gpcn: Client) -> None:
    """Stopping a VM is safe to repeat, so a 500 is retried."""
    vm_id = fake.add_vm(name="a")
    fake.inject("POST", f"/resource/gpu/{vm_id}/stop", status=500)
    await gpcn.request("POST", f"/resource/gpu/{vm_id}/stop")
    assert fake.count("POST", f"/resource/gpu/{vm_id}/stop") == 2


async def test_not_supported_is_not_retried(fake: FakeGPCN, gpcn: Client) -> None:
    """A 501 on start is final: NotSupportedError after one request."""
    vm_id = fake.add_vm(name="a")
    fake.set_unsupported("start", unsupported=True)
    with pytest.raises(NotSupportedError):
        await gpcn.request("POST", f"/resource/gpu/{vm_id}/start")
    assert fake.count("POST", f"/resource/gpu/{vm_id}/start") == 1


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"status": 500, "after_commit": True}, id="500-after-commit"),
        pytest.param({"status": 502, "after_commit": True}, id="502-after-commit"),
        pytest.param({"status": 503}, id="503"),
        pytest.param({"disconnect": True, "after_commit": True}, id="dropped-after-commit"),
        pytest.param({"disconnect": True}, id="dropped-before-commit"),
    ],
)
async def test_create_is_never_sent_twice_once_it_may_have_arrived(
    fake: FakeGPCN, gpcn: Client, fault: dict[str, Any]
) -> None:
    """A create answered 5xx or cut off raises OutcomeUnknownError and is sent exactly once."""
    fake.inject("POST", "/resource/gpu", **fault)
    with pytest.raises(OutcomeUnknownError) as caught:
        await gpcn.request("POST", "/resource/gpu", json=create_body(fake, "train-07"))
    assert fake.count("POST", "/resource/gpu") == 1
    assert caught.value.vm_name == "train-07"
    assert "train-07" in str(caught.value)
    assert str(caught.value).count("POST /resource/gpu") == 1  # the request is named once
    expected_vms = 1 if fault.get("after_commit") else 0
    assert fake.created_vm_count == expected_vms


async def test_create_that_times_out_is_an_unknown_outcome(fake: FakeGPCN) -> None:
    """A create slower than the timeout is not re-sent: the server may still make the VM."""
    fake.inject("POST", "/resource/gpu", delay=1.0)
    async with fake.client(timeout=0.1) as gpcn:
        with pytest.raises(OutcomeUnknownError):
            await gpcn.request("POST", "/resource/gpu", json=create_body(fake))
    assert fake.count("POST", "/resource/gpu") == 1


async def test_create_answered_429_is_sent_again(fake: FakeGPCN, gpcn: Client) -> None:
    """A 429 means the server did not act, so even a create is retried, and makes one VM."""
    fake.inject("POST", "/resource/gpu", status=429, headers={"Retry-After": "0.05"})
    await gpcn.request("POST", "/resource/gpu", json=create_body(fake))
    assert fake.count("POST", "/resource/gpu") == 2
    assert fake.created_vm_count == 1


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_create_that_could_not_connect_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    """A refused connection never reached the server, so a create is tried max_retries + 1 times."""
    retry = RetryPolicy(max_retries=2, base_delay=0.001, max_delay=0.002)
    client = Client("gpcn_test", base_url=f"http://127.0.0.1:{closed_port()}/v1", retry=retry)
    caplog.set_level(logging.DEBUG, logger="gpcn_async")
    async with client:
        with pytest.raises(TransportError) as caught:
            await client.request("POST", "/resource/gpu", json={"name": "x"})
    assert not isinstance(caught.value, OutcomeUnknownError)
    attempts = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(attempts) == 3


@one_dialect
async def test_rate_limit_pause_is_shared_by_all_requests(fake: FakeGPCN, gpcn: Client) -> None:
    """After one 429, requests started during the pause reach the server only after it ends."""
    fake.inject(*GET_VMS, status=429, headers={"Retry-After": "0.3"})
    first = asyncio.create_task(gpcn.request(*GET_VMS))
    await eventually(lambda: bool(fake.requests_to(*GET_VMS)))
    answered_429 = fake.requests_to(*GET_VMS)[0].time
    await asyncio.sleep(0.02)  # let the 429 reach the client
    others = [gpcn.request("GET", "/resource/gpu/inventory") for _ in range(5)]
    await asyncio.gather(first, *others)
    later = fake.requests[1:]
    assert len(later) == 6
    assert all(r.time >= answered_429 + 0.25 for r in later)


async def test_body_retry_after_pauses_when_there_is_no_header(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """The rate limiter's body field retryAfter decides the pause when Retry-After is absent."""
    body = {"success": False, "error": {"code": "Rate Limited", "message": "x", "retryAfter": 0.2}}
    fake.inject(*GET_VMS, status=429, body=body)
    started = time.monotonic()
    await gpcn.request(*GET_VMS)
    assert time.monotonic() - started >= 0.18
    assert fake.count(*GET_VMS) == 2


async def test_over_long_retry_after_fails_fast_for_every_request(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """A Retry-After beyond max_rate_limit_wait raises RateLimitError at once, later calls too."""
    fake.inject(*GET_VMS, status=429, headers={"Retry-After": "840"})
    started = time.monotonic()
    with pytest.raises(RateLimitError) as caught:
        await gpcn.request(*GET_VMS)
    assert caught.value.retry_after == pytest.approx(840, abs=1)
    with pytest.raises(RateLimitError):
        await gpcn.request("GET", "/resource/gpu/inventory")
    assert time.monotonic() - started < 1.0
    assert len(fake.requests) == 1


async def test_429s_do_not_use_up_the_retries_meant_for_faults(fake: FakeGPCN) -> None:
    """A read answered 429 more times than max_retries still succeeds: waiting is not a fault."""
    retry = RetryPolicy(max_retries=1, base_delay=0.001, max_delay=0.002, max_rate_limit_wait=5.0)
    fake.inject(*GET_VMS, status=429, headers={"Retry-After": "0.01"}, times=4)
    async with fake.client(retry=retry) as gpcn:
        assert await gpcn.request(*GET_VMS) == []
    assert fake.count(*GET_VMS) == 5


async def test_a_call_gives_up_once_its_429_waits_together_exceed_the_limit(
    fake: FakeGPCN,
) -> None:
    """Each 429's wait is allowed, but once they add up past max_rate_limit_wait: RateLimitError."""
    retry = RetryPolicy(max_retries=10, base_delay=0.001, max_delay=0.002, max_rate_limit_wait=0.1)
    fake.inject(*GET_VMS, status=429, headers={"Retry-After": "0.04"}, times=None)
    async with fake.client(retry=retry) as gpcn:
        with pytest.raises(RateLimitError):
            await gpcn.request(*GET_VMS)
    assert fake.count(*GET_VMS) == 3  # 0.04 + 0.04 + 0.04 > 0.1


async def test_a_429_asking_for_no_wait_is_retried_as_a_fault(fake: FakeGPCN) -> None:
    """A 429 with Retry-After 0 has nothing to wait out: it is tried max_retries + 1 times."""
    retry = RetryPolicy(max_retries=2, base_delay=0.001, max_delay=0.002, max_rate_limit_wait=5.0)
    fake.inject(*GET_VMS, status=429, headers={"Retry-After": "0"}, times=None)
    async with fake.client(retry=retry) as gpcn:
        with pytest.raises(RateLimitError):
            await gpcn.request(*GET_VMS)
    assert fake.count(*GET_VMS) == 3


@one_dialect
async def test_pacing_from_headers_meets_no_429(dialect: str) -> None:
    """Against an enforced small window, the client paces itself and never meets a 429."""
    async with (
        FakeGPCN(dialect=dialect, rate_limit=10, rate_window=0.2) as fake,
        fake.client() as gpcn,
    ):
        await gpcn.request(*GET_VMS)  # learn the window from the first answer
        await asyncio.gather(*(gpcn.request(*GET_VMS) for _ in range(29)))
    assert fake.rate_limited_count == 0
    assert fake.count(*GET_VMS) == 30


async def test_cancelling_mid_request_propagates_and_leaves_the_client_usable(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """A cancelled request raises CancelledError at once, is not retried; the client works on."""
    fake.inject(*GET_VMS, delay=5.0)
    task = asyncio.create_task(gpcn.request(*GET_VMS))
    await eventually(lambda: bool(fake.requests_to(*GET_VMS)))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await gpcn.request("GET", "/resource/gpu/inventory") is not None
    assert fake.count(*GET_VMS) == 1


async def test_cancelling_during_retry_backoff_propagates(fake: FakeGPCN) -> None:
    """A request cancelled while it sleeps before a retry stops at once."""
    fake.inject(*GET_VMS, status=503, times=None)
    retry = RetryPolicy(base_delay=30.0, max_delay=30.0)
    async with fake.client(retry=retry) as gpcn:
        task = asyncio.create_task(gpcn.request(*GET_VMS))
        await eventually(lambda: bool(fake.requests_to(*GET_VMS)))
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=1.0)


async def test_malformed_json_success_is_a_decode_error(fake: FakeGPCN, gpcn: Client) -> None:
    """A 200 whose body is not JSON raises ResponseDecodeError and is not retried."""
    fake.inject(*GET_VMS, status=200, body="{not json")
    with pytest.raises(ResponseDecodeError) as caught:
        await gpcn.request(*GET_VMS)
    assert caught.value.status == 200
    assert fake.count(*GET_VMS) == 1


async def test_every_request_carries_the_key_and_user_agent(fake: FakeGPCN, gpcn: Client) -> None:
    """The API key and a gpcn-async User-Agent go with every request."""
    await gpcn.request(*GET_VMS)
    headers = fake.requests[0].headers
    assert headers["X-API-Key"] == fake.api_key
    assert headers["User-Agent"].startswith("gpcn-async/")


async def test_rate_limit_snapshot_follows_the_headers(fake: FakeGPCN, gpcn: Client) -> None:
    """gpcn.rate_limit is None before any answer and then mirrors X-RateLimit-*."""
    before = gpcn.rate_limit
    assert before is None
    await gpcn.request(*GET_VMS)
    snapshot = gpcn.rate_limit
    assert snapshot is not None
    assert snapshot.limit == 100_000
    assert snapshot.remaining == 99_999
    assert snapshot.reset_at.tzinfo is not None


async def test_borrowed_session_is_left_open(fake: FakeGPCN) -> None:
    """A session passed in is used for requests and never closed by the client."""
    async with aiohttp.ClientSession() as session:
        async with fake.client(session=session) as gpcn:
            await gpcn.request(*GET_VMS)
        assert gpcn.closed
        assert not session.closed
        async with session.get(fake.url + "/resource/gpu") as response:
            assert response.status == 401  # still usable: it just has no key of its own


async def test_owned_session_is_closed_and_the_client_refuses_more_work(fake: FakeGPCN) -> None:
    """After aclose(), calls raise ClientStateError at once and a second aclose() is harmless."""
    gpcn = fake.client()
    await gpcn.request(*GET_VMS)  # the session is made on first use without async with
    await gpcn.aclose()
    await gpcn.aclose()
    with pytest.raises(ClientStateError, match="closed"):
        await gpcn.request(*GET_VMS)
    with pytest.raises(ClientStateError, match="closed"):
        await gpcn.gpu.get("vm-1")
    with pytest.raises(ClientStateError, match="closed"):
        await gpcn.jobs.attach("job-1").wait()
    assert fake.count(*GET_VMS) == 1


async def test_secrets_never_reach_logs_errors_or_repr(
    fake: FakeGPCN, caplog: pytest.LogCaptureFixture
) -> None:
    """The API key appears in no log line, error string or repr, even on failures and retries."""
    caplog.set_level(logging.DEBUG)
    fake.inject(*GET_VMS, status=503, times=2)
    fake.inject("GET", "/resource/gpu/missing", status=404)
    texts: list[str] = []
    async with fake.client() as gpcn:
        texts.append(repr(gpcn))
        await gpcn.request(*GET_VMS)
        try:
            await gpcn.request("GET", "/resource/gpu/missing")
        except APIError as error:
            texts += [str(error), repr(error)]
    secret = fake.api_key.removeprefix("gpcn_")
    assert caplog.records  # the DEBUG request lines were captured
    assert secret not in caplog.text
    assert all(secret not in text for text in texts)
    assert "gpcn_…" in texts[0]


async def test_logging_tells_each_attempt_retry_and_pause(
    fake: FakeGPCN, gpcn: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """The gpcn_async logger gives one DEBUG line per attempt and INFO for retries and pauses."""
    caplog.set_level(logging.DEBUG, logger="gpcn_async")
    fake.inject(*GET_VMS, status=503)
    fake.inject(*GET_VMS, status=429, headers={"Retry-After": "0.01"})
    await gpcn.request(*GET_VMS)
    ours = [r for r in caplog.records if r.name == "gpcn_async"]
    attempts = [r.getMessage() for r in ours if r.levelno == logging.DEBUG]
    assert len(attempts) == 3
    assert attempts[0].startswith("GET /resource/gpu -> 503 (attempt 1, ")
    assert attempts[1].startswith("GET /resource/gpu -> 429 (attempt 2, ")
    assert attempts[2].startswith("GET /resource/gpu -> 200 (attempt 3, ")
    infos = [r.getMessage() for r in ours if r.levelno == logging.INFO]
    assert sum(message.startswith("retrying GET /resource/gpu") for message in infos) == 2
    assert any("pausing all requests" in message for message in infos)


async def test_dropped_read_is_tried_max_retries_plus_one_times_in_all(fake: FakeGPCN) -> None:
    """A GET whose connection always drops reaches the server max_retries + 1 times in all."""
    vm_id = fake.add_vm(name="a")
    fake.inject("GET", f"/resource/gpu/{vm_id}", disconnect=True, times=None)
    retry = RetryPolicy(max_retries=2, base_delay=0.001, max_delay=0.002)
    async with fake.client(retry=retry) as gpcn:
        with pytest.raises(TransportError, match="connection was lost"):
            await gpcn.request("GET", f"/resource/gpu/{vm_id}")
    assert fake.count("GET", f"/resource/gpu/{vm_id}") == 3


async def test_closing_during_a_create_keeps_its_unknown_outcome(fake: FakeGPCN) -> None:
    """A create in flight when the client closes raises OutcomeUnknownError naming the VM."""
    fake.inject("POST", "/resource/gpu", delay=0.2)
    gpcn = fake.client()
    task = asyncio.create_task(
        gpcn.request("POST", "/resource/gpu", json=create_body(fake, "train-09"))
    )
    await eventually(lambda: bool(fake.requests_to("POST", "/resource/gpu")))
    await gpcn.aclose()
    with pytest.raises(OutcomeUnknownError) as caught:
        await task
    assert caught.value.vm_name == "train-09"


@pytest.mark.parametrize(("status", "expected"), [(404, NotFoundError), (500, OutcomeUnknownError)])
async def test_answer_arriving_after_close_keeps_its_meaning(
    fake: FakeGPCN, status: int, expected: type[Exception]
) -> None:
    """A definite answer or an unknown outcome that arrives after aclose() is raised as such."""
    fake.inject("POST", "/resource/gpu", status=status, delay=0.05)
    async with aiohttp.ClientSession() as session:
        gpcn = fake.client(session=session)  # a borrowed session stays open: the answer arrives
        task = asyncio.create_task(gpcn.request("POST", "/resource/gpu", json=create_body(fake)))
        await eventually(lambda: bool(fake.requests_to("POST", "/resource/gpu")))
        await gpcn.aclose()
        with pytest.raises(expected):
            await task
    assert fake.count("POST", "/resource/gpu") == 1


async def test_retryable_answer_after_close_is_not_retried(fake: FakeGPCN) -> None:
    """A 503 that arrives after aclose() ends in TransportError saying so, with no retry."""
    fake.inject(*GET_VMS, status=503, delay=0.05)
    async with aiohttp.ClientSession() as session:
        gpcn = fake.client(session=session)
        task = asyncio.create_task(gpcn.request(*GET_VMS))
        await eventually(lambda: bool(fake.requests_to(*GET_VMS)))
        await gpcn.aclose()
        with pytest.raises(TransportError, match="closed meanwhile") as caught:
            await task
    assert isinstance(caught.value.__cause__, ServerError)
    assert fake.count(*GET_VMS) == 1


async def test_request_waiting_out_a_rate_limit_pause_fails_cleanly_on_close(
    fake: FakeGPCN,
) -> None:
    """A request paused by a 429 when the client closes raises TransportError, not RuntimeError."""
    fake.inject(*GET_VMS, status=429, headers={"Retry-After": "0.2"})
    gpcn = fake.client()
    task = asyncio.create_task(gpcn.request(*GET_VMS))
    await eventually(lambda: bool(fake.requests_to(*GET_VMS)))
    await asyncio.sleep(0.02)  # let the 429 reach the client and pause it
    await gpcn.aclose()
    with pytest.raises(TransportError, match="closed"):
        await task
    assert fake.count(*GET_VMS) == 1


async def test_closing_ends_a_long_rate_limit_pause_at_once(fake: FakeGPCN) -> None:
    """aclose() fails a request pausing for a 60 s Retry-After at once instead of after it."""
    fake.inject(*GET_VMS, status=429, headers={"Retry-After": "60"})
    gpcn = fake.client(retry=RetryPolicy(base_delay=0.001, max_rate_limit_wait=120.0))
    task = asyncio.create_task(gpcn.request(*GET_VMS))
    await eventually(lambda: bool(fake.requests_to(*GET_VMS)))
    await asyncio.sleep(0.02)  # let the 429 reach the client and pause it
    await gpcn.aclose()
    async with asyncio.timeout(10):  # far below the pause: the close ended it
        with pytest.raises(TransportError, match="closed"):
            await task
    assert fake.count(*GET_VMS) == 1


async def test_request_queued_for_a_connection_fails_cleanly_on_close(fake: FakeGPCN) -> None:
    """A request waiting for a connection slot when the client closes raises TransportError."""
    fake.inject(*GET_VMS, delay=0.2)
    gpcn = fake.client(max_connections=1)
    first = asyncio.create_task(gpcn.request(*GET_VMS))
    second = asyncio.create_task(gpcn.request(*GET_VMS))
    await eventually(lambda: bool(fake.requests_to(*GET_VMS)))
    await gpcn.aclose()
    for task in (first, second):
        with pytest.raises(TransportError, match="closed"):
            await task
    assert fake.count(*GET_VMS) == 1


class MalformedServer:
    """A loopback server that answers every request with a response aiohttp cannot parse."""

    def __init__(self) -> None:
        self.hits = 0
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.hits += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n{}")
        await writer.drain()
        writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def test_malformed_answer_to_a_read_is_retried() -> None:
    """An answer that is not valid HTTP is retried like a 502, then raised as TransportError."""
    retry = RetryPolicy(max_retries=2, base_delay=0.001, max_delay=0.002)
    malformed = MalformedServer()
    async with malformed as url, Client("gpcn_test", base_url=url, retry=retry) as gpcn:
        with pytest.raises(TransportError, match="not valid HTTP") as caught:
            await gpcn.request(*GET_VMS)
    assert not isinstance(caught.value, OutcomeUnknownError)
    assert malformed.hits == 3


async def test_malformed_answer_to_a_create_is_an_unknown_outcome() -> None:
    """A create answered with invalid HTTP reached the server: OutcomeUnknownError, sent once."""
    malformed = MalformedServer()
    async with malformed as url, Client("gpcn_test", base_url=url) as gpcn:
        with pytest.raises(OutcomeUnknownError) as caught:
            await gpcn.request("POST", "/resource/gpu", json={"name": "train-11"})
    assert caught.value.vm_name == "train-11"
    assert malformed.hits == 1


async def test_borrowed_session_raising_for_status_keeps_error_mapping(fake: FakeGPCN) -> None:
    """A borrowed raise_for_status=True session still gives typed errors and retries a 503."""
    vm_id = fake.add_vm(name="a")
    async with (
        aiohttp.ClientSession(raise_for_status=True) as session,
        fake.client(session=session) as gpcn,
    ):
        with pytest.raises(NotFoundError):
            await gpcn.request("GET", "/resource/gpu/missing")
        fake.inject("GET", f"/resource/gpu/{vm_id}", status=503)
        assert (await gpcn.gpu.get(vm_id)).id == vm_id
    assert fake.count("GET", f"/resource/gpu/{vm_id}") == 2


async def test_borrowed_session_without_decompression_still_reads_gzip() -> None:
    """A borrowed auto_decompress=False session still decodes a gzip-compressed answer."""

    async def answer(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        response = aiohttp.web.json_response({"success": True, "data": [{"id": "x" * 2000}]})
        response.enable_compression(aiohttp.web.ContentCoding.gzip)
        return response

    app = aiohttp.web.Application()
    app.router.add_get("/v1/resource/gpu", answer)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    await aiohttp.web.SockSite(runner, sock).start()
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            url = f"http://127.0.0.1:{port}/v1"
            async with Client("gpcn_test", base_url=url, session=session) as gpcn:
                assert await gpcn.request(*GET_VMS) == [{"id": "x" * 2000}]
    finally:
        await runner.cleanup()


async def test_a_persistent_failure_is_tried_max_retries_plus_one_times(
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
