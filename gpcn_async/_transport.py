"""The one request pipeline: rate limiter → send → retry decision → envelope decode.

This is the only module that touches aiohttp's client and ``backoff.on_exception``. What an
answer means (which error, whether to retry) is decided by the pure functions of ``_wire``;
this module sends, maps aiohttp's exceptions in one place, and sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any, Final, NamedTuple, TypeVar

import aiohttp
import attrs
import backoff

from gpcn_async import _redact, _wire
from gpcn_async._limiter import RateLimiter
from gpcn_async._version import __version__
from gpcn_async.errors import (
    ClientStateError,
    ConfigurationError,
    GPCNError,
    OutcomeUnknownError,
    RateLimitError,
    ResponseDecodeError,
    TransportError,
)
from gpcn_async.policies import RetryPolicy

logger = logging.getLogger("gpcn_async")

T = TypeVar("T")

# Connecting gets its own, shorter limit: a server that cannot be reached then fails as "not
# sent" (safe to retry, even for a create) rather than as an unknown outcome.
MAX_CONNECT_TIMEOUT: Final = 10.0


class Response(NamedTuple):
    """A decoded 2xx answer; ``sent`` is when its request left, on the event loop's clock."""

    status: int
    data: Any
    meta: Any
    message: str | None
    headers: Mapping[str, str]
    sent: float = 0.0
    secrets: tuple[str, ...] = ()

    def decode(self, structure: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``structure(self.data, ...)``; a ``ResponseDecodeError`` gets this answer's status.

        The converter sees only the body; the status and the client's own key are the
        transport's, so they are added here: every unreadable answer says which status it came
        with, and its snippet never shows the key, whatever it looks like.
        """
        try:
            return structure(self.data, *args, **kwargs)
        except ResponseDecodeError as error:
            if error.status is None:
                error.status = self.status
            error.snippet = _redact.redact(error.snippet, self.secrets)
            raise


@attrs.define
class _Call:
    method: str
    path: str
    params: Mapping[str, str] | None
    json: Any
    background: bool
    safe: bool
    attempt: int = 0
    rate_limited: int = 0  # attempts answered 429 with a wait: not faults, not in max_retries
    rate_limit_waited: float = 0.0  # the seconds those 429s asked to wait, together


class _RetryableFailure(Exception):  # noqa: N818 -- a control-flow signal, not an error
    """Carries an attempt's error to the retry loop, meaning "this one may be tried again"."""

    def __init__(self, error: GPCNError) -> None:
        super().__init__(str(error))
        self.error = error


class _Sent:
    """Set by aiohttp's trace once a request's headers are written: it may have arrived."""

    __slots__ = ("headers_sent",)

    def __init__(self) -> None:
        self.headers_sent = False


async def _on_headers_sent(
    _session: aiohttp.ClientSession,
    context: SimpleNamespace,
    _params: aiohttp.TraceRequestHeadersSentParams,
) -> None:
    marker = context.trace_request_ctx
    if isinstance(marker, _Sent):
        marker.headers_sent = True


# A proxy that refused the tunnel answered for itself: the API never saw the request, and a
# proxy's refusal does not go away by retrying.
_FATAL_CONNECTION_ERRORS: Final = (aiohttp.ClientSSLError, aiohttp.ClientHttpProxyError)
_NOT_SENT_ERRORS: Final = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
# A ClientResponseError here is an answer aiohttp could not parse: the request was sent.
_LOST_ERRORS: Final = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    aiohttp.ClientResponseError,
)


def _classify(exc: BaseException) -> _wire.FailureKind:
    """Map an aiohttp (or timeout) exception to how far the request got."""
    if isinstance(exc, _FATAL_CONNECTION_ERRORS):
        return _wire.FailureKind.FATAL  # a certificate problem does not go away by retrying
    if isinstance(exc, _NOT_SENT_ERRORS):
        return _wire.FailureKind.NOT_SENT
    if isinstance(exc, TimeoutError):
        return _wire.FailureKind.TIMED_OUT
    if isinstance(exc, _LOST_ERRORS):
        return _wire.FailureKind.LOST
    return _wire.FailureKind.FATAL


