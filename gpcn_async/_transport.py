"""The one request pipeline: rate limiter → send → retry decision → envelope decode.

This is the only module that touches aiohttp's client and ``backoff.on_exception``. What an
answer means (which error, whether to retry) is decided by the pure functions of ``_wire``;
this module sends, maps aiohttp's exceptions in one place, and sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Generator, Mapping
from typing import Any, Final, NamedTuple

import aiohttp
import attrs
import backoff

from gpcn_async import _wire
from gpcn_async._limiter import RateLimiter
from gpcn_async._version import __version__
from gpcn_async.errors import (
    ConfigurationError,
    GPCNError,
    OutcomeUnknownError,
    RateLimitError,
    TransportError,
)
from gpcn_async.policies import RetryPolicy

logger = logging.getLogger("gpcn_async")


class Response(NamedTuple):
    """A decoded 2xx answer; ``sent`` is when its request left (``time.monotonic()``)."""

    status: int
    data: Any
    meta: Any
    message: str | None
    headers: Mapping[str, str]
    sent: float = 0.0


@attrs.define
class _Call:
    method: str
    path: str
    params: Mapping[str, str] | None
    json: Any
    background: bool
    safe: bool
    attempt: int = 0
    # The first attempt's failure, replayed to backoff so that it schedules the retries.
    replay: _RetryableFailure | None = None


class _RetryableFailure(Exception):  # noqa: N818 -- a control-flow signal for backoff, not an error
    """Carries an attempt's error to backoff, meaning "this one may be tried again"."""

    def __init__(self, error: GPCNError) -> None:
        super().__init__(str(error))
        self.error = error


