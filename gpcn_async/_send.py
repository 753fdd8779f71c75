"""The one I/O seam: one HTTP exchange with aiohttp, ``send(request) -> Exchange``.

This is the only module that touches aiohttp's client. A sender sends one request and returns
the answer's status, headers and body, whatever the status; when no answer came it raises
``SendError`` saying how far the request got (never connected, lost, timed out). What an answer
means, and whether to try again, is decided around it (``_transport``, ``_wire``), so the whole
pipeline can be tested with an in-memory sender.
"""

from __future__ import annotations

import logging
import math
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

import aiohttp
import yarl

from gpcn_async import _redact, _resend
from gpcn_async.errors import ClientStateError, ConfigurationError, TransportError

__all__ = ["MAX_CONNECT_TIMEOUT", "AiohttpSender", "Exchange", "Request", "SendError", "Sender"]

MAX_CONNECT_TIMEOUT: Final = 10.0
"""Connecting gets its own, shorter limit: a server that cannot be reached then fails as "not
sent" (safe to retry, even for a create) rather than as an unknown outcome."""
CONNECT_SHARE: Final = 0.9
"""Under a short request limit, connecting may take this share of it: the connect limit must
end first, or the request's own limit would report a connect that never ended as a timeout."""


class Request(NamedTuple):
    """One request to send: the path is relative to the base URL."""

    method: str
    path: str
    params: Mapping[str, str] | None = None
    json: Any = None