class _ConnectionDropped(aiohttp.ClientConnectionError):
    """A dropped connection, wrapped so that aiohttp's own retry does not see it.

    ``ClientSession._request`` sends an idempotent request once more after
    ``ClientOSError`` / ``ServerDisconnectedError`` (aiohttp issue #10790), under our retry
    count: a server that keeps dropping would see twice ``max_tries`` requests. This type is
    neither, so aiohttp raises it at once; ``Transport`` unwraps it before classifying.
    """

    def __init__(self, original: aiohttp.ClientConnectionError) -> None:
        super().__init__(str(original))
        self.original = original


async def _no_resend_middleware(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """Hide a dropped connection from aiohttp's built-in re-send; retries are ours to count."""
    try:
        return await handler(request)
    except aiohttp.ClientConnectorError:
        raise  # never connected: aiohttp does not re-send these, and we classify them as such
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
        raise _ConnectionDropped(exc) from exc


def _shows_request(exc: BaseException) -> bool:
    """Whether an exception's repr would show the request's headers, and so the API key."""
    return hasattr(exc, "request_info")


class Transport:
    """Sends requests for one client; owns or borrows one ``aiohttp.ClientSession``.

    A transport belongs to the event loop it is opened (or first used) in; it refuses to work
    from another loop or after ``aclose()`` with ``ClientStateError``, before any request.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        timeout: float,
        max_connections: int,
        retry: RetryPolicy,
        session: aiohttp.ClientSession | None,
    ) -> None:
        self._headers = _wire.request_headers(api_key, __version__)
        # Hidden wherever an answer or an error message echoes it, whatever its shape.
        self._secrets = (api_key,)
        self._base_url = base_url
        self._timeout = aiohttp.ClientTimeout(
            total=timeout, sock_connect=min(timeout, MAX_CONNECT_TIMEOUT)
        )
        self._max_connections = max_connections
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise ConfigurationError(f"session must be an aiohttp.ClientSession, got {session!r}")
        self._borrowed = session is not None
        self._session = session
        self._slots = asyncio.Semaphore(max_connections)
        self._limiter = RateLimiter(max_wait=retry.max_rate_limit_wait)
        self._max_rate_limit_wait = retry.max_rate_limit_wait
        self._max_tries = retry.max_retries + 1
        self._base_delay = retry.base_delay
        self._max_delay = retry.max_delay
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._closing = asyncio.Event()  # set by aclose(): ends every pause between retries

    @property
    def closed(self) -> bool:
        """Whether ``aclose()`` has been called."""
        return self._closed

    @property
    def rate_limit(self) -> _wire.RateLimitHeaders | None:
        """The rate-limit headers of the newest window answered, or None before any answer."""
        return self._limiter.last

    def server_now(self) -> float:
        """The server's clock now (Unix seconds), as its ``Date`` headers tell; ours before any."""
        return self._limiter.server_now()

    def open(self) -> None:
        """Make the owned session now (``__aenter__``); a borrowed one is used as given."""
        self.check_usable()
        self._ensure_session()

    def check_usable(self) -> None:
        """Refuse work after ``aclose()`` or from another event loop than this transport's.

        Raises:
            ClientStateError: closed, or called from another event loop.
        """
        if self._closed:
            raise ClientStateError(
                "the client is closed; make a new Client (or use it inside `async with`) to "
                "send more requests"
            )
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise ClientStateError(
                "this client belongs to another event loop (the one it was entered or first "
                "used in, e.g. an earlier asyncio.run()); make one Client per event loop, inside it"
            )

    def close_now(self) -> aiohttp.ClientSession | None:
        """Refuse further work and end every wait at once; return the owned session to close.

        Synchronous, so that a cancelled ``aclose()`` still leaves the client closed.
        """
        self._closed = True
        self._closing.set()  # requests pausing between retries fail now, not after the pause
        self._limiter.close()  # requests waiting for the budget fail now, not after the wait
        session, self._session = self._session, None
        return None if self._borrowed else session

    async def aclose(self) -> None:
        """Close the owned session (a borrowed one is left open); later requests fail."""
        session = self.close_now()
        if session is not None:
            await session.close()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            if self._borrowed:
                raise ClientStateError("the client is closed; make a new Client to send requests")
            trace = aiohttp.TraceConfig()
            trace.on_request_headers_sent.append(_on_headers_sent)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                timeout=self._timeout,
                middlewares=(_no_resend_middleware,),
                trace_configs=[trace],
            )
        elif self._session.closed:
            raise ClientStateError("the aiohttp session passed as session= has been closed")
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        background: bool = False,
    ) -> Response:
        """Send one API request through the pipeline and return its decoded 2xx answer.

        A failure worth retrying is tried again after a backoff pause (exponential from
        ``base_delay``, full jitter, capped at ``max_delay``), ``max_retries + 1`` tries in all;
        ``aclose()`` ends a pause at once. A 429 that names its wait is not a fault: the shared
        limiter holds the request for that wait and it goes again, without using up
        ``max_retries``, until the call's 429 waits together exceed ``max_rate_limit_wait``
        (a 429 asking for no wait at all is retried as a fault is).

        Args:
            method: the HTTP method.
            path: the path relative to the base URL, starting with ``/``.
            params: query parameters.
            json: the JSON body, if any.
            background: a job poll: waits behind user requests at the limiter.

        Raises:
            ClientStateError: the client is closed, or this is another event loop.
            APIError: the server answered with an error (after retries where allowed).
            TransportError: no answer (after retries); ``OutcomeUnknownError`` for an action
                that is never re-sent and may have reached the server.
            ResponseDecodeError: the answer could not be decoded.
        """
        self.check_usable()
        method = method.upper()
        call = _Call(
            method=method,
            path=path,
            params=params,
            json=json,
            background=background,
            safe=_wire.is_safe_to_resend(method, path),
        )
        delays = backoff.expo(factor=self._base_delay, max_value=self._max_delay)
        next(delays)  # expo yields once before its first delay, as backoff primes it
        while True:
            try:
                return await self._attempt(call)
            except _RetryableFailure as failure:
                error = failure.error
            if isinstance(error, RateLimitError) and error.retry_after:
                # Waiting out a 429 is not a fault (others may share the key): its wait, which
                # paused the shared limiter already, counts against max_rate_limit_wait instead.
                call.rate_limited += 1
                call.rate_limit_waited += error.retry_after
                if call.rate_limit_waited > self._max_rate_limit_wait:
                    raise error from error.__cause__
                wait = 0.0
                waited, most = call.rate_limit_waited, self._max_rate_limit_wait
                spent = f"429 waits {waited:g} s, at most {most:g}"
            elif call.attempt - call.rate_limited >= self._max_tries:
                raise error from error.__cause__
            else:
                # A 429 asking for no wait at all is retried as a fault is: bounded by count.
                named_wait = isinstance(error, RateLimitError) and error.retry_after is not None
                wait = 0.0 if named_wait else backoff.full_jitter(next(delays))
                spent = f"attempt {call.attempt - call.rate_limited} of {self._max_tries}"
            logger.info(
                "retrying %s %s in %.3f s after: %s (%s)",
                call.method,
                call.path,
                wait,
                error,
                spent,
            )
            await self._pause_before_retry(call, wait, error)

    async def _pause_before_retry(self, call: _Call, seconds: float, error: GPCNError) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._closing.wait()
        if self._closed:
            raise self._closed_meanwhile(call) from error

    async def _attempt(self, call: _Call) -> Response:
        session = self._ensure_session()
        call.attempt += 1
        loop = asyncio.get_running_loop()
        # A connection slot first, then the limiter: a request counts against the budget only
        # once it can really be sent, so queued requests cannot spend it before any answer.
        async with self._slots:
            ticket = self._limiter.try_acquire(background=call.background)
            if ticket is None:
                ticket = await self._limiter.acquire(background=call.background)
            started = loop.time()
            sent = None if self._borrowed else _Sent()
            failure: Exception | None = None
            try:
                # Both waits above may outlast aclose(), or the borrowed session's own close.
                if self._closed or session.closed:
                    raise self._closed_meanwhile(call, session)
                try:
                    # raise_for_status and auto_decompress are given per request because a
                    # borrowed session's defaults would otherwise change what an answer means.
                    async with session.request(
                        call.method,
                        self._base_url + call.path,
                        params=call.params,
                        json=call.json,
                        headers=self._headers,
                        timeout=self._timeout,
                        allow_redirects=False,
                        raise_for_status=False,
                        auto_decompress=True,
                        trace_request_ctx=sent,
                    ) as response:
                        body = await response.read()
                        status, headers = response.status, response.headers
                except (aiohttp.ClientError, TimeoutError) as exc:
                    failure = self._connection_failure(call, exc, started, sent)
                if failure is not None:
                    # Raised outside the except block, so that aiohttp's exception does not
                    # become its __context__: some of them show the request headers.
                    raise failure
                self._limiter.observe_date(headers.get("Date"))
                rate = _wire.parse_rate_limit(headers)
                if rate is not None:
                    self._limiter.observe(rate, ticket=ticket, counted=status != 429)
            finally:
                self._limiter.release()
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %d (attempt %d, %.3f s)",
                call.method,
                call.path,
                status,
                call.attempt,
                loop.time() - started,
            )
        if 200 <= status < 300:
            envelope = _wire.decode_success(
                status, body, headers, method=call.method, path=call.path, secrets=self._secrets
            )
            return Response(
                status,
                envelope.data,
                envelope.meta,
                envelope.message,
                headers,
                started,
                self._secrets,
            )
        raise self._status_failure(call, status, body, headers, ticket)

    def _closed_meanwhile(
        self, call: _Call, session: aiohttp.ClientSession | None = None
    ) -> TransportError:
        if self._closed or session is None:
            return TransportError(f"{call.method} {call.path}: the client was closed meanwhile")
        return TransportError(
            f"{call.method} {call.path}: the aiohttp session passed as session= has been closed"
        )

    def _connection_failure(
        self, call: _Call, exc: BaseException, started: float, sent: _Sent | None
    ) -> Exception:
        if isinstance(exc, _ConnectionDropped):
            exc = exc.original
        kind = _classify(exc)
        if sent is not None and not sent.headers_sent and kind is not _wire.FailureKind.FATAL:
            # Not a byte of the request was written (e.g. the time ran out while connecting):
            # the server cannot have acted on it, whatever aiohttp's exception says.
            kind = _wire.FailureKind.NOT_SENT
        logger.debug(
            "%s %s -> %s (attempt %d, %.3f s)",
            call.method,
            call.path,
            type(exc).__name__,
            call.attempt,
            asyncio.get_running_loop().time() - started,
        )
        if isinstance(exc, aiohttp.ClientResponseError) and kind is _wire.FailureKind.LOST:
            # Its str() leads with aiohttp's parser code (400), which reads like the server's.
            what = f"the answer was not valid HTTP ({_describe(exc, self._secrets, exc.message)})"
        else:
            what = f"{kind.value} ({_describe(exc, self._secrets)})"
        error = TransportError(f"{call.method} {call.path}: {what}")
        # Its type and redacted message are in ours; the exception itself would show the key.
        error.__cause__ = None if _shows_request(exc) else exc
        return self._decide(call, error, _wire.decide_failure(kind, safe=call.safe))

    def _status_failure(
        self, call: _Call, status: int, body: bytes, headers: Mapping[str, str], ticket: int
    ) -> Exception:
        # A Retry-After date and X-RateLimit-Reset are on the server's clock.
        error = _wire.error_from_response(
            status,
            body,
            headers,
            method=call.method,
            path=call.path,
            now=self._limiter.server_now(),
            secrets=self._secrets,
        )
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            self._limiter.pause(error.retry_after, ticket=ticket)
            if error.retry_after > self._max_rate_limit_wait:
                return error  # fail fast: the caller decides whether to wait that long
        return self._decide(call, error, _wire.decide_status(status, safe=call.safe))

    def _decide(self, call: _Call, error: GPCNError, decision: _wire.Decision) -> Exception:
        if decision is _wire.Decision.RETRY:
            if self._closed:
                # Only a retry needs the client; an answer, or an unknown outcome, stays true.
                closed = self._closed_meanwhile(call)
                closed.__cause__ = error
                return closed
            return _RetryableFailure(error)
        if decision is _wire.Decision.OUTCOME_UNKNOWN:
            vm_name, ids = _wire.outcome_subject(call.method, call.path, call.json)
            unknown = OutcomeUnknownError(
                f"{call.method} {call.path}: {error}; the server may have acted on it, so it "
                "was not sent again",
                vm_name=vm_name,
                ids=ids,
            )
            unknown.__cause__ = error
            return unknown
        return error


def _describe(exc: BaseException, secrets: tuple[str, ...], text: str | None = None) -> str:
    text = str(exc) if text is None else text
    return f"{type(exc).__name__}: {_redact.redact(text, secrets)}" if text else type(exc).__name__
