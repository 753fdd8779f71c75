"""Plain unit tests of the pure wire rules: no server, no event loop."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

from gpcn_async import _redact, _resend, _wire
from gpcn_async.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    NotSupportedError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
)

SAMPLES = Path(__file__).parent / "wire_samples"
NOW = 1_790_000_000.0


def sample(dialect: str, name: str) -> bytes:
    """Read one wire sample's bytes."""
    return (SAMPLES / dialect / name).read_bytes()


ERROR_SHAPES = [
    # (status, body, expected class, code, message fragment)
    pytest.param(
        401,
        sample("guide", "error-401.json"),
        AuthenticationError,
        "INVALID_CREDENTIALS",
        "Missing or invalid API key",
        id="guide-401",
    ),
    pytest.param(
        409,
        sample("guide", "error-409.json"),
        ConflictError,
        "CONFLICT",
        "no longer available",
        id="guide-409",
    ),
    pytest.param(
        429,
        sample("guide", "error-429.json"),
        RateLimitError,
        "RATE_LIMIT_EXCEEDED",
        "exceeded the rate limit",
        id="guide-429",
    ),
    pytest.param(
        403,
        sample("reference", "error-403.json"),
        PermissionDeniedError,
        "Insufficient Permissions",
        "GPU feature not enabled",
        id="reference-403",
    ),
    pytest.param(
        404,
        sample("reference", "error-404-route.json"),
        NotFoundError,
        None,
        "Route Not Found",
        id="route-not-found",
    ),
    pytest.param(
        409,
        sample("reference", "error-409.json"),
        ConflictError,
        "Conflict",
        "no longer available",
        id="reference-409",
    ),
    pytest.param(
        422,
        sample("reference", "error-422.json"),
        BadRequestError,
        "Validation Error",
        "Request validation failed",
        id="reference-422",
    ),
    pytest.param(
        429,
        sample("reference", "error-429.json"),
        RateLimitError,
        "Rate Limited",
        "try again in 30 seconds",
        id="rate-limiter-429",
    ),
    pytest.param(
        502,
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        ServerError,
        None,
        "502 Bad Gateway",
        id="html-502",
    ),
    pytest.param(
        503,
        b"<html><head><title>Service Unavailable</title></head><body>x</body></html>",
        ServerError,
        None,
        "Service Unavailable",
        id="html-503-title",
    ),
    pytest.param(504, b"", ServerError, None, "Gateway Timeout", id="empty-504"),
    pytest.param(
        501,
        b'{"success": false, "error": "NOT_IMPLEMENTED", "message": "not here"}',
        NotSupportedError,
        "NOT_IMPLEMENTED",
        "not here",
        id="guide-501",
    ),
    pytest.param(
        400,
        b'{"success": false, "error": "SOME_NEW_CODE", "message": "m"}',
        BadRequestError,
        "SOME_NEW_CODE",
        "m",
        id="unknown-code-passes-through",
    ),
    pytest.param(418, b"[1, 2]", APIError, None, "[1, 2]", id="odd-status-and-shape"),
]


@pytest.mark.parametrize(("status", "body", "cls", "code", "fragment"), ERROR_SHAPES)
def test_every_error_shape_maps_to_its_typed_error(
    status: int, body: bytes, cls: type[APIError], code: str | None, fragment: str
) -> None:
    """Each documented error shape gives the right class, status, code and message."""
    error = _wire.error_from_response(
        status, body, {"X-Request-Id": "req-1"}, method="GET", path="/resource/gpu", now=NOW
    )
    assert type(error) is cls
    assert error.status == status
    assert error.code == code
    assert fragment in error.message
    assert error.request_id == "req-1"
    assert fragment in str(error)
    assert "GET /resource/gpu" in str(error)