def _retry_waits(base_delay: float, max_delay: float) -> Generator[float, Any, None]:
    """Backoff's wait generator: exponential (jittered by backoff) except after a 429.

    backoff sends each attempt's exception in. A 429 that named its wait has already paused the
    shared limiter for that long, so the retry itself waits nothing more; one without a hint
    backs off like any other failure.
    """
    delays = backoff.expo(factor=base_delay, max_value=max_delay)
    next(delays)  # expo yields once before its first delay, as backoff's own priming expects
    failure = yield 0.0  # backoff primes the generator and discards this value
    while True:
        error = failure.error if isinstance(failure, _RetryableFailure) else None
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            failure = yield 0.0
        else:
            failure = yield next(delays)


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
    """Sends requests for one client; owns or borrows one ``aiohttp.ClientSession``."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        timeout: float,
        max_connections: int,
        retry: RetryPolicy,
        session: aiohttp.ClientSession | None,
        trust_env: bool = True,
    ) -> None:
        self._headers = _wire.request_headers(api_key, __version__)
        # Hidden wherever an answer or an error message echoes it, whatever its shape.
        self._secrets = (api_key,)
        self._base_url = base_url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_connections = max_connections
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise ConfigurationError(f"session must be an aiohttp.ClientSession, got {session!r}")
        self._borrowed = session is not None
        self._session = session
        self._trust_env = trust_env
        self._slots = asyncio.Semaphore(max_connections)
        self._limiter = RateLimiter(max_wait=retry.max_rate_limit_wait)
        self._max_rate_limit_wait = retry.max_rate_limit_wait
        self._max_tries = retry.max_retries + 1
        self._closed = False
        # Built once: a decorator per request would cost allocations on the hot path. It is
        # entered only after a first attempt failed in a way worth retrying (see request()).
        self._send_with_retries = backoff.on_exception(
            _retry_waits,
            _RetryableFailure,
            max_tries=self._max_tries,
            jitter=backoff.full_jitter,
            logger=None,
            on_backoff=self._log_retry,
            base_delay=retry.base_delay,
            max_delay=retry.max_delay,
        )(self._retry_attempt)

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
        self._ensure_session()

    async def aclose(self) -> None:
        """Close the owned session (a borrowed one is left open); later requests fail."""
        if self._closed:
            return
        self._closed = True
        self._limiter.close()  # requests waiting for the budget fail now, not after the wait
        session, self._session = self._session, None
        if session is not None and not self._borrowed:
            await session.close()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise TransportError("the client is closed; make a new Client to send requests")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                timeout=self._timeout,
                middlewares=(_no_resend_middleware,),
                trust_env=self._trust_env,  # HTTP(S)_PROXY and NO_PROXY, as httpx and requests
            )
        elif self._session.closed:
            raise TransportError("the aiohttp session passed as session= has been closed")
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

        Args:
            method: the HTTP method.
            path: the path relative to the base URL, starting with ``/``.
            params: query parameters.
            json: the JSON body, if any.
            background: a job poll: waits behind user requests at the limiter.

        Raises:
            APIError: the server answered with an error (after retries where allowed).
            TransportError: no answer (after retries); ``OutcomeUnknownError`` for a create
                that may have reached the server.
            ResponseDecodeError: the answer could not be decoded.
        """
        method = method.upper()
        call = _Call(
            method=method,
            path=path,
            params=params,
            json=json,
            background=background,
            safe=_wire.is_safe_to_resend(method, path),
        )
        # Most requests succeed at once: the first attempt is made directly, and backoff (whose
        # bookkeeping costs more than the rest of the pipeline) takes over only after it fails.
        try:
            return await self._attempt(call)
        except _RetryableFailure as failure:
            if self._max_tries <= 1:
                raise failure.error from failure.error.__cause__
            call.replay = failure
        try:
            return await self._send_with_retries(call)
        except _RetryableFailure as failure:
            raise failure.error from failure.error.__cause__

    async def _retry_attempt(self, call: _Call) -> Response:
        """What backoff calls: its first call replays the first attempt's failure, no request.

        So backoff counts that attempt, waits as if it had just made it, and sends the
        retries itself: ``max_tries`` attempts in all, as if it had made every one.
        """
        replay, call.replay = call.replay, None
        if replay is not None:
            raise replay
        return await self._attempt(call)

    async def _attempt(self, call: _Call) -> Response:
        session = self._ensure_session()
        call.attempt += 1
        # A connection slot first, then the limiter: a request counts against the budget only
        # once it can really be sent, so queued requests cannot spend it before any answer.
        async with self._slots:
            if not self._limiter.try_acquire(background=call.background):
                await self._limiter.acquire(background=call.background)
            started = time.monotonic()
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
                    ) as response:
                        body = await response.read()
                        status, headers = response.status, response.headers
                except (aiohttp.ClientError, TimeoutError) as exc:
                    failure = self._connection_failure(call, exc, started)
                if failure is not None:
                    # Raised outside the except block, so that aiohttp's exception does not
                    # become its __context__: some of them show the request headers.
                    raise failure
                self._limiter.observe_date(headers.get("Date"))
                rate = _wire.parse_rate_limit(headers)
                if rate is not None:
                    self._limiter.observe(rate)
            finally:
                self._limiter.release()
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %d (attempt %d, %.3f s)",
                call.method,
                call.path,
                status,
                call.attempt,
                time.monotonic() - started,
            )
        if 200 <= status < 300:
            envelope = _wire.decode_success(
                status, body, headers, method=call.method, path=call.path, secrets=self._secrets
            )
            return Response(
                status, envelope.data, envelope.meta, envelope.message, headers, started
            )
        raise self._status_failure(call, status, body, headers)

    def _closed_meanwhile(
        self, call: _Call, session: aiohttp.ClientSession | None
    ) -> TransportError:
        if self._closed or session is None:
            return TransportError(f"{call.method} {call.path}: the client was closed meanwhile")
        return TransportError(
            f"{call.method} {call.path}: the aiohttp session passed as session= has been closed"
        )

    def _connection_failure(self, call: _Call, exc: BaseException, started: float) -> Exception:
        if isinstance(exc, _ConnectionDropped):
            exc = exc.original
        kind = _classify(exc)
        logger.debug(
            "%s %s -> %s (attempt %d, %.3f s)",
            call.method,
            call.path,
            type(exc).__name__,
            call.attempt,
            time.monotonic() - started,
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
        self, call: _Call, status: int, body: bytes, headers: Mapping[str, str]
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
            self._limiter.pause(error.retry_after)
            if error.retry_after > self._max_rate_limit_wait:
                return error  # fail fast: the caller decides whether to wait that long
        return self._decide(call, error, _wire.decide_status(status, safe=call.safe))

    def _decide(self, call: _Call, error: GPCNError, decision: _wire.Decision) -> Exception:
        if decision is _wire.Decision.RETRY:
            if self._closed:
                # Only a retry needs the client; an answer, or an unknown outcome, stays true.
                closed = self._closed_meanwhile(call, None)
                closed.__cause__ = error
                return closed
            return _RetryableFailure(error)
        if decision is _wire.Decision.OUTCOME_UNKNOWN:
            vm_name, ids = _wire.outcome_subject(call.method, call.path, call.json)
            # The error already names the request ("POST /resource/gpu: ..." or "HTTP 503 on
            # POST /resource/gpu: ..."): prefixing it again would say it twice.
            unknown = OutcomeUnknownError(
                f"{error}; the server may have acted on it, so it was not sent again",
                vm_name=vm_name,
                ids=ids,
            )
            unknown.__cause__ = error
            return unknown
        return error

    async def _log_retry(self, details: Any) -> None:
        failure = details["exception"]
        call = details["args"][0]
        logger.info(
            "retrying %s %s in %.3f s after: %s (attempt %d of %d)",
            call.method,
            call.path,
            details["wait"],
            failure.error,
            details["tries"],
            self._max_tries,
        )


def _describe(exc: BaseException, secrets: tuple[str, ...], text: str | None = None) -> str:
    text = str(exc) if text is None else text
    return f"{type(exc).__name__}: {_wire.redact(text, secrets)}" if text else type(exc).__name__
