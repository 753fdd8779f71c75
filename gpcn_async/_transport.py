"""The one request pipeline: rate limiter → send → retry decision → envelope decode.

Sending is the sender's (``_send``: one aiohttp exchange, or an in-memory one in tests); what an
answer means (which error, whether to retry) is decided by the pure functions of ``_wire``. This
module puts them together: it waits at the limiter, sends, decides, and sleeps between tries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import attrs
import backoff

from gpcn_async import _redact, _resend, _wire
from gpcn_async._limiter import RateLimiter
from gpcn_async._send import AiohttpSender, Exchange, Request, Sender, SendError
from gpcn_async._version import __version__
from gpcn_async.errors import (
    ClientStateError,
    GPCNError,
    OutcomeUnknownError,
    RateLimitError,
    ResponseDecodeError,
    TransportError,
)
from gpcn_async.policies import RetryPolicy

if TYPE_CHECKING:
    import aiohttp

logger = logging.getLogger("gpcn_async")

T = TypeVar("T")


class Response(NamedTuple):
    """A decoded 2xx answer; ``sent`` is when its request left, on the event loop's clock."""

    status: int
    data: Any
    meta: Any
    message: str | None
    headers: Mapping[str, str]
    sent: float = 0.0
    secrets: tuple[str, ...] = ()
    request: Request | None = None
    safe: bool = True

    def decode(self, structure: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``structure(self.data, ...)``, its errors told as the pipeline tells every error.

        A ``ResponseDecodeError`` gets this answer's status, and its snippet never shows the
        client's key. For an action never re-sent (a create, a delete...), an answer that
        cannot be read is ``OutcomeUnknownError``: the server took the action (a 2xx), so the
        caller must look before acting again.
        """
        try:
            return structure(self.data, *args, **kwargs)
        except ResponseDecodeError as error:
            if error.status is None:
                error.status = self.status
            error.snippet = _redact.redact(error.snippet, self.secrets)
            if self.safe or self.request is None:
                raise
            raise _taken_but_unreadable(self.request, error) from error


def _taken_but_unreadable(request: Request, error: ResponseDecodeError) -> OutcomeUnknownError:
    """The error of an action never re-sent whose 2xx answer cannot be read."""
    vm_name, ids = _resend.outcome_subject(request.method, request.path, request.json)
    return OutcomeUnknownError(
        f"{request.method} {request.path}: the server accepted it but its answer could not be "
        f"read ({error})",
        vm_name=vm_name,
        ids=ids,
    )


@attrs.define
class _Call:
    request: Request
    background: bool
    safe: bool
    attempt: int = 0
    rate_limited: int = 0  # attempts answered 429 with a wait: not faults, not in max_retries
    rate_limit_waited: float = 0.0  # the seconds those 429s asked to wait, together

    @property
    def what(self) -> str:
        return f"{self.request.method} {self.request.path}"


class _RetryableFailure(Exception):  # noqa: N818 -- a control-flow signal, not an error
    """Carries an attempt's error to the retry loop, meaning "this one may be tried again"."""

    def __init__(self, error: GPCNError) -> None:
        super().__init__(str(error))
        self.error = error


class Transport:
    """Sends requests for one client through the pipeline.

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
        trust_env: bool = True,
        sender: Sender | None = None,
    ) -> None:
        # Hidden wherever an answer or an error message echoes it, whatever its shape.
        self._secrets = (api_key,)
        # Tests may give an in-memory sender; otherwise aiohttp sends, on the client's own
        # session or a borrowed one.
        self._aiohttp: AiohttpSender | None = None
        if sender is None:
            self._aiohttp = AiohttpSender(
                base_url=base_url,
                headers=_wire.request_headers(api_key, __version__),
                timeout=timeout,
                max_connections=max_connections,
                session=session,
                trust_env=trust_env,
                secrets=self._secrets,
            )
            sender = self._aiohttp
        self._send = sender
        self._slots = asyncio.Semaphore(max_connections)
        self._limiter = RateLimiter(max_wait=retry.max_rate_limit_wait)
        self._max_rate_limit_wait = retry.max_rate_limit_wait
        self._max_tries = retry.max_retries + 1
        self._base_delay = retry.base_delay
        self._max_delay = retry.max_delay
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._closing = asyncio.Event()  # set by close_now(): ends every pause between retries

    @property
    def closed(self) -> bool:
        """Whether the transport has been closed."""
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
        if self._aiohttp is not None:
            self._aiohttp.open()  # the owned session is made now, in this loop

    def close_now(self) -> aiohttp.ClientSession | None:
        """Refuse further work and end every wait at once; return the owned session to close.

        Synchronous, so that a cancelled ``aclose()`` still leaves the client closed.
        """
        self._closed = True
        self._closing.set()  # requests pausing between retries fail now, not after the pause
        self._limiter.close()  # requests waiting for the budget fail now, not after the wait
        return None if self._aiohttp is None else self._aiohttp.detach()

    async def aclose(self) -> None:
        """Close the owned session (a borrowed one is left open); later requests fail."""
        session = self.close_now()
        if session is not None:
            await session.close()

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
        ``aclose()`` ends a pause at once. A 429 that names a wait is not a fault: the shared
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
            Request(method, path, params, json),
            background=background,
            safe=_resend.is_safe_to_resend(method, path),
        )
        delays: Iterator[float] | None = None  # made at the first failure: most calls have none
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
                if delays is None:
                    delays = backoff.expo(factor=self._base_delay, max_value=self._max_delay)
                    next(delays)  # expo yields once before its first delay, as backoff primes it
                wait = 0.0 if named_wait else backoff.full_jitter(next(delays))
                spent = f"attempt {call.attempt - call.rate_limited} of {self._max_tries}"
            logger.info("retrying %s in %.3f s after: %s (%s)", call.what, wait, error, spent)
            await self._pause_before_retry(call, wait, error)

    async def _pause_before_retry(self, call: _Call, seconds: float, error: GPCNError) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._closing.wait()
        if self._closed:
            raise TransportError(f"{call.what}: the client was closed meanwhile") from error

    async def _attempt(self, call: _Call) -> Response:
        call.attempt += 1
        loop = asyncio.get_running_loop()
        # A connection slot first, then the limiter: a request counts against the budget only
        # once it can really be sent, so queued requests cannot spend it before any answer.
        async with self._slots:
            ticket = self._limiter.try_acquire(background=call.background)
            if ticket is None:
                ticket = await self._limiter.acquire(background=call.background)
            started = loop.time()
            failure: SendError | None = None
            try:
                if self._closed:  # both waits above may outlast aclose()
                    raise TransportError(f"{call.what}: the client was closed meanwhile")
                exchange = await self._send(call.request)
                self._observe(exchange, ticket)
            except SendError as error:
                failure = error
            finally:
                self._limiter.release()
        if logger.isEnabledFor(logging.DEBUG):  # its arguments cost a clock read and a format
            outcome = exchange.status if failure is None else failure.kind.name
            took = loop.time() - started
            logger.debug("%s -> %s (attempt %d, %.3f s)", call.what, outcome, call.attempt, took)
        if failure is not None:
            # Raised outside the except block: the failure is told in the error's own text.
            raise self._no_answer(call, failure)
        return self._answer(call, exchange, started, ticket)

    def _observe(self, exchange: Exchange, ticket: int) -> None:
        """Give an answer's Date and X-RateLimit-* headers to the limiter (before release)."""
        self._limiter.observe_date(exchange.headers.get("Date"))
        rate = _wire.parse_rate_limit(exchange.headers)
        if rate is not None:
            # A 429 was not counted by the server: it says nothing of others' spending.
            self._limiter.observe(rate, ticket=ticket, counted=exchange.status != 429)

    def _answer(self, call: _Call, exchange: Exchange, started: float, ticket: int) -> Response:
        """A 2xx decoded, or the typed error of any other status (retryable or not)."""
        method, path = call.request.method, call.request.path
        status, headers, body = exchange
        if 200 <= status < 300:
            try:
                envelope = _wire.decode_success(
                    status, body, headers, method=method, path=path, secrets=self._secrets
                )
            except ResponseDecodeError as unreadable:
                if call.safe:
                    raise
                raise _taken_but_unreadable(call.request, unreadable) from unreadable
            return Response(
                status,
                envelope.data,
                envelope.meta,
                envelope.message,
                headers,
                started,
                self._secrets,
                call.request,
                call.safe,
            )
        # A Retry-After date and X-RateLimit-Reset are on the server's clock.
        error = _wire.error_from_response(
            status,
            body,
            headers,
            method=method,
            path=path,
            now=self._limiter.server_now(),
            secrets=self._secrets,
        )
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            self._limiter.pause(error.retry_after, ticket=ticket)
            if error.retry_after > self._max_rate_limit_wait:
                raise error  # fail fast: the caller decides whether to wait that long
        raise self._decide(call, error, _resend.decide_status(status, safe=call.safe))

    def _no_answer(self, call: _Call, failure: SendError) -> Exception:
        error = TransportError(f"{call.what}: {failure.text}")
        error.__cause__ = failure.__cause__
        return self._decide(call, error, _resend.decide_failure(failure.kind, safe=call.safe))

    def _decide(self, call: _Call, error: GPCNError, decision: _resend.Decision) -> Exception:
        if decision is _resend.Decision.RETRY:
            if self._closed:
                # Only a retry needs the client; an answer, or an unknown outcome, stays true.
                closed = TransportError(f"{call.what}: the client was closed meanwhile")
                closed.__cause__ = error
                return closed
            return _RetryableFailure(error)
        if decision is _resend.Decision.OUTCOME_UNKNOWN:
            request = call.request
            vm_name, ids = _resend.outcome_subject(request.method, request.path, request.json)
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