def test_reference_validation_details_are_kept() -> None:
    """The reference dialect's validation issues are available as details."""
    error = _wire.error_from_response(422, sample("reference", "error-422.json"), {})
    assert error.details == {
        "issues": [{"path": "gpuCount", "message": "must be one of 1, 2, 4, 8"}]
    }


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        pytest.param({"Retry-After": "7"}, sample("guide", "error-429.json"), 7.0, id="header"),
        pytest.param({}, sample("reference", "error-429.json"), 30.0, id="body-retryAfter"),
        pytest.param(
            {"Retry-After": "3"},
            sample("reference", "error-429.json"),
            3.0,
            id="header-wins-over-body",
        ),
        pytest.param(
            {
                "X-RateLimit-Limit": "100",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(NOW) + 12),
            },
            sample("guide", "error-429.json"),
            12.0,
            id="reset-header-fallback",
        ),
        pytest.param(
            {"Retry-After": format_datetime(datetime.fromtimestamp(NOW + 20, UTC), usegmt=True)},
            sample("guide", "error-429.json"),
            20.0,
            id="http-date",
        ),
        pytest.param({}, sample("guide", "error-429.json"), None, id="no-hint"),
        pytest.param({"Retry-After": "soon"}, b"{}", None, id="garbage-header"),
    ],
)
def test_rate_limit_wait_comes_from_header_then_body_then_reset(
    headers: dict[str, str], body: bytes, expected: float | None
) -> None:
    """A 429's wait is read from Retry-After, then error.retryAfter, then X-RateLimit-Reset."""
    error = _wire.error_from_response(429, body, headers, now=NOW)
    assert isinstance(error, RateLimitError)
    if expected is None:
        assert error.retry_after is None
    else:
        assert error.retry_after == pytest.approx(expected)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {
                "X-RateLimit-Limit": "100",
                "X-RateLimit-Remaining": "42",
                "X-RateLimit-Reset": "1790000060",
            },
            _wire.RateLimitHeaders(100, 42, 1790000060.0),
        ),
        (
            {
                "X-RateLimit-Limit": "50",
                "X-RateLimit-Remaining": "-1",
                "X-RateLimit-Reset": "1790000000.250",
            },
            _wire.RateLimitHeaders(50, 0, 1790000000.25),
        ),
        ({"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "42"}, None),
        ({"X-RateLimit-Limit": "x", "X-RateLimit-Remaining": "1", "X-RateLimit-Reset": "1"}, None),
        (
            {"X-RateLimit-Limit": "nan", "X-RateLimit-Remaining": "1", "X-RateLimit-Reset": "1"},
            None,
        ),
        ({}, None),
    ],
)
def test_rate_limit_headers_parse_or_give_none(
    headers: dict[str, str], expected: _wire.RateLimitHeaders | None
) -> None:
    """X-RateLimit-* parse when all three are numbers, and give None otherwise."""
    assert _wire.parse_rate_limit(headers) == expected


@pytest.mark.parametrize(
    ("method", "path", "safe"),
    [
        ("GET", "/resource/gpu", True),
        ("GET", "/resource/gpu/abc", True),
        ("put", "/resource/gpu/abc", True),
        ("PUT", "/resource/ssh-keys/k1", True),
        ("POST", "/resource/jobs", True),
        ("POST", "/resource/gpu/abc/start", True),
        ("POST", "/resource/gpu/abc/stop", True),
        ("POST", "/resource/gpu/bulk/start", True),
        ("POST", "/resource/gpu/bulk/stop", True),
        ("DELETE", "/resource/gpu/abc", False),
        ("DELETE", "/resource/ssh-keys/k1", False),
        ("POST", "/resource/gpu/abc/reset", False),
        ("POST", "/resource/gpu/bulk/reset", False),
        ("POST", "/resource/gpu/bulk/delete", False),
        ("POST", "/resource/gpu", False),
        ("POST", "/resource/gpu/", False),
        ("POST", "/resource/ssh-keys", False),
        ("POST", "/resource/volume", False),
        ("PATCH", "/resource/gpu/abc", False),
    ],
)
def test_only_requests_that_set_a_state_are_safe_to_resend(
    method: str, path: str, safe: bool
) -> None:
    """Reads, updates, polls, start and stop may be re-sent; creates, deletes, resets may not."""
    assert _resend.is_safe_to_resend(method, path) is safe


