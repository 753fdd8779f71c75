from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import pytest

from gpcn_async.testing import FakeGPCN
from tests.fake.fake_support import DIALECTS, key_mismatches, running, sample


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("status", "guide_code", "reference_code"),
    [
        (500, "INTERNAL_ERROR", "Internal Server Error"),
        (503, "SERVICE_UNAVAILABLE", "Service Unavailable"),
        (409, "CONFLICT", "Conflict"),
        (418, "IM_A_TEAPOT", "I'm a Teapot"),
    ],
)
async def test_status_fault_sends_the_dialect_default_error_body(
    dialect: str, status: int, guide_code: str, reference_code: str
) -> None:
    """A status fault without a body answers that status with the dialect's error shape."""
    async with running(dialect=dialect) as (fake, wire):
        fault = fake.inject("GET", "/resource/gpu", status=status)
        faulted = await wire.get("/resource/gpu")
        normal = await wire.get("/resource/gpu")
    assert (faulted.status, normal.status) == (status, 200)
    assert "X-RateLimit-Remaining" in faulted.headers
    assert "X-Request-Id" in faulted.headers
    if dialect == "guide":
        assert set(faulted.body) == {"success", "error", "message"}
        assert faulted.body["error"] == guide_code
    else:
        assert faulted.body["error"] == {
            "code": reference_code,
            "statusCode": status,
            "details": None,
        }
    assert (fault.hits, fault.remaining) == (1, 0)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_injected_429_has_the_rate_limit_shape(dialect: str) -> None:
    """An injected 429 without a body sends the dialect's 429 body and its Retry-After."""
    async with running(dialect=dialect) as (fake, wire):
        fake.inject("*", "/resource/jobs", status=429, headers={"Retry-After": "7"})
        answer = await wire.post("/resource/jobs", {"jobIds": ["x"]})
        assert fake.rate_limited_count == 0  # injected, not from the limiter
    assert answer.status == 429
    assert answer.headers["Retry-After"] == "7"
    assert key_mismatches(answer.body, sample(dialect, "error-429")) == []
    if dialect == "reference":
        assert answer.body["error"]["retryAfter"] == 7


async def test_html_and_json_bodies_are_sent_as_given() -> None:
    """A str body starting with "<" is sent as text/html, a dict as JSON, other text as plain."""
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    async with running() as (fake, wire):
        fake.inject("GET", "/resource/gpu", status=502, body=page)
        fake.inject("GET", "/resource/gpu", status=500, body={"oops": True})
        fake.inject("GET", "/resource/gpu", status=504, body=b"upstream timeout")
        html = await wire.get("/resource/gpu")
        json_answer = await wire.get("/resource/gpu")
        plain = await wire.get("/resource/gpu")
    assert (html.status, html.text) == (502, page)
    assert html.headers["Content-Type"].startswith("text/html")
    assert (json_answer.status, json_answer.body) == (500, {"oops": True})
    assert (plain.status, plain.text) == (504, "upstream timeout")
    assert plain.headers["Content-Type"].startswith("text/plain")


async def test_fault_headers_are_added_and_override() -> None:
    """Fault headers are added to the answer and replace the fake's own of the same name."""
    async with running(rate_limit=10) as (fake, wire):
        fake.inject(
            "GET", "/resource/gpu", headers={"X-RateLimit-Remaining": "0", "X-Extra": "yes"}
        )
        answer = await wire.get("/resource/gpu")
    assert answer.status == 200  # no status: the real answer, with the headers
    assert answer.headers["X-RateLimit-Remaining"] == "0"
    assert answer.headers["X-Extra"] == "yes"
    assert answer.headers.getall("X-RateLimit-Remaining") == ["0"]


async def test_delay_slows_the_real_answer() -> None:
    """A delay-only fault sends the real answer after waiting."""
    async with running() as (fake, wire):
        fake.inject("GET", "/resource/gpu", delay=0.15)
        started = time.monotonic()
        slow = await wire.get("/resource/gpu")
        middle = time.monotonic()
        fast = await wire.get("/resource/gpu")
        ended = time.monotonic()
    assert slow.status == fast.status == 200
    assert middle - started >= 0.15
    assert ended - middle < 0.15


