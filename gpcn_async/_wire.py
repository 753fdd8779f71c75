"""The wire rules that need no I/O: envelopes, errors, rate-limit headers, retry decisions.

Everything here is a pure function of its arguments (status, body bytes, headers, the clock's
reading passed in), so it is tested without a server. ``_transport`` does the sending and calls
these to decide what an answer means.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

import attrs

from gpcn_async._clock import parse_http_date
from gpcn_async._redact import (
    SNIPPET_LENGTH,
    redact,
    redact_value,
    snippet,
)
from gpcn_async.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    BulkItemError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    NotSupportedError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
)

DEFAULT_BASE_URL: Final = "https://api.gpcn.com/v1"

# One table: which status raises which error. Statuses not listed fall back by class (see
# error_class). 422 is the reference dialect's validation status, 400 the guide's.
STATUS_ERRORS: Final[Mapping[int, type[APIError]]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: BadRequestError,
    429: RateLimitError,
    501: NotSupportedError,
}

MAX_IDS_PER_REQUEST: Final = 50
"""The most ids one bulk request or one job poll (``POST /resource/jobs``) may carry."""


# A per-id refusal whose reason says what a single call's status would: the same failure.
_ITEM_REASONS: Final[tuple[tuple[re.Pattern[str], type[APIError], int], ...]] = (
    (re.compile(r"\bnot found\b", re.IGNORECASE), NotFoundError, 404),
    (re.compile(r"\bbeing deleted\b", re.IGNORECASE), ConflictError, 409),
)


def bulk_item_error(item_id: str, reason: str) -> APIError | BulkItemError:
    """The error of one id a bulk call reported as failed, typed by what the reason says.

    A missing VM is a ``NotFoundError`` and a VM being deleted a ``ConflictError`` whichever
    bulk call met it (a refused bulk stop, or a failed job of a bulk delete), as a single call
    would raise; any other reason is a ``BulkItemError``. The id is added as a note, so
    ``except*`` handlers and tracebacks show which resource failed.
    """
    error: APIError | BulkItemError = BulkItemError(reason, id=item_id)
    for pattern, cls, status in _ITEM_REASONS:
        if pattern.search(reason):
            error = cls(reason, status=status)
            break
    error.add_note(f"id: {item_id}")
    return error


def chunked(ids: list[str], size: int) -> Iterator[list[str]]:
    """Split ids into consecutive chunks of at most ``size``, keeping their order."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def error_class(status: int) -> type[APIError]:
    """Return the error class for an HTTP error status."""
    known = STATUS_ERRORS.get(status)
    if known is not None:
        return known
    return ServerError if status >= 500 else APIError


# --- configuration ---------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_base_url(url: object) -> str:
    """Check a base URL and return it without a trailing slash.

    Plain ``http://`` is accepted only for loopback hosts: the API key must never travel in
    clear text over a network.

    Raises:
        ConfigurationError: the URL is not an absolute http(s) URL, or is http:// to a remote host.
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError(f"base_url must be a non-empty URL string, got {url!r}")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if scheme not in {"http", "https"} or not host:
        raise ConfigurationError(
            f"base_url must be an absolute http(s) URL such as {DEFAULT_BASE_URL!r}, got {url!r}"
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(f"base_url must not have a query or fragment, got {url!r}")
    if parts.username or parts.password:
        raise ConfigurationError("base_url must not contain credentials; pass api_key instead")
    if scheme == "http" and not _is_loopback(host):
        raise ConfigurationError(
            f"base_url {url!r} uses plain http:// to a non-loopback host; use https:// so the "
            "API key is never sent in clear text (http:// is allowed only for 127.0.0.0/8, "
            "::1 and localhost)"
        )
    return url.strip().rstrip("/")


def request_headers(api_key: str, version: str) -> dict[str, str]:
    """The headers every request carries."""
    return {
        "X-API-Key": api_key,
        "User-Agent": f"gpcn-async/{version}",
        "Accept": "application/json",
    }


def query_params(params: Mapping[str, object]) -> dict[str, str]:
    """Turn keyword filters into query parameters: None dropped, bools as true/false."""
    query: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            query[key] = "true" if value else "false"
        else:
            query[key] = str(value)
    return query


# --- rate-limit headers ----------------------------------------------------------------------


class RateLimitHeaders(NamedTuple):
    """The ``X-RateLimit-*`` headers of one answer; ``reset`` is Unix seconds."""

    limit: int
    remaining: int
    reset: float


_INFINITY: Final = math.inf


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)  # float() itself ignores surrounding whitespace
    except ValueError:
        return None
    # A comparison rather than math.isfinite(): one call less on every answer, and NaN fails it.
    return value if -_INFINITY < value < _INFINITY else None


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimitHeaders | None:
    """Read ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset``; None unless all three parse."""
    limit = _number(headers.get("X-RateLimit-Limit"))
    remaining = _number(headers.get("X-RateLimit-Remaining"))
    reset = _number(headers.get("X-RateLimit-Reset"))
    if limit is None or remaining is None or reset is None or limit < 1:
        return None
    return RateLimitHeaders(int(limit), int(remaining) if remaining > 0 else 0, reset)


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Parse a ``Retry-After`` header (seconds, or an HTTP date) into seconds from ``now``."""
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return max(0.0, seconds)
    when = parse_http_date(value)
    return None if when is None else max(0.0, when - now)