@pytest.mark.parametrize(
    ("method", "path", "body", "subject"),
    [
        ("POST", "/resource/gpu", {"name": "train-0"}, ("train-0", ())),
        ("POST", "/resource/gpu/", {"name": 7}, (None, ())),
        ("DELETE", "/resource/gpu/vm-1", None, (None, ("vm-1",))),
        ("POST", "/resource/gpu/vm-1/reset", None, (None, ("vm-1",))),
        ("POST", "/resource/gpu/bulk/delete", {"ids": ["a", "b"]}, (None, ("a", "b"))),
        ("POST", "/resource/gpu/bulk/reset", {"ids": "a"}, (None, ())),
        ("DELETE", "/resource/ssh-keys/k-1", None, (None, ("k-1",))),
        ("POST", "/resource/ssh-keys", {"name": "laptop"}, (None, ())),
        ("POST", "/resource/volume", {"name": "v"}, (None, ())),
    ],
)
def test_an_unknown_outcome_names_what_it_may_have_acted_on(
    method: str, path: str, body: object, subject: tuple[str | None, tuple[str, ...]]
) -> None:
    """A create names its VM, a call on one VM or key its id, a bulk call its body's ids."""
    assert _resend.outcome_subject(method, path, body) == subject


D = _resend.Decision


@pytest.mark.parametrize(
    ("status", "safe", "decision"),
    [
        (429, True, D.RETRY),
        (429, False, D.RETRY),
        (500, True, D.RETRY),
        (500, False, D.OUTCOME_UNKNOWN),
        (502, True, D.RETRY),
        (502, False, D.OUTCOME_UNKNOWN),
        (503, True, D.RETRY),
        (503, False, D.OUTCOME_UNKNOWN),
        (504, True, D.RETRY),
        (504, False, D.OUTCOME_UNKNOWN),
        (501, True, D.RAISE),
        (501, False, D.RAISE),
        (505, True, D.RAISE),
        (400, True, D.RAISE),
        (404, False, D.RAISE),
        (409, False, D.RAISE),
    ],
)
def test_status_retry_table(status: int, safe: bool, decision: _resend.Decision) -> None:
    """429 always retries; 5xx retries when safe and is an unknown outcome when not."""
    assert _resend.decide_status(status, safe=safe) is decision


@pytest.mark.parametrize(
    ("kind", "safe", "decision"),
    [
        (_resend.FailureKind.NOT_SENT, True, D.RETRY),
        (_resend.FailureKind.NOT_SENT, False, D.RETRY),
        (_resend.FailureKind.LOST, True, D.RETRY),
        (_resend.FailureKind.LOST, False, D.OUTCOME_UNKNOWN),
        (_resend.FailureKind.TIMED_OUT, True, D.RETRY),
        (_resend.FailureKind.TIMED_OUT, False, D.OUTCOME_UNKNOWN),
        (_resend.FailureKind.FATAL, True, D.RAISE),
    ],
)
def test_connection_failure_retry_table(
    kind: _resend.FailureKind, safe: bool, decision: _resend.Decision
) -> None:
    """A request that never reached the server may always be resent; one that may have may not."""
    assert _resend.decide_failure(kind, safe=safe) is decision


def test_success_envelope_decodes_data_meta_and_message() -> None:
    """A success envelope gives its data, meta and message."""
    envelope = _wire.decode_success(200, sample("reference", "gpu-list-page.json"))
    assert isinstance(envelope.data, list)
    assert envelope.data[0]["id"] == "550e8400-e29b-41d4-a716-446655440000"
    assert envelope.meta["totalPages"] == 3
    assert envelope.message == "GPU VMs retrieved successfully"


@pytest.mark.parametrize("body", [b"", b"  \n"])
def test_empty_success_body_is_an_empty_envelope(body: bytes) -> None:
    """A 204 or an empty 200 decodes to an envelope without data."""
    assert _wire.decode_success(204, body) == _wire.Envelope()