async def test_client_giving_up_during_a_delay_is_logged_with_status_0() -> None:
    """A client that times out during a delay leaves a log entry with status 0."""
    async with running() as (fake, wire):
        fake.inject("GET", "/resource/gpu", delay=2.0)
        with pytest.raises(asyncio.TimeoutError):
            async with wire.session.get(
                fake.url + "/resource/gpu",
                headers={"X-API-Key": fake.api_key},
                timeout=aiohttp.ClientTimeout(total=0.05),
            ):
                pass
        await asyncio.sleep(0.02)
        assert [r.status for r in fake.requests] == [0]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_disconnect_drops_the_connection_without_an_answer(
    dialect: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A disconnect fault closes the connection quietly; the client sees a disconnection."""
    with caplog.at_level(logging.DEBUG):
        async with running(dialect=dialect) as (fake, wire):
            fake.inject("POST", "/resource/jobs", disconnect=True)
            with pytest.raises(aiohttp.ServerDisconnectedError):
                await wire.post("/resource/jobs", {"jobIds": ["x"]})
            after = await wire.post("/resource/jobs", {"jobIds": ["x"]})
            assert [r.status for r in fake.requests] == [0, 200]
    assert after.status == 200
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_close_cancels_delayed_answers_at_once() -> None:
    """Closing the fake while a delayed answer is pending does not wait for the delay."""
    async with running() as (fake, wire):
        fake.inject("POST", "/resource/jobs", delay=5.0)
        pending = asyncio.create_task(wire.post("/resource/jobs", {"jobIds": ["x"]}))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await fake.close()
        closed_in = time.monotonic() - started
        with pytest.raises(aiohttp.ClientError):
            await pending
    assert closed_in < 0.2
    assert [r.status for r in fake.requests] == [0]


async def test_disconnect_on_get_is_retried_once_by_aiohttp_itself() -> None:
    """Aiohttp re-sends an idempotent request once on disconnect, so two faults are needed."""
    async with running() as (fake, wire):
        fake.inject("GET", "/resource/gpu", disconnect=True, times=2)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await wire.get("/resource/gpu")
        assert fake.count("GET", "/resource/gpu") == 2


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_after_commit_creates_the_vm_but_answers_500(dialect: str) -> None:
    """``after_commit`` lets the create happen (VM and job exist) and then answers 500."""
    async with running(dialect=dialect) as (fake, wire):
        fake.inject("POST", "/resource/gpu", status=500, after_commit=True)
        answer = await wire.create(name="maybe")
        assert fake.created_vm_count == 1
        (vm,) = fake.vms.values()
        (job,) = fake.jobs.values()
    assert answer.status == 500
    assert vm.name == "maybe"
    assert job.resource_id == vm.id


async def test_after_commit_disconnect_also_commits() -> None:
    """``after_commit`` with ``disconnect`` makes the VM and then drops the connection."""
    async with running() as (fake, wire):
        fake.inject("POST", "/resource/gpu", disconnect=True, after_commit=True)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await wire.create()
        assert fake.created_vm_count == 1


async def test_times_limits_a_fault_and_none_means_forever() -> None:
    """A fault affects ``times`` requests, then the next matching fault (or none) applies."""
    async with running() as (fake, wire):
        twice = fake.inject("GET", "/resource/gpu/*", status=502, times=2)
        forever = fake.inject("*", "/resource/gpu/*", status=503, times=None)
        statuses = [(await wire.get("/resource/gpu/x")).status for _ in range(4)]
        other = await wire.get("/resource/gpu")  # the glob needs a path segment
        assert fake.faults == [twice, forever]
        fake.clear_faults()
        cleared = await wire.get("/resource/gpu/x")
    assert statuses == [502, 502, 503, 503]
    assert (twice.hits, twice.remaining, forever.hits, forever.remaining) == (2, 0, 2, None)
    assert other.status == 200
    assert cleared.status == 404


async def test_faults_run_after_auth() -> None:
    """Requests without a key get 401 and do not consume faults."""
    async with running() as (fake, wire):
        fault = fake.inject("GET", "/resource/gpu", status=500)
        unauthorized = await wire.call("GET", "/resource/gpu", key=None)
        faulted = await wire.get("/resource/gpu")
    assert (unauthorized.status, faulted.status, fault.hits) == (401, 500, 1)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"body": {"a": 1}}, "status"),
        ({"delay": -1.0}, "delay"),
        ({"times": 0}, "times"),
        ({"status": 99}, "status"),
        ({"status": 500, "disconnect": True}, "disconnect"),
        ({"after_commit": True}, "after_commit"),
        ({"status": 500, "body": 42}, "body"),
    ],
)
def test_inject_rejects_impossible_faults(kwargs: dict[str, Any], named: str) -> None:
    """``inject`` raises ValueError naming the bad argument of an impossible fault."""
    fake = FakeGPCN()
    with pytest.raises(ValueError, match=named):
        fake.inject("GET", "/resource/gpu", **kwargs)
    assert fake.faults == []