class Exchange(NamedTuple):
    """What came back: any status, its headers and the raw body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class SendError(Exception):
    """No answer came; ``kind`` says how far the request got, ``text`` what happened.

    The text is safe to show (secrets masked); ``__cause__`` is the original exception unless
    showing it would show the request's headers.
    """

    def __init__(self, kind: _resend.FailureKind, text: str) -> None:
        super().__init__(text)
        self.kind = kind
        self.text = text


logger = logging.getLogger("gpcn_async")

Sender = Callable[[Request], Awaitable[Exchange]]
"""Sends one request: returns the ``Exchange``, or raises ``SendError`` when no answer came."""


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


def _classify(exc: BaseException) -> _resend.FailureKind:
    """Map an aiohttp (or timeout) exception to how far the request got."""
    if isinstance(exc, _FATAL_CONNECTION_ERRORS):
        return _resend.FailureKind.FATAL  # a certificate problem does not go away by retrying
    if isinstance(exc, _NOT_SENT_ERRORS):
        return _resend.FailureKind.NOT_SENT
    if isinstance(exc, TimeoutError):
        return _resend.FailureKind.TIMED_OUT
    if isinstance(exc, _LOST_ERRORS):
        return _resend.FailureKind.LOST
    return _resend.FailureKind.FATAL


class _ConnectionDropped(aiohttp.ClientConnectionError):
    """A dropped connection, wrapped so that aiohttp's own retry does not see it.

    ``ClientSession._request`` sends an idempotent request once more after
    ``ClientOSError`` / ``ServerDisconnectedError`` (aiohttp issue #10790), under our retry
    count: a server that keeps dropping would see twice ``max_tries`` requests. This type is
    neither, so aiohttp raises it at once; the sender unwraps it before classifying.
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


def proxy_from_env(base_url: str) -> tuple[str | None, aiohttp.BasicAuth | None]:
    """The proxy the environment names for ``base_url``: its URL, and the credentials it held.

    ``HTTP_PROXY`` / ``HTTPS_PROXY`` by the URL's scheme, unless ``NO_PROXY`` excludes its host.
    Read once, when the session is made: aiohttp's own ``trust_env`` reads the environment and
    ``~/.netrc`` again on every request, in a thread, which tripled the cost of a request.
    """
    parts = urlsplit(base_url)
    host = parts.hostname
    if host is None or urllib.request.proxy_bypass(host):
        return None, None
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy:
        return None, None
    url = yarl.URL(proxy)
    if url.scheme != "http":
        logger.warning("%s proxies are not supported; %s is not used", url.scheme, url.host)
        return None, None
    auth = aiohttp.BasicAuth(url.user, url.password or "") if url.user else None
    return str(url.with_user(None)), auth


class AiohttpSender:
    """Sends requests with one ``aiohttp.ClientSession``, its own or a borrowed one.

    Its own session is made on ``open()`` (or the first request) and closed by ``aclose()``; a
    borrowed one is used as given and never closed.
    """

    def __init__(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str],
        timeout: float,
        max_connections: int,
        session: aiohttp.ClientSession | None,
        trust_env: bool,
        secrets: tuple[str, ...],
    ) -> None:
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise ConfigurationError(f"session must be an aiohttp.ClientSession, got {session!r}")
        self._base_url = base_url
        self._headers = dict(headers)
        # Sent with each request, unless the owned session has them (see _usable_session).
        self._request_headers: dict[str, str] | None = self._headers
        # No rounding of deadlines to whole seconds (aiohttp's ceil_threshold): it could make
        # both limits fall in the same second, and then the request's own limit wins.
        self._timeout = aiohttp.ClientTimeout(
            total=timeout,
            sock_connect=min(timeout * CONNECT_SHARE, MAX_CONNECT_TIMEOUT),
            ceil_threshold=math.inf,
        )
        self._max_connections = max_connections
        self._borrowed = session is not None
        self._session = session
        self._trust_env = trust_env
        self._secrets = secrets

    def open(self) -> None:
        """Make the owned session now; a borrowed one is used as given."""
        self._usable_session()

    def detach(self) -> aiohttp.ClientSession | None:
        """Stop sending; return the owned session, for the caller to close (a borrowed: None)."""
        session, self._session = self._session, None
        return None if self._borrowed else session

    async def aclose(self) -> None:
        """Close the owned session (a borrowed one is left open)."""
        session = self.detach()
        if session is not None:
            await session.close()

    def _usable_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            if self._borrowed:
                raise ClientStateError("the client is closed; make a new Client to send requests")
            # HTTP(S)_PROXY and NO_PROXY, as httpx and requests honour them, read once here.
            proxy, proxy_auth = proxy_from_env(self._base_url) if self._trust_env else (None, None)
            session_headers = None
            if proxy is None:
                # The session has our headers, so aiohttp need not merge a request's headers
                # into the session's, one by one, on every request. Not through a proxy:
                # aiohttp sends a session's own headers to the proxy too, the key among them.
                session_headers, self._request_headers = self._headers, None
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                headers=session_headers,
                timeout=self._timeout,
                middlewares=(_no_resend_middleware,),
                proxy=proxy,
                proxy_auth=proxy_auth,
            )
        elif self._session.closed:
            raise ClientStateError("the aiohttp session passed as session= has been closed")
        return self._session

    def check(self) -> None:
        """Raise ``ClientStateError`` if no request can be sent (a borrowed session closed)."""
        self._usable_session()

    async def __call__(self, request: Request) -> Exchange:
        """Send one request; its answer whatever the status, or ``SendError``."""
        session = self._session
        if session is None or session.closed:
            what = "the client" if not self._borrowed else "the aiohttp session passed as session="
            raise TransportError(f"{request.method} {request.path}: {what} was closed meanwhile")
        failure: SendError | None = None
        try:
            # raise_for_status and auto_decompress are given per request because a borrowed
            # session's defaults would otherwise change what an answer means.
            async with session.request(
                request.method,
                self._base_url + request.path,
                params=request.params,
                json=request.json,
                headers=self._request_headers,
                timeout=self._timeout,
                allow_redirects=False,
                raise_for_status=False,
                auto_decompress=True,
            ) as response:
                return Exchange(response.status, response.headers, await response.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            failure = self._failure(exc)
        # Raised outside the except block, so that aiohttp's exception does not become its
        # __context__: some of them show the request headers, and so the API key.
        raise failure

    def _failure(self, exc: BaseException) -> SendError:
        if isinstance(exc, _ConnectionDropped):
            exc = exc.original
        kind = _classify(exc)
        if isinstance(exc, aiohttp.ClientResponseError) and kind is _resend.FailureKind.LOST:
            # Its str() leads with aiohttp's parser code (400), which reads like the server's.
            text = f"the answer was not valid HTTP ({_describe(exc, self._secrets, exc.message)})"
        else:
            text = f"{kind.value} ({_describe(exc, self._secrets)})"
        failure = SendError(kind, text)
        # Its type and redacted message are in the text; some exceptions show the key.
        failure.__cause__ = None if hasattr(exc, "request_info") else exc
        return failure


def _describe(exc: BaseException, secrets: tuple[str, ...], text: str | None = None) -> str:
    text = str(exc) if text is None else text
    return f"{type(exc).__name__}: {_redact.redact(text, secrets)}" if text else type(exc).__name__