@pytest.mark.parametrize(
    "body", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"<html>ok</html>"]
)
def test_undecodable_success_body_raises_response_decode_error(body: bytes) -> None:
    """A 2xx body that is not a JSON object raises ResponseDecodeError with the status."""
    with pytest.raises(ResponseDecodeError) as caught:
        _wire.decode_success(200, body)
    assert caught.value.status == 200


def test_error_envelope_under_a_2xx_status_raises_api_error() -> None:
    """A body saying success false is an error even under a 200 status."""
    with pytest.raises(APIError) as caught:
        _wire.decode_success(200, sample("guide", "error-409.json"))
    assert caught.value.code == "CONFLICT"


PRIVATE_KEY = json.loads(sample("guide", "ssh-key.json"))["data"]["privateKey"]


@pytest.mark.parametrize(
    "text",
    [
        PRIVATE_KEY,
        PRIVATE_KEY[:60],  # cut off before its END line
        "key gpcn_live_0123456789abcdef echoed",
    ],
)
def test_redact_hides_private_keys_and_api_keys(text: str) -> None:
    """Redaction removes private key material (even truncated) and all but an API key's prefix."""
    redacted = _redact.redact(text)
    assert "FAKE-KEY-MATERIAL" not in redacted
    assert "0123456789abcdef" not in redacted


def test_decode_error_snippet_never_shows_a_private_key() -> None:
    """A truncated ssh-key answer's error snippet does not carry the key."""
    truncated = sample("guide", "ssh-key.json")[:120]
    with pytest.raises(ResponseDecodeError) as caught:
        _wire.decode_success(200, truncated)
    assert "FAKE-KEY" not in str(caught.value)
    assert "BEGIN OPENSSH" not in repr(caught.value.snippet)


def test_server_message_echoing_an_api_key_is_redacted() -> None:
    """An error message that echoes the API key shows only its prefix."""
    body = b'{"success": false, "error": "INVALID_CREDENTIALS", "message": "bad gpcn_secret123"}'
    error = _wire.error_from_response(401, body, {})
    assert "secret123" not in str(error)
    assert "gpcn_" in str(error)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.gpcn.com/v1/", "https://api.gpcn.com/v1"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
        ("http://127.3.2.1/v1", "http://127.3.2.1/v1"),
        ("http://localhost:9/v1", "http://localhost:9/v1"),
        ("http://[::1]:9/v1", "http://[::1]:9/v1"),
    ],
)
def test_base_url_accepts_https_and_loopback_http(url: str, expected: str) -> None:
    """https:// anywhere and http:// to loopback are accepted, without a trailing slash."""
    assert _wire.normalize_base_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://api.gpcn.com/v1",
        "http://10.0.0.1/v1",
        "http://localhost.example.com/v1",
        "ftp://api.gpcn.com/v1",
        "api.gpcn.com/v1",
        "",
        "https://user:pw@api.gpcn.com/v1",
        "https://api.gpcn.com/v1?x=1",
    ],
)
def test_base_url_rejects_clear_text_to_remote_hosts_and_odd_urls(url: str) -> None:
    """http:// to a remote host, or a URL that is not a plain base, is a ConfigurationError."""
    with pytest.raises(ConfigurationError) as caught:
        _wire.normalize_base_url(url)
    if url and "user:pw" not in url:
        assert url in str(caught.value)


def test_query_params_drop_none_and_spell_bools() -> None:
    """Query parameters leave out None values and spell booleans as true/false."""
    assert _wire.query_params({"a": None, "b": 2, "c": True, "filter[teamId]": "5"}) == {
        "b": "2",
        "c": "true",
        "filter[teamId]": "5",
    }


def test_request_headers_carry_key_and_versioned_user_agent() -> None:
    """Every request has the key and a User-Agent naming the package and its version."""
    headers = _wire.request_headers("gpcn_k", "1.2.3")
    assert headers["X-API-Key"] == "gpcn_k"
    assert headers["User-Agent"] == "gpcn-async/1.2.3"


