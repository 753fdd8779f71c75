"""``Client``: configuration, lifetime, and the way in to every resource."""

from __future__ import annotations

import asyncio
import math
import os
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar
from urllib.parse import urlsplit

from gpcn_async import _redact, _validate, _wire
from gpcn_async._poller import Poller
from gpcn_async._transport import Transport
from gpcn_async.errors import ConfigurationError
from gpcn_async.jobs import no_result
from gpcn_async.models import AuthStatus, RateLimitSnapshot
from gpcn_async.policies import PollPolicy, RetryPolicy
from gpcn_async.resources.auth import AuthClient
from gpcn_async.resources.datacenters import DatacentersClient
from gpcn_async.resources.gpu import ACTION_JOBS, CREATE_JOB, GpuClient
from gpcn_async.resources.jobs import JobsClient
from gpcn_async.resources.ssh_keys import SshKeysClient

if TYPE_CHECKING:
    import aiohttp

__all__ = ["Client"]

ENV_API_KEY = "GPCN_API_KEY"
ENV_BASE_URL = "GPCN_BASE_URL"

_Policy = TypeVar("_Policy", RetryPolicy, PollPolicy)


class Client:
    """An asynchronous client of the GPCN GPU API.

    Use it as an async context manager, or call ``aclose()`` when done:

    ```python
    async with Client() as gpcn:  # key from GPCN_API_KEY
        ...
    ```

    Args:
        api_key: the API key (``gpcn_...``); defaults to the ``GPCN_API_KEY`` environment
            variable. An empty key counts as none.
        base_url: the API's base URL; defaults to ``GPCN_BASE_URL``, then
            ``https://api.gpcn.com/v1``. Plain ``http://`` is accepted for loopback hosts only.
        timeout: seconds allowed for each request attempt (not for a whole job wait).
            Connecting has its own limit, 10 s (nine tenths of a timeout under 11 s): a server
            that cannot be reached fails as "not sent", safe to retry even for a create.
        max_connections: how many requests may be in flight at once.
        retry: how failed requests are retried (see ``RetryPolicy``).
        poll: how jobs are polled (see ``PollPolicy``).
        session: an ``aiohttp.ClientSession`` to borrow; the client never closes it. Without
            one, the client makes its own on ``__aenter__`` (or the first request) and closes
            it in ``aclose()``. The client's requests override the session's
            ``raise_for_status`` and ``auto_decompress``, and give their own URL, headers and
            timeout; the session's other settings (default headers and auth, cookies, proxy,
            middlewares) apply to them. Unlike its own session, a borrowed one may re-send a
            GET, PUT or DELETE once by itself when the server drops the connection (aiohttp
            does this for idempotent requests), so a failing request may reach the server up
            to twice ``max_retries + 1`` times; never a POST, so never a create.
        trust_env: honour the ``HTTP_PROXY``, ``HTTPS_PROXY`` and ``NO_PROXY`` environment
            variables, as httpx and requests do (read once, when the session is made; proxy
            credentials go in the proxy's URL); ``False`` ignores them. It applies to the
            client's own session; a borrowed session keeps its own setting.

    Raises:
        ConfigurationError: no API key, a clear-text URL to a remote host, or a bad setting.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_connections: int = 32,
        retry: RetryPolicy = RetryPolicy(),
        poll: PollPolicy = PollPolicy(),
        session: aiohttp.ClientSession | None = None,
        trust_env: bool = True,
    ) -> None:
        if api_key is None:
            api_key = os.environ.get(ENV_API_KEY)
        if not api_key:
            raise ConfigurationError(
                f"no API key: pass api_key=... or set the {ENV_API_KEY} environment variable"
            )
        if not isinstance(api_key, str):
            raise ConfigurationError(f"api_key must be a str, got {type(api_key).__name__}")
        _check_api_key(api_key)
        self._base_url = _base_url(
            base_url or os.environ.get(ENV_BASE_URL) or _wire.DEFAULT_BASE_URL
        )
        _check_timeout(timeout)
        _check_connections(max_connections)
        if not isinstance(trust_env, bool):
            raise ConfigurationError(f"trust_env must be True or False, got {trust_env!r}")
        self._retry = _check_policy("retry", retry, RetryPolicy)
        self._poll = _check_policy("poll", poll, PollPolicy)
        self._key_hint = _redact.redact_api_key(api_key)
        self._transport = Transport(
            api_key=api_key,
            base_url=self._base_url,
            timeout=float(timeout),
            max_connections=max_connections,
            retry=self._retry,
            session=session,
            trust_env=trust_env,
        )
        # One poller per client: every job of this client is polled through it, together.
        self._poller = Poller(
            self._transport, self._poll, failure_limit=self._retry.max_retries + 1
        )
        self.gpu = GpuClient(self._transport, self._poller, self._poll)
        """GPU VMs and the GPU inventory."""
        # A resumed job reads its result as the call that started it would have.
        results = {CREATE_JOB: self.gpu._created_vm, **dict.fromkeys(ACTION_JOBS, no_result)}
        self.jobs = JobsClient(self._transport, self._poller, self._poll, results=results)
        """Jobs by id: attach to or resume a job started elsewhere, or read statuses in batches."""
        self.ssh_keys = SshKeysClient(self._transport)
        """The account's SSH-key library (a reference-dialect create needs a key's id)."""
        self.datacenters = DatacentersClient(self._transport)
        """The datacenters the API key can see."""
        self._auth = AuthClient(self._transport)

    @property
    def base_url(self) -> str:
        """The base URL every path is relative to."""
        return self._base_url

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy."""
        return self._retry

    @property
    def poll(self) -> PollPolicy:
        """The poll policy."""
        return self._poll

    @property
    def closed(self) -> bool:
        """Whether the client has been closed."""
        return self._transport.closed

    @property
    def rate_limit(self) -> RateLimitSnapshot | None:
        """The latest rate-limit state the server reported, or None before any answer."""
        headers = self._transport.rate_limit
        if headers is None:
            return None
        return RateLimitSnapshot(
            limit=headers.limit,
            remaining=headers.remaining,
            reset_at=datetime.fromtimestamp(headers.reset, UTC),
        )

    async def auth_check(self) -> AuthStatus:
        """Check the API key: whether it is accepted, what kind, until when, with what rights.

        The cheapest authenticated call; it needs no permission.

        Raises:
            AuthenticationError: the key was rejected (401); the message lists the likely
                causes (revoked, expired, disabled, not bound to an entity...).
            NotFoundError: no auth-check route at the base URL: is it the GPCN API's?
        """
        return await self._auth.check()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """Call an endpoint the SDK does not wrap, through the same pipeline as every call.

        The request is rate limited and retried like any other (a ``POST`` this SDK does not
        know as safe is never sent twice once it may have arrived), and errors are typed.

        Args:
            method: the HTTP method, e.g. ``"GET"``.
            path: the path relative to the base URL, e.g. ``"/resource/gpu/inventory"``.
            params: query parameters (None values are left out).
            json: the JSON body.

        Returns:
            The ``data`` of the answer's envelope (None for an answer without a body).
        """
        method = _validate.http_method(method)
        path = _validate.api_path(path)
        query = _wire.query_params(params) if params else None
        response = await self._transport.request(method, path, params=query, json=json)
        return response.data

    async def __aenter__(self) -> Self:
        self._transport.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client: its own session is closed (a borrowed one is left open).

        Job waits still pending end with ``TransportError`` (the jobs go on on the server), as
        do requests pausing between retries or for the rate limit, at once. Safe to call more
        than once, and safe to cancel: the client is closed as soon as this is called, and its
        session is closed even if the call is cancelled. Calls made afterwards raise
        ``ClientStateError``.
        """
        session = self._transport.close_now()
        tasks = self._poller.close_now()
        try:
            if tasks:
                await asyncio.wait(tasks)
        finally:
            if session is not None:
                await session.close()

    def __repr__(self) -> str:
        return f"Client(base_url={self._base_url!r}, api_key={self._key_hint!r})"


def _check_api_key(api_key: str) -> None:
    # The key itself must never appear in the message: this error may well be logged.
    if not api_key.isprintable():
        raise ConfigurationError(
            "api_key contains a line break or other control character; was it read from a "
            "file with its trailing newline?"
        )
    if api_key != api_key.strip():
        raise ConfigurationError(
            "api_key has leading or trailing whitespace; was it copied with surrounding blanks?"
        )


def _base_url(url: str) -> str:
    try:
        normalized = _wire.normalize_base_url(url)
        urlsplit(normalized).port  # noqa: B018 -- only to check that a port is a valid number
    except ConfigurationError:
        raise
    except ValueError as exc:
        # urlsplit's message names the problem; the URL is left out as it may hold credentials.
        raise ConfigurationError(f"base_url is not a valid URL: {exc}") from None
    return normalized


def _check_timeout(timeout: object) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise ConfigurationError(f"timeout must be a number of seconds, got {timeout!r}")
    if not math.isfinite(timeout) or timeout <= 0:
        raise ConfigurationError(f"timeout must be a finite number > 0, got {timeout!r}")


def _check_connections(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"max_connections must be an int >= 1, got {value!r}")


def _check_policy(name: str, value: object, cls: type[_Policy]) -> _Policy:
    if not isinstance(value, cls):
        raise ConfigurationError(f"{name} must be a {cls.__name__}, got {value!r}")
    return value
