"""Over HTTP to FakeGPCN: a 429's own wait beats the reset, and error answers keep secrets out.

The tests marked ``needs the transport's call-site edit`` rely on ``_transport`` passing the
client's key (``secrets=``) and the answer's headers, method and path to ``_wire``.
"""

from __future__ import annotations

import time

import pytest

from gpcn_async import AuthenticationError, RateLimitError
from gpcn_async.errors import APIError
from gpcn_async.testing import FakeGPCN

GET_VMS = ("GET", "/resource/gpu")


def exhausted_window(reset_in: float) -> dict[str, str]:
    """X-RateLimit-* headers saying none remain until ``reset_in`` seconds from now."""
    return {
        "X-RateLimit-Limit": "100",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(time.time() + reset_in)),
    }


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        pytest.param({"Retry-After": "0"}, 30, id="header"),
        pytest.param({}, 0, id="body-retryAfter"),
    ],
)
async def test_a_429_wait_of_zero_is_retried_although_the_reset_is_far(
    fake: FakeGPCN, headers: dict[str, str], retry_after: int
) -> None:
    """A 429 with Remaining 0 and a far reset is retried after its own wait of 0 s."""
    body = {"success": False, "error": {"code": "Rate Limited", "retryAfter": retry_after}}
    fake.inject(*GET_VMS, status=429, headers=headers | exhausted_window(100), body=body)
    started = time.monotonic()
    async with fake.client() as gpcn:  # max_rate_limit_wait is 5 s: the reset is beyond it
        await gpcn.request(*GET_VMS)
    assert time.monotonic() - started < 2.0
    assert fake.count(*GET_VMS) == 2


async def test_a_later_answer_saying_none_remain_holds_requests_again(fake: FakeGPCN) -> None:
    """After the retry a 429's wait allowed, an answer with Remaining 0 and a far reset holds."""
    window = exhausted_window(100)
    fake.inject(*GET_VMS, status=429, headers={"Retry-After": "0"} | window)
    fake.inject(*GET_VMS, headers=window)  # the retry's 200 says none remain, until the reset
    async with fake.client() as gpcn:
        await gpcn.request(*GET_VMS)
        with pytest.raises(RateLimitError) as caught:
            await gpcn.request(*GET_VMS)
    assert caught.value.retry_after == pytest.approx(100, abs=2)
    assert fake.count(*GET_VMS) == 2


@pytest.mark.parametrize("key", ["sk_live_SECRET987", "gpcn_Zm9v+YmFy/SECRET==", "gpcn_ab.SECRET"])
async def test_a_401_echoing_the_clients_key_never_shows_it(key: str) -> None:
    """A 401 whose message echoes the client's key, whatever it looks like, does not show it.

    Needs the transport's call-site edit (secrets=) for keys without the gpcn_ prefix.
    """
    body = {"success": False, "error": "INVALID_CREDENTIALS", "message": f"API key {key} invalid"}
    async with FakeGPCN(api_key=key) as fake:
        fake.inject(*GET_VMS, status=401, body=body)
        async with fake.client() as gpcn:
            with pytest.raises(AuthenticationError) as caught:
                await gpcn.request(*GET_VMS)
    assert "SECRET" not in str(caught.value)
    assert "SECRET" not in repr(caught.value)
    assert "invalid" in str(caught.value)


async def test_an_error_envelope_under_a_200_keeps_the_request_id(fake: FakeGPCN) -> None:
    """A success-false body under a 200 raises an APIError with X-Request-Id, method and path.

    Needs the transport's call-site edit (headers, method and path to decode_success).
    """
    body = {"success": False, "error": "GPU_PROVIDER_UNAVAILABLE", "message": "provider down"}
    fake.inject(*GET_VMS, status=200, headers={"X-Request-Id": "rid-123"}, body=body)
    async with fake.client() as gpcn:
        with pytest.raises(APIError) as caught:
            await gpcn.request(*GET_VMS)
    assert caught.value.request_id == "rid-123"
    assert "GET /resource/gpu" in str(caught.value)
