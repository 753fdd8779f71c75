"""The request pipeline with an in-memory sender: retry decisions without any server.

``Transport`` sends through a ``Sender`` (one exchange: status, headers, body, or ``SendError``
when no answer came). A scripted sender answers from a list, so each rule of "what is retried,
what is never re-sent" is checked step by step, as gidgethub tests its sans-I/O core.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gpcn_async import (
    NotFoundError,
    OutcomeUnknownError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    TransportError,
)
from gpcn_async._resend import FailureKind
from gpcn_async._send import Exchange, Request, SendError
from gpcn_async._transport import Transport

RETRY = RetryPolicy(max_retries=2, base_delay=0.001, max_delay=0.002, max_rate_limit_wait=1.0)


def answer(status: int, data: Any = None, **headers: str) -> Exchange:
    """An exchange with a JSON envelope (success for a 2xx, an error body otherwise)."""
    if 200 <= status < 300:
        body: dict[str, Any] = {"success": True, "data": data}
    else:
        body = {"success": False, "error": "ERROR", "message": f"status {status}"}
    return Exchange(status, headers, json.dumps(body).encode())


def lost() -> SendError:
    """No answer: the connection dropped after the request was written."""
    return SendError(FailureKind.LOST, "the connection was lost (ServerDisconnectedError)")


def not_sent() -> SendError:
    """No answer: the connection could not be made."""
    return SendError(FailureKind.NOT_SENT, "the connection could not be made (refused)")


class Script:
    """A sender that answers from a list, in order, and records what it was sent."""

    def __init__(self, *steps: Exchange | SendError) -> None:
        self.steps = list(steps)
        self.sent: list[Request] = []

    async def __call__(self, request: Request) -> Exchange:
        self.sent.append(request)
        step = self.steps.pop(0)
        if isinstance(step, SendError):
            raise step
        return step


def transport(script: Script, retry: RetryPolicy = RETRY) -> Transport:
    """A transport that sends through ``script``."""
    return Transport(
        api_key="gpcn_test_key",
        base_url="http://127.0.0.1/v1",
        timeout=1.0,
        max_connections=4,
        retry=retry,
        session=None,
        sender=script,
    )


async def test_a_read_is_retried_until_it_is_answered() -> None:
    """A GET meeting 503, a lost answer and 502 in turn is tried again until a 200."""
    script = Script(answer(503), lost(), answer(200, {"id": "vm-1"}))
    response = await transport(script, RetryPolicy(max_retries=3, base_delay=0.001)).request(
        "GET", "/resource/gpu/vm-1"
    )
    assert response.data == {"id": "vm-1"}
    assert len(script.sent) == 3


async def test_a_failure_that_persists_is_tried_max_retries_plus_one_times() -> None:
    """Three 503s to a GET with max_retries=2: three tries, then the ServerError."""
    script = Script(answer(503), answer(503), answer(503))
    with pytest.raises(ServerError):
        await transport(script).request("GET", "/resource/gpu")
    assert len(script.sent) == 3


@pytest.mark.parametrize(
    ("method", "path", "body", "subject"),
    [
        ("POST", "/resource/gpu", {"name": "train-0"}, ("train-0", ())),
        ("DELETE", "/resource/gpu/vm-1", None, (None, ("vm-1",))),
        ("POST", "/resource/gpu/vm-1/reset", None, (None, ("vm-1",))),
        ("POST", "/resource/gpu/bulk/delete", {"ids": ["a", "b"]}, (None, ("a", "b"))),
        ("POST", "/resource/gpu/bulk/reset", {"ids": ["a", "b"]}, (None, ("a", "b"))),
        ("DELETE", "/resource/ssh-keys/k-1", None, (None, ("k-1",))),
    ],
)
@pytest.mark.parametrize("fault", ["lost", "500"])
async def test_an_action_that_may_have_arrived_is_never_sent_again(
    method: str, path: str, body: Any, subject: tuple[str | None, tuple[str, ...]], fault: str
) -> None:
    """A lost answer or a 5xx to an action leaves its outcome unknown after one send."""
    script = Script(lost() if fault == "lost" else answer(500), answer(202, {"jobId": "j"}))
    with pytest.raises(OutcomeUnknownError) as caught:
        await transport(script).request(method, path, json=body)
    assert len(script.sent) == 1
    assert (caught.value.vm_name, caught.value.ids) == subject


async def test_an_action_never_connected_is_tried_again() -> None:
    """A create whose connection was never made is safe to send again, and is."""
    script = Script(not_sent(), not_sent(), answer(202, {"jobId": "job-1"}))
    response = await transport(script).request("POST", "/resource/gpu", json={"name": "x"})
    assert response.status == 202
    assert [request.method for request in script.sent] == ["POST"] * 3


async def test_a_429_to_an_action_is_sent_again_after_its_wait() -> None:
    """A 429 means the server did not act: the create goes again after Retry-After."""
    script = Script(answer(429, **{"Retry-After": "0"}), answer(202, {"jobId": "job-1"}))
    response = await transport(script).request("POST", "/resource/gpu", json={"name": "x"})
    assert response.data == {"jobId": "job-1"}
    assert len(script.sent) == 2


async def test_a_429_asking_for_longer_than_allowed_fails_at_once() -> None:
    """A Retry-After beyond max_rate_limit_wait raises RateLimitError without a second send."""
    script = Script(answer(429, **{"Retry-After": "600"}))
    with pytest.raises(RateLimitError) as caught:
        await transport(script).request("GET", "/resource/gpu")
    assert caught.value.retry_after == 600
    assert len(script.sent) == 1


async def test_a_client_error_is_raised_at_once() -> None:
    """A 404 is the answer: typed, and never retried."""
    script = Script(answer(404))
    with pytest.raises(NotFoundError):
        await transport(script).request("GET", "/resource/gpu/nope")
    assert len(script.sent) == 1


async def test_a_fatal_failure_is_not_retried() -> None:
    """A failure that retrying cannot mend (a certificate, a proxy refusal) is raised at once."""
    script = Script(SendError(FailureKind.FATAL, "the request could not be sent (SSL)"))
    with pytest.raises(TransportError, match="SSL"):
        await transport(script).request("GET", "/resource/gpu")
    assert len(script.sent) == 1


async def test_closing_ends_a_pause_between_tries() -> None:
    """aclose() during a 60 s backoff pause ends the request at once, with no further send."""
    script = Script(answer(503), answer(200))
    pipeline = transport(script, RetryPolicy(max_retries=1, base_delay=60.0, max_delay=60.0))
    task = asyncio.create_task(pipeline.request("GET", "/resource/gpu"))
    for _ in range(20):  # let the 503 arrive and the pause begin
        await asyncio.sleep(0)
    await pipeline.aclose()
    async with asyncio.timeout(5):
        with pytest.raises(TransportError, match="closed meanwhile"):
            await task
    assert len(script.sent) == 1


async def test_the_answer_s_rate_limit_headers_reach_the_limiter() -> None:
    """X-RateLimit-* of an answer become the client's rate-limit state."""
    headers = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "42", "X-RateLimit-Reset": "9"}
    script = Script(answer(200, [], **headers))
    pipeline = transport(script)
    await pipeline.request("GET", "/resource/gpu")
    assert pipeline.rate_limit is not None
    assert (pipeline.rate_limit.limit, pipeline.rate_limit.remaining) == (100, 42)