@pytest.mark.parametrize(("key", "shown"), [("gpcn_abcdef", "gpcn_…"), ("other-key", "…")])
def test_api_key_is_shown_by_prefix_only(key: str, shown: str) -> None:
    """An API key is displayed as its gpcn_ prefix and an ellipsis, never in full."""
    assert _redact.redact_api_key(key) == shown


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        pytest.param("API key gpcn_ab12.SECRETTAIL is not valid", "SECRETTAIL", id="dotted"),
        pytest.param("API key gpcn_Zm9v+YmFy/SECRET== is not valid", "SECRET", id="base64"),
        pytest.param("key=gpcn_Zm9v%2BYmFy%2FSECRET%3D%3D", "SECRET", id="percent-encoded"),
    ],
)
def test_redact_hides_the_whole_token_of_a_gpcn_key(text: str, hidden: str) -> None:
    """A gpcn_ key with base64, dotted or percent-encoded characters is hidden whole."""
    redacted = _redact.redact(text)
    assert hidden not in redacted
    assert "gpcn_…" in redacted


def test_redact_keeps_the_full_stop_after_a_key() -> None:
    """A key at the end of a sentence is hidden, and the sentence keeps its full stop."""
    assert _redact.redact("Invalid key gpcn_abc.def.") == "Invalid key gpcn_…."


@pytest.mark.parametrize(
    ("secret", "text"),
    [
        pytest.param("sk_live_SECRET987", "API key sk_live_SECRET987 is not valid", id="raw"),
        pytest.param("key/SECRET987", '{"message": "key key\\/SECRET987"}', id="json-escaped"),
        pytest.param("key+SECRET987", "?key=key%2BSECRET987", id="percent-encoded"),
        pytest.param("gpcn_a!SECRET987", "bad gpcn_a!SECRET987", id="odd-char-after-prefix"),
    ],
)
def test_redact_hides_a_given_secret_however_it_looks(secret: str, text: str) -> None:
    """The client's own key is hidden wherever it appears, with or without the gpcn_ prefix."""
    assert "SECRET987" not in _redact.redact(text, (secret,))


def test_error_echoing_the_clients_key_never_shows_it() -> None:
    """A 401 echoing a key without the gpcn_ prefix hides it in message, str, repr and details."""
    key = "sk_live_SECRET987"
    body = json.dumps(
        {
            "success": False,
            "message": f"API key {key} is not valid",
            "error": {"code": "Authentication Failed", "details": {"key": key}},
        }
    ).encode()
    error = _wire.error_from_response(401, body, {}, secrets=(key,))
    assert isinstance(error, AuthenticationError)
    for shown in (error.message, str(error), repr(error), json.dumps(error.details)):
        assert "SECRET987" not in shown
    assert "is not valid" in error.message


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<html><title>bad key sk_live_SECRET987</title></html>", id="html"),
        pytest.param(b'["bad key sk_live_SECRET987"]', id="json-not-an-object"),
    ],
)
def test_non_envelope_error_bodies_hide_the_clients_key(body: bytes) -> None:
    """An error page or odd JSON echoing the client's key does not show it in the message."""
    error = _wire.error_from_response(502, body, {}, secrets=("sk_live_SECRET987",))
    assert "bad key" in error.message
    assert "SECRET987" not in str(error)


def test_decode_error_snippet_hides_the_clients_key() -> None:
    """A 2xx body that is not JSON keeps the client's key out of its snippet."""
    with pytest.raises(ResponseDecodeError) as caught:
        _wire.decode_success(200, b"bad key sk_live_SECRET987", secrets=("sk_live_SECRET987",))
    assert caught.value.snippet == "bad key …"


def test_error_envelope_under_a_2xx_status_keeps_request_id_method_and_path() -> None:
    """A success-false body under a 200 carries X-Request-Id and names the request."""
    with pytest.raises(APIError) as caught:
        _wire.decode_success(
            200,
            b'{"success": false, "error": "GPU_PROVIDER_UNAVAILABLE", "message": "down"}',
            {"X-Request-Id": "rid-123"},
            method="GET",
            path="/resource/gpu/v1",
        )
    assert caught.value.request_id == "rid-123"
    assert "GET /resource/gpu/v1" in str(caught.value)
    assert "rid-123" in str(caught.value)
