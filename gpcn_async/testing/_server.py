"""``FakeGPCN``: the fake GPCN API served over real HTTP on 127.0.0.1.

This module holds the HTTP pipeline and the wiring of the groups a test scripts the fake with
(each in its own module). Each request goes through one pipeline: log, rate limit, auth,
GPU-enabled check, fault lookup, handler. Every answer (errors and faults included) carries
``X-RateLimit-*``, ``X-Request-Id`` and a ``Date`` on the fake's own wall clock (``clock_skew``
seconds ahead of this machine's). The server side is ``aiohttp.web`` only; nothing here uses the
SDK's models or converters, so the fake checks the wire contract independently of the client.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import formatdate
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from aiohttp import web

from gpcn_async.testing._account import Account, AccountScripting
from gpcn_async.testing._account_api import AccountApi
from gpcn_async.testing._api import Api, Call
from gpcn_async.testing._catalog import Catalog
from gpcn_async.testing._checks import require_int, require_offset, require_seconds
from gpcn_async.testing._faults import Fault, Faults
from gpcn_async.testing._job_scripting import Jobs
from gpcn_async.testing._jobs import JobScript, make_script
from gpcn_async.testing._log import HeaderDict, RecordedRequest, RequestLog
from gpcn_async.testing._ratelimit import (
    FixedWindowLimiter,
    RateLimiter,
    validate_alignment,
    validate_limits,
)
from gpcn_async.testing._render import (
    DIALECTS,
    ROUTE_NOT_FOUND,
    Reply,
    error_body,
    success_body,
)
from gpcn_async.testing._short_forms import ShortForms
from gpcn_async.testing._state import State
from gpcn_async.testing._vms import Vms

if TYPE_CHECKING:
    from gpcn_async import Client

__all__ = ["FakeGPCN"]

_HOST = "127.0.0.1"
_SHUTDOWN_TIMEOUT = 0.25


def _relative(path: str) -> str | None:
    """Return ``path`` relative to ``/v1``, or None if it is outside ``/v1``."""
    if path == "/v1":
        return "/"
    if path.startswith("/v1/"):
        return path[3:]
    return None


def _parse_json(payload: bytes) -> Any:
    if not payload:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return None


def _merge_headers(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """Return ``base`` with ``extra`` added; a name in ``extra`` replaces it in any case."""
    merged = dict(base)
    for name, value in extra.items():
        for existing in [key for key in merged if key.casefold() == name.casefold()]:
            del merged[existing]
        merged[name] = value
    return merged


def _is_gpu_path(path: str) -> bool:
    return path == "/resource/gpu" or path.startswith("/resource/gpu/")


class FakeGPCN(ShortForms):
    """A fake GPCN API server for tests, speaking the ``"guide"`` or ``"reference"`` dialect.

    Use it as an async context manager; it listens on 127.0.0.1 only:

    ```python
    async with FakeGPCN(dialect="guide") as fake:
        async with fake.client() as gpcn:
            vm = await (await gpcn.gpu.create(...)).wait()
    ```

    What a test scripts and reads is grouped by concern, one object each:

    - ``fake.catalog`` (``Catalog``): series, datacenters, availability, SKUs;
    - ``fake.vms`` (``Vms``): the VMs by id, ``add``, and how the VM endpoints answer;
    - ``fake.jobs`` (``Jobs``): the jobs by id, and what future and running jobs do;
    - ``fake.faults`` (``Faults``): injected and random faults, lost create races, unsupported
      actions, per-id bulk failures, a provider outage;
    - ``fake.rate_limiter`` (``RateLimiter``): the enforced rate limit and its 429s;
    - ``fake.log`` (``RequestLog``): the requests received, and counts of them;
    - ``fake.account`` (``AccountScripting``): SSH keys, datacenters without GPUs, what the
      auth check says, whether the account has GPU features.

    The names tests have always used stay on ``FakeGPCN`` as short forms of the groups'
    members (``fake.add_vm`` is ``fake.vms.add``; see ``ShortForms`` for the list).

    Every scripting method checks its arguments and raises ``ValueError`` naming the bad value
    for an impossible set-up.

    Args:
        dialect: Which wire dialect to speak.
        api_key: The key it accepts (``X-API-Key``); generated when not given.
        port: The TCP port (0: any free port).
        rate_limit: Requests allowed per window.
        rate_window: The window's length in seconds (sub-second windows work).
        rate_alignment: Where windows start. ``"first-request"``: at the first request after the
            previous window ended (express-rate-limit's memory store). ``"clock"``: on multiples
            of ``rate_window`` in the fake's Unix time (API gateways, Redis counters keyed by
            ``floor(now / window)``), so a whole-second ``X-RateLimit-Reset`` is exact for a
            whole-second window.
        retry_after_header: Send ``Retry-After`` with the limiter's 429s.
        gpu_enabled: When False every ``/resource/gpu...`` endpoint answers 403.
        job_polls: By default a job finishes on its ``job_polls``-th poll.
        job_duration: When given, jobs finish this many seconds after creation instead.
        seed_catalog: Start with 3 series, 3 datacenters and some availability (and 2
            datacenters without GPUs, which only the data-center list shows).
        seed_vms: Start with this many ``Running`` VMs (``vm-0001``, ...), spread over the
            catalog's series and datacenters; needs ``seed_catalog``.
        clock_skew: How many seconds the fake's wall clock is ahead of this machine's (negative:
            behind). Everything the fake says about wall-clock time uses it: the ``Date``
            header of every answer, ``X-RateLimit-Reset`` (and where clock-aligned windows sit)
            and job and VM timestamps. Durations do not change: jobs, windows and the request
            log's ``time`` run on this machine's monotonic clock.
        log_cap: How many requests the log keeps, the oldest dropped first (None: all).
            ``count()`` still counts every request (see ``RequestLog``).

    Raises:
        ValueError: A bad argument (the message names it).
    """

    def __init__(
        self,
        *,
        dialect: str = "reference",
        api_key: str | None = None,
        port: int = 0,
        rate_limit: int = 100_000,
        rate_window: float = 60.0,
        rate_alignment: str = "first-request",
        retry_after_header: bool = True,
        gpu_enabled: bool = True,
        job_polls: int = 2,
        job_duration: float | None = None,
        seed_catalog: bool = True,
        seed_vms: int = 0,
        clock_skew: float = 0.0,
        log_cap: int | None = None,
    ) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"dialect must be 'guide' or 'reference', got {dialect!r}")
        key: object = api_key
        if key is not None and (not isinstance(key, str) or not key):
            raise ValueError(f"api_key must be a non-empty string or None, got {key!r}")
        require_int("port", port, 0, 65535)
        validate_limits(rate_limit, rate_window)
        validate_alignment(rate_alignment)
        require_int("job_polls", job_polls, 1)
        if job_duration is not None:
            require_seconds("job_duration", job_duration)
        require_int("seed_vms", seed_vms, 0)
        self._clock_skew = require_offset("clock_skew", clock_skew)
        if seed_vms and not seed_catalog:
            raise ValueError(
                f"seed_vms={seed_vms} needs seed_catalog=True: seeded VMs use its series"
            )
        default = make_script(
            polls=None if job_duration is not None else job_polls,
            duration=job_duration,
            outcome="succeeded",
            error=None,
            default=JobScript(),
        )
        self.dialect: str = dialect
        """The wire dialect: ``"guide"`` or ``"reference"``."""
        self.api_key: str = api_key or "gpcn_test_" + secrets.token_hex(12)
        """The API key the fake accepts."""
        self._port = port
        self._state = State(
            catalog=Catalog.seeded() if seed_catalog else Catalog(),
            default_script=default,
            wall=self._wall_datetime,
        )
        self._state.gpu_enabled = bool(gpu_enabled)
        account = Account(self._state, self.api_key)
        if seed_catalog:
            account.seed()
        self._api = Api(self._state, dialect, AccountApi(account, dialect).routes())
        self.catalog: Catalog = self._state.catalog
        """The catalog: series, datacenters, availability, SKUs."""
        self.jobs = Jobs(self._state, dialect)
        """The jobs by id, and what future and running jobs do."""
        self.faults = Faults(self._state)
        """The injected faults, and the other ways to make the fake misbehave."""
        self.rate_limiter = RateLimiter(
            FixedWindowLimiter(rate_limit, rate_window, rate_alignment),
            dialect,
            retry_after_header=retry_after_header,
        )
        """The enforced rate limit."""
        self.log = RequestLog(log_cap)
        """The requests received."""
        self.account = AccountScripting(account)
        """The SSH-key library, the datacenters without GPUs, the API key's grants."""
        self._runner: web.AppRunner | None = None
        self._delaying: set[asyncio.Task[Any]] = set()
        self._url: str | None = None
        catalog = self._state.catalog
        for index in range(seed_vms):
            self._state.vms.add(
                series_code=catalog.series[index % len(catalog.series)].code,
                datacenter_id=catalog.datacenters[index % len(catalog.datacenters)].id,
            )

    @property
    def vms(self) -> Vms:
        """The VMs by id (live; duration-scripted jobs are brought up to date first)."""
        self._state.tick()
        return self._state.vms

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening on 127.0.0.1.

        Raises:
            RuntimeError: It is already running.
        """
        if self._runner is not None:
            raise RuntimeError("FakeGPCN is already running")
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=_SHUTDOWN_TIMEOUT,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, _HOST, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        port = runner.addresses[0][1]
        self._url = f"http://{_HOST}:{port}/v1"

    async def close(self) -> None:
        """Stop listening and drop open connections (safe to call twice)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            for task in list(self._delaying):
                task.cancel()
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:<port>/v1``.

        Raises:
            RuntimeError: It was never started.
        """
        if self._url is None:
            raise RuntimeError("FakeGPCN has not been started: use 'async with' or start()")
        return self._url

    def client(self, **kwargs: Any) -> Client:
        """Return a ``gpcn_async.Client`` pointed at the fake, with millisecond timings.

        Args:
            **kwargs: ``Client`` arguments; they override the defaults chosen here.

        Returns:
            A client with this fake's key and URL, fast retries and fast polls.
        """
        # Imported here: the fake itself never needs the SDK, only this convenience does.
        from gpcn_async.client import Client  # noqa: PLC0415
        from gpcn_async.policies import PollPolicy, RetryPolicy  # noqa: PLC0415

        options: dict[str, Any] = {
            "api_key": self.api_key,
            "base_url": self.url,
            "retry": RetryPolicy(base_delay=0.001, max_delay=0.01, max_rate_limit_wait=5.0),
            "poll": PollPolicy(interval=0.005, max_interval=0.05, timeout=10.0),
            # The fake is on this machine: a proxy from the environment must not stand between.
            "trust_env": False,
        }
        options.update(kwargs)
        return Client(**options)

    # -- the pipeline --------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        arrived, arrived_wall = time.monotonic(), self._wall_time()
        body = _parse_json(await request.read())
        method = request.method.upper()
        relative = _relative(request.path)
        record = self.log.arrive(
            RecordedRequest(
                method=method,
                path=request.path if relative is None else relative,
                query=dict(request.query),
                json=body,
                headers=HeaderDict(request.headers),
                status=0,
                time=arrived,
            )
        )
        self._state.tick()
        headers, limited = self.rate_limiter.check(arrived, arrived_wall)
        headers["X-Request-Id"] = str(uuid.uuid4())
        reply: Reply | None
        if limited is not None:
            reply = limited
        elif relative is None:
            reply = Reply.json(404, ROUTE_NOT_FOUND)
        else:
            call = Call(method=method, path=relative, query=dict(request.query), body=body)
            reply = await self._answer(call, request.headers.get("X-API-Key"))
        if reply is None:
            # Drop the connection: with the transport closed, aiohttp's attempt to send the
            # response below fails quietly as a premature client disconnection.
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)
        if reply.content_type is not None:
            headers["Content-Type"] = reply.content_type
        # Set here, so aiohttp adds no Date of its own; an injected Date header still wins.
        headers["Date"] = formatdate(self._wall_time(), usegmt=True)
        headers = _merge_headers(headers, reply.headers)
        self.log.answered(record, reply.status)
        return web.Response(status=reply.status, body=reply.payload or None, headers=headers)

    async def _answer(self, call: Call, key: str | None) -> Reply | None:
        state = self._state
        if key is None or not secrets.compare_digest(key.encode(), self.api_key.encode()):
            return Reply.json(401, error_body(self.dialect, 401))
        if _is_gpu_path(call.path) and not state.gpu_enabled:
            return Reply.json(403, error_body(self.dialect, 403))
        fault = self.faults.take(call.method, call.path)
        if fault is None:
            return self._api.handle(call)
        if fault.delay:
            await self._sleep(fault.delay)
            state.tick()
        real = None
        if fault.after_commit or (fault.status is None and not fault.disconnect):
            real = self._api.handle(call)
        if fault.disconnect:
            return None
        if fault.status is None and real is not None:
            return real.with_headers(fault.headers)
        return self._fault_reply(fault).with_headers(fault.headers)

    async def _sleep(self, delay: float) -> None:
        """Wait out a fault's delay; ``close()`` cancels the wait instead of waiting for it."""
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - aiohttp always runs handlers in a task
            await asyncio.sleep(delay)
            return
        self._delaying.add(task)
        try:
            await asyncio.sleep(delay)
        finally:
            self._delaying.discard(task)

    def _fault_reply(self, fault: Fault) -> Reply:
        status = fault.status or 500
        body = fault.body
        if isinstance(body, dict | list):
            return Reply.json(status, body)
        if isinstance(body, str | bytes):
            return Reply.raw(status, body)
        if status == 429:
            hinted = HeaderDict(fault.headers).get("Retry-After")
            retry_after = int(hinted) if hinted is not None and hinted.isdigit() else 1
            return self.rate_limiter.reply(retry_after)
        if status < 200 or status in (204, 304):
            return Reply.empty(status)
        if status < 400:
            return Reply.json(status, success_body(self.dialect, "OK"))
        return Reply.json(status, error_body(self.dialect, status))

    # -- the wall clock --------------------------------------------------------------------------

    @property
    def clock_skew(self) -> float:
        """How many seconds the fake's wall clock is ahead of this machine's (negative: behind).

        The ``Date`` header, ``X-RateLimit-Reset`` and job and VM timestamps are on this clock
        (``time.time() + clock_skew``). Setting it mid-run is a clock jump, as when NTP corrects
        the server: later answers and timestamps move by the change, while jobs, first-request
        rate windows and the request log keep their monotonic timing. A clock-aligned window
        is the multiple of the window holding the new time, with a full budget if that moved it.

        Raises:
            ValueError: On setting, a value that is not a finite number.
        """
        return self._clock_skew

    @clock_skew.setter
    def clock_skew(self, value: float) -> None:
        self._clock_skew = require_offset("clock_skew", value)

    def _wall_time(self) -> float:
        """The fake's wall-clock time: Unix seconds, ``clock_skew`` ahead of this machine's."""
        return time.time() + self._clock_skew

    def _wall_datetime(self) -> datetime:
        """The fake's wall-clock time as an aware UTC datetime (the state's ``wall`` clock)."""
        return datetime.fromtimestamp(self._wall_time(), UTC)