def rate_limit_wait(
    headers: Mapping[str, str], body_retry_after: object, *, now: float
) -> float | None:
    """How long a 429 asks us to wait, in seconds.

    ``Retry-After`` (header) or ``retryAfter`` (body) decides; without either, the time left
    until ``X-RateLimit-Reset``. None when the answer gives no hint at all.
    """
    header = parse_retry_after(headers.get("Retry-After"), now=now)
    if header is not None:
        return header
    if isinstance(body_retry_after, int | float) and not isinstance(body_retry_after, bool):
        seconds = float(body_retry_after)
        if math.isfinite(seconds):
            return max(0.0, seconds)
    rate = parse_rate_limit(headers)
    if rate is not None:
        return max(0.0, rate.reset - now)
    return None


# --- envelopes -------------------------------------------------------------------------------


class Envelope(NamedTuple):
    """A decoded success answer: ``data``, ``meta`` and ``message`` of the envelope."""

    data: Any = None
    meta: Any = None
    message: str | None = None


def _load_json(body: bytes) -> Any:
    # A ValueError here covers both invalid JSON and invalid UTF-8.
    return json.loads(body)


def decode_success(
    status: int,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    *,
    method: str | None = None,
    path: str | None = None,
    secrets: tuple[str, ...] = (),
) -> Envelope:
    """Decode the body of a 2xx answer.

    An empty body (204, or an empty 200) gives an empty envelope; the caller decides whether
    it needed data. ``headers``, ``method``, ``path`` and ``secrets`` serve only the errors
    raised, as for ``error_from_response``: the request id, where it failed, what to hide.

    Raises:
        ResponseDecodeError: the body is not a JSON object.
        APIError: the body is an error envelope (``"success": false``) despite the 2xx status.
    """
    if not body or body.isspace():  # not body.strip(), which would copy the whole body
        return Envelope()
    try:
        document = _load_json(body)
    except ValueError:
        raise ResponseDecodeError(
            "expected a JSON body", status=status, snippet=snippet(body, secrets)
        ) from None
    if not isinstance(document, dict):
        raise ResponseDecodeError(
            "expected a JSON object envelope", status=status, snippet=snippet(body, secrets)
        )
    if document.get("success") is False:
        raise error_from_response(
            status, body, headers or {}, method=method, path=path, secrets=secrets
        )
    message = document.get("message")
    return Envelope(
        data=document.get("data"),
        meta=document.get("meta"),
        message=message if isinstance(message, str) else None,
    )


@attrs.frozen
class ErrorBody:
    """What an error body says, whichever of the known shapes it has."""

    code: str | None = None
    message: str | None = None
    details: Any = None
    retry_after: object = None


_HTML_TEXT = re.compile(r"<(?:title|h1)[^>]*>(.*?)</(?:title|h1)>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def parse_error_body(body: bytes, secrets: tuple[str, ...] = ()) -> ErrorBody:
    """Read code, message, details and retryAfter from any known error shape.

    Shapes: guide (``error`` is a string code), reference (``error`` is an object with
    ``code``, ``statusCode``, ``details``), rate limiter (``error.message``/``error.retryAfter``,
    no top-level message), unknown route (``{"message": ...}``), and non-JSON pages (the
    title of an HTML gateway page becomes the message). Text taken from the raw body has
    ``secrets`` hidden; the caller redacts the fields of a JSON body.
    """
    try:
        document = _load_json(body)
    except ValueError:
        return ErrorBody(message=_page_text(body, secrets))
    if not isinstance(document, dict):
        return ErrorBody(message=snippet(body, secrets) or None)
    error = document.get("error")
    message = _text(document.get("message"))
    if isinstance(error, dict):
        return ErrorBody(
            code=_text(error.get("code")),
            message=message or _text(error.get("message")),
            details=error.get("details"),
            retry_after=error.get("retryAfter"),
        )
    return ErrorBody(code=_text(error), message=message, retry_after=document.get("retryAfter"))


def _page_text(body: bytes, secrets: tuple[str, ...]) -> str | None:
    text = body.decode("utf-8", errors="replace")
    match = _HTML_TEXT.search(text)
    if match:
        text = match.group(1)
    text = " ".join(_TAGS.sub(" ", text).split())
    return redact(text, secrets)[:SNIPPET_LENGTH] or None


def error_from_response(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    *,
    method: str | None = None,
    path: str | None = None,
    now: float = 0.0,
    secrets: tuple[str, ...] = (),
) -> APIError:
    """Build the typed error for an error answer (any shape, JSON or not).

    ``secrets`` (the client's API key) are hidden wherever the server echoed them, as are
    private keys and anything shaped like an API key.
    """
    parsed = parse_error_body(body, secrets)
    # Servers sometimes echo what they were sent; an echoed key must not reach an error string.
    message = redact(parsed.message, secrets) if parsed.message else None
    if not message:
        try:
            message = HTTPStatus(status).phrase
        except ValueError:
            message = f"HTTP {status}"
    fields: dict[str, Any] = {
        "status": status,
        "code": parsed.code,  # a code from the server's list: passed through untouched
        "details": redact_value(parsed.details, secrets),
        "request_id": headers.get("X-Request-Id"),
        "method": method,
        "path": path,
    }
    cls = error_class(status)
    if cls is RateLimitError:
        return RateLimitError(
            message, retry_after=rate_limit_wait(headers, parsed.retry_after, now=now), **fields
        )
    return cls(message, **fields)
