"""``FakeGPCN``: the fake GPCN API served over real HTTP on 127.0.0.1.

Each request goes through one pipeline: log, rate limit, auth, GPU-enabled check, fault lookup,
handler. Every answer (errors and faults included) carries ``X-RateLimit-*``, ``X-Request-Id`` and
a ``Date`` on the fake's own wall clock (``clock_skew`` seconds ahead of this machine's).
The server side is ``aiohttp.web`` only; nothing here uses the SDK's models or converters, so the
fake checks the wire contract independently of the client code.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import formatdate
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from aiohttp import web

from gpcn_async.testing._account import Account, AccountScripting
from gpcn_async.testing._account_api import AccountApi
from gpcn_async.testing._api import Api, Call
from gpcn_async.testing._catalog import Catalog, DatacenterSpec, SeriesSpec, Sku
from gpcn_async.testing._checks import (
    require_int,
    require_method,
    require_offset,
    require_path_glob,
    require_seconds,
    require_text,
)
from gpcn_async.testing._faults import Fault, FaultTable, RandomFaults
from gpcn_async.testing._jobs import JobRecord, JobScript, make_script
from gpcn_async.testing._log import HeaderDict, RecordedRequest, RequestLog
from gpcn_async.testing._ratelimit import (
    Decision,
    FixedWindowLimiter,
    validate_alignment,
    validate_limits,
)
from gpcn_async.testing._render import (
    DIALECTS,
    ROUTE_NOT_FOUND,
    Reply,
    error_body,
    gateway_page,
    rate_limited_body,
    success_body,
)
from gpcn_async.testing._state import ACTION_STATUS, State, VmRecord

if TYPE_CHECKING:
    from gpcn_async import Client

__all__ = ["FakeGPCN"]

_HOST = "127.0.0.1"
_SHUTDOWN_TIMEOUT = 0.25

DEFAULT_RANDOM_FAULTS: tuple[Mapping[str, Any], ...] = (
    {"status": 500},
    {"status": 502, "body": gateway_page(502)},
    {"status": 503},
    {"status": 504},
    {"status": 429, "headers": {"Retry-After": "0.01"}},
    {"disconnect": True},
    {"disconnect": True, "after_commit": True},
    {"status": 500, "after_commit": True},
)
"""The mix ``inject_random()`` chooses from by default."""


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


class FakeGPCN(AccountScripting):
    """A fake GPCN API server for tests, speaking the ``"guide"`` or ``"reference"`` dialect.

    Use it as an async context manager; it listens on 127.0.0.1 only:

    ```python
    async with FakeGPCN(dialect="guide") as fake:
        async with fake.client() as gpcn:
            vm = await (await gpcn.gpu.create(...)).wait()
    ```

    What a test can script, by group of methods:

    - catalog: ``series``, ``datacenters``, ``add_series``, ``add_datacenter``,
      ``set_availability``, ``is_available``, ``clear_availability``, ``skus``, ``set_skus``;
    - VMs: ``add_vm``, ``vms``, ``created_vm_count``;
    - account: ``add_ssh_key``, ``ssh_keys``, ``add_non_gpu_datacenter``,
      ``set_datacenter_capabilities``, ``set_credential`` (what the auth check says);
    - jobs: ``script_jobs`` (defaults), ``script_next_jobs``, ``script_job``, ``add_job``,
      ``finish_job``, ``jobs``, ``poll_count``;
    - faults: ``inject`` (status, body, headers, delay, disconnect, after commit),
      ``race_next_create`` (409), ``set_unsupported`` (501), ``fail_bulk``, ``provider_outage``,
      ``gpu_enabled`` (403);
    - rate limiting: ``set_rate_limit``, ``rate_limit``, ``rate_window``, ``rate_alignment``,
      ``rate_limited_count``;
    - the server's wall clock: ``clock_skew`` (a clock ahead of or behind this machine's);
    - the request log: ``requests``, ``requests_to``, ``count``, ``clear_requests``.

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
        self.retry_after_header = bool(retry_after_header)
        """Whether the limiter's 429s carry ``Retry-After``."""
        self._port = port
        self._state = State(
            catalog=Catalog.seeded() if seed_catalog else Catalog(),
            default_script=default,
            wall=self._wall_datetime,
        )
        self._state.gpu_enabled = bool(gpu_enabled)
        self._account = Account(self._state, self.api_key)
        if seed_catalog:
            self._account.seed()
        self._api = Api(self._state, dialect, AccountApi(self._account, dialect).routes())
        self._limiter = FixedWindowLimiter(rate_limit, rate_window, rate_alignment)
        self._faults = FaultTable()
        self._log = RequestLog()
        self._rate_limited = 0
        self._runner: web.AppRunner | None = None
        self._delaying: set[asyncio.Task[Any]] = set()
        self._url: str | None = None
        catalog = self._state.catalog
        for index in range(seed_vms):
            self._state.add_vm(
                series_code=catalog.series[index % len(catalog.series)].code,
                datacenter_id=catalog.datacenters[index % len(catalog.datacenters)].id,
            )

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
        record = self._log.arrive(
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
        headers, decision = self._apply_rate_limit(arrived, arrived_wall)
        headers["X-Request-Id"] = str(uuid.uuid4())
        if not decision.allowed:
            self._rate_limited += 1
            reply: Reply | None = self._rate_limited_reply(decision.retry_after)
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
        self._log.answered(record, reply.status)
        return web.Response(status=reply.status, body=reply.payload or None, headers=headers)

    async def _answer(self, call: Call, key: str | None) -> Reply | None:
        state = self._state
        if key is None or not secrets.compare_digest(key.encode(), self.api_key.encode()):
            return Reply.json(401, error_body(self.dialect, 401))
        if _is_gpu_path(call.path) and not state.gpu_enabled:
            return Reply.json(403, error_body(self.dialect, 403))
        fault = self._faults.take(call.method, call.path)
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
            return self._rate_limited_reply(retry_after)
        if status < 200 or status in (204, 304):
            return Reply.empty(status)
        if status < 400:
            return Reply.json(status, success_body(self.dialect, "OK"))
        return Reply.json(status, error_body(self.dialect, status))

    def _rate_limited_reply(self, retry_after: int) -> Reply:
        reply = Reply.json(429, rate_limited_body(self.dialect, retry_after))
        if self.retry_after_header:
            reply = reply.with_headers({"Retry-After": str(retry_after)})
        return reply

    def _apply_rate_limit(self, arrived: float, wall: float) -> tuple[dict[str, str], Decision]:
        """Count a request that arrived at ``arrived`` (monotonic), ``wall`` (the fake's Unix time).

        Clock-aligned windows are counted in the fake's Unix time (skew included), so they sit
        on its multiples; first-request ones in monotonic time, so setting the wall clock or
        ``clock_skew`` cannot move them. ``offset`` turns the window's end into the fake's Unix
        time for ``X-RateLimit-Reset``.

        Returns:
            The ``X-RateLimit-*`` headers and the limiter's verdict.
        """
        if self._limiter.clock_aligned:
            decision, offset = self._limiter.hit(wall), 0.0
        else:
            decision, offset = self._limiter.hit(arrived), wall - arrived
        return self._rate_headers(decision, decision.resets_at + offset), decision

    def _rate_headers(self, decision: Decision, reset: float) -> dict[str, str]:
        """The ``X-RateLimit-*`` headers for a window ending at Unix time ``reset``.

        The reset is rounded up, never down, so a client waiting for it never sends early: to
        whole seconds for windows of 1 s or more (as the real API does), else to milliseconds.
        """
        if self._limiter.window >= 1:
            reset_text = str(math.ceil(reset))
        else:
            reset_text = f"{math.ceil(reset * 1000) / 1000:.3f}"
        return {
            "X-RateLimit-Limit": str(decision.limit),
            "X-RateLimit-Remaining": str(decision.remaining),
            "X-RateLimit-Reset": reset_text,
        }

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

    # -- request log ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in arrival order (a copy)."""
        return list(self._log.entries)

    def requests_to(
        self, method: str = "*", path: str = "*", *, status: int | None = None
    ) -> list[RecordedRequest]:
        """Return the logged requests that match, in arrival order.

        Args:
            method: ``"*"`` (any) or an HTTP method, in any case.
            path: An fnmatch glob relative to ``/v1``, e.g. ``"/resource/gpu/*/start"``.
            status: Only requests answered with this status (0: dropped or unanswered).

        Raises:
            ValueError: An unknown method, a path not starting with ``/`` or ``*`` (or starting
                with ``/v1``), or a status that is not an int from 0 to 599.
        """
        method, path = require_method(method), require_path_glob(path)
        if status is not None:
            require_int("status", status, 0, 599)
        return [
            entry
            for entry in self._log.select(method, path)
            if status is None or entry.status == status
        ]

    def count(self, method: str = "*", path: str = "*", *, status: int | None = None) -> int:
        """Count the logged requests that match (arguments as for ``requests_to``).

        Raises:
            ValueError: A bad method, path or status (see ``requests_to``).
        """
        return len(self.requests_to(method, path, status=status))

    def clear_requests(self) -> None:
        """Forget the requests received so far."""
        self._log.clear()

    # -- rate limiting -------------------------------------------------------------------------

    def set_rate_limit(self, limit: int, window: float, *, alignment: str | None = None) -> None:
        """Allow ``limit`` requests per ``window`` seconds from now on (the count starts again).

        Args:
            limit: Requests allowed per window.
            window: The window's length in seconds.
            alignment: ``"first-request"`` or ``"clock"`` (see ``FakeGPCN``); None keeps the
                current one. A first-request window starts with the next request; a clock-aligned
                one is the multiple of ``window`` holding it.

        Raises:
            ValueError: ``limit < 1``, ``window <= 0`` or an unknown alignment; nothing changes.
        """
        self._limiter.reset(limit, window, alignment)

    @property
    def rate_limit(self) -> int:
        """The requests allowed per window."""
        return self._limiter.limit

    @property
    def rate_window(self) -> float:
        """The rate limit window's length in seconds."""
        return self._limiter.window

    @property
    def rate_alignment(self) -> str:
        """Where rate limit windows start: ``"first-request"`` or ``"clock"``."""
        return self._limiter.alignment

    @property
    def rate_limited_count(self) -> int:
        """How many 429s the rate limiter sent (injected ones not counted)."""
        return self._rate_limited

    # -- behaviour switches --------------------------------------------------------------------

    @property
    def gpu_enabled(self) -> bool:
        """When False, every ``/resource/gpu...`` endpoint answers 403."""
        return self._state.gpu_enabled

    @gpu_enabled.setter
    def gpu_enabled(self, value: bool) -> None:
        self._state.gpu_enabled = bool(value)

    @property
    def provider_outage(self) -> bool:
        """When True, the GPU provider is down: inventory is empty or 503, creates answer 503."""
        return self._state.provider_outage

    @provider_outage.setter
    def provider_outage(self, value: bool) -> None:
        self._state.provider_outage = bool(value)

    @property
    def update_returns_body(self) -> bool:
        """When False, ``PUT /resource/gpu/{id}`` answers 200 without the VM."""
        return self._state.update_returns_body

    @update_returns_body.setter
    def update_returns_body(self, value: bool) -> None:
        self._state.update_returns_body = bool(value)

    @property
    def delete_answers_204(self) -> bool:
        """When True, ``DELETE /resource/gpu/{id}`` deletes at once and answers 204."""
        return self._state.delete_answers_204

    @delete_answers_204.setter
    def delete_answers_204(self, value: bool) -> None:
        self._state.delete_answers_204 = bool(value)

    @property
    def bulk_delete_omits(self) -> int:
        """How many jobs each bulk delete answer leaves out (the last ones; 0 by default).

        Every id's delete job still runs on the fake: the answer simply holds fewer jobs than
        ids, as a faulty or truncated answer would.
        """
        return self._state.bulk_delete_omits

    @bulk_delete_omits.setter
    def bulk_delete_omits(self, value: int) -> None:
        self._state.bulk_delete_omits = require_int("bulk_delete_omits", value, 0)

    def is_being_deleted(self, vm_id: str) -> bool:
        """Whether a delete job runs for ``vm_id``: it answers 409 to delete, start, stop, reset."""
        return vm_id in self._state.deleting

    @property
    def actions_answer_202(self) -> bool:
        """When True, start/stop/reset answer 202 with a job instead of 200."""
        return self._state.actions_answer_202

    @actions_answer_202.setter
    def actions_answer_202(self, value: bool) -> None:
        self._state.actions_answer_202 = bool(value)

    def set_unsupported(self, action: str, unsupported: bool = True) -> None:
        """Make ``action`` (``"start"``, ``"stop"``, ``"reset"``) answer 501, or stop doing so.

        Raises:
            ValueError: An unknown action.
        """
        if action not in ACTION_STATUS:
            raise ValueError(f"action must be 'start', 'stop' or 'reset', got {action!r}")
        if unsupported:
            self._state.unsupported.add(action)
        else:
            self._state.unsupported.discard(action)

    def fail_bulk(self, vm_id: str, message: str, *, action: str | None = None) -> None:
        """Make bulk start/stop/reset report ``vm_id`` as failed with ``message``.

        Args:
            vm_id: The VM id (need not exist).
            message: The per-id error text.
            action: Only this bulk action; None for all three.

        Raises:
            ValueError: An empty id or message, or an unknown action.
        """
        if not vm_id or not message:
            raise ValueError(f"vm_id and message must be non-empty, got {vm_id!r}, {message!r}")
        if action is not None and action not in ACTION_STATUS:
            raise ValueError(f"action must be 'start', 'stop', 'reset' or None, got {action!r}")
        self._state.bulk_failures[vm_id, action] = message

    def clear_bulk_failures(self) -> None:
        """Forget the scripted bulk failures."""
        self._state.bulk_failures.clear()

    # -- faults --------------------------------------------------------------------------------

    def inject(
        self,
        method: str,
        path: str,
        *,
        status: int | None = None,
        times: int | None = 1,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        delay: float = 0.0,
        disconnect: bool = False,
        after_commit: bool = False,
    ) -> Fault:
        """Make matching requests misbehave.

        A fault waits ``delay`` first. With ``after_commit`` the real handler runs (its state
        changes happen) before its answer is replaced. ``disconnect`` drops the connection without
        an answer; ``status`` answers that status with ``body`` (dict/list as JSON, str/bytes raw)
        or the dialect's error body; without either, the real answer is sent (a slow response).
        ``headers`` are added to whatever is sent.

        Args:
            method: ``"*"`` or an HTTP method.
            path: An fnmatch glob relative to ``/v1``, e.g. ``"/resource/gpu/*/start"``.
            status: The status to answer instead.
            times: How many requests it affects (None: all).
            headers: Headers to add or override.
            body: The body to send with ``status``.
            delay: Seconds to wait first.
            disconnect: Drop the connection without answering.
            after_commit: Let the request take effect before faulting.

        Returns:
            The fault, whose ``hits`` and ``remaining`` tell how it was used.

        Raises:
            ValueError: An impossible combination (the message names it).
        """
        fault = Fault(
            method=method,
            path=path,
            status=status,
            times=times,
            headers=dict(headers or {}),
            body=body,
            delay=delay,
            disconnect=disconnect,
            after_commit=after_commit,
        )
        return self._faults.add(fault)

    def inject_random(
        self,
        rate: float,
        *,
        faults: Sequence[Mapping[str, Any]] | None = None,
        method: str = "*",
        path: str = "*",
        seed: int | None = None,
    ) -> RandomFaults:
        """Throw faults at random matching requests: chaos for soak tests.

        Each matching request that no injected fault takes gets, with probability ``rate``, one
        of ``faults`` (each equally likely). The default mix is what a real deployment shows:
        500, 502 with a gateway's HTML page, 503, 504, 429 with a short ``Retry-After``, and
        dropped connections, before and after the request took effect. A later call replaces
        the random faults; ``clear_faults()`` removes them.

        Args:
            rate: The chance, from 0 to 1, that a matching request gets a fault.
            faults: ``inject()`` keyword arguments (without ``times``) of each fault to choose
                from, e.g. ``[{"status": 503}, {"disconnect": True}]``.
            method: ``"*"`` or an HTTP method.
            path: An fnmatch glob relative to ``/v1``.
            seed: Seeds the random choices, so that a run can be replayed.

        Returns:
            The random faults; ``hits`` counts the requests they affected.

        Raises:
            ValueError: A rate outside [0, 1], or a fault ``inject()`` would refuse.
        """
        specs = DEFAULT_RANDOM_FAULTS if faults is None else faults
        made = []
        for spec in specs:
            if "times" in spec:
                raise ValueError(f"random faults have no times, got {dict(spec)!r}")
            made.append(Fault(method="*", path="*", times=None, **spec))
        chaos = RandomFaults(rate, made, method=method, path=path, seed=seed)
        self._faults.random = chaos
        return chaos

    @property
    def faults(self) -> list[Fault]:
        """The injected faults, in injection order (a copy of the list)."""
        return list(self._faults.faults)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._faults.clear()

    # -- catalog ---------------------------------------------------------------------------------

    @property
    def series(self) -> list[SeriesSpec]:
        """The GPU series of the catalog (a copy of the list)."""
        return list(self._state.catalog.series)

    @property
    def datacenters(self) -> list[DatacenterSpec]:
        """The datacenters of the catalog (a copy of the list)."""
        return list(self._state.catalog.datacenters)

    def add_series(
        self,
        code: str,
        name: str,
        *,
        description: str = "",
        gpu_model: str | None = None,
        vcpu_per_gpu: int = 16,
        memory_gib_per_gpu: int = 120,
        storage_gb_per_gpu: int = 1000,
    ) -> SeriesSpec:
        """Add a GPU series (unavailable everywhere until ``set_availability``).

        Its SKUs are derived per GPU count from the per-GPU sizes (see ``skus``) unless
        ``set_skus`` replaces them. The guide dialect shows it with the next integer id.

        Args:
            code: The series code, e.g. ``"nvidia-b200"``.
            name: The display name.
            description: A short description.
            gpu_model: The GPU model in SKU descriptions (default: derived from ``name``).
            vcpu_per_gpu: vCPUs of a VM per GPU.
            memory_gib_per_gpu: Memory (GiB) of a VM per GPU.
            storage_gb_per_gpu: Disk (GB) of a VM per GPU.

        Returns:
            The new series, with its ids.

        Raises:
            ValueError: An empty or duplicate code, an empty name, or a size that is not an
                int >= 1.
        """
        return self._state.catalog.add_series(
            code,
            name,
            description=description,
            gpu_model=gpu_model,
            vcpu_per_gpu=vcpu_per_gpu,
            memory_gib_per_gpu=memory_gib_per_gpu,
            storage_gb_per_gpu=storage_gb_per_gpu,
        )

    def add_datacenter(
        self,
        name: str,
        *,
        code: str | None = None,
        region: str | None = None,
        country_abbr: str = "US",
        country: str = "United States",
    ) -> DatacenterSpec:
        """Add a datacenter (code and region derived from the name unless given).

        Returns:
            The new datacenter, with its id.

        Raises:
            ValueError: An empty or duplicate name.
        """
        return self._state.catalog.add_datacenter(
            name, code=code, region=region, country_abbr=country_abbr, country=country
        )

    def skus(self, series_code: str, gpu_count: int) -> list[Sku]:
        """Return the SKUs of a configuration, the standard one first.

        By default a configuration has one SKU (``<code>-<n>x``), plus a high-storage one
        (``<code>-<n>x-hs``) from 4 GPUs up; ``set_skus`` replaces them.

        Raises:
            ValueError: An unknown series, or a count not in 1, 2, 4, 8.
        """
        return self._state.catalog.skus_of(series_code, gpu_count)

    def set_skus(self, series_code: str, gpu_count: int, skus: Sequence[Sku] | None) -> None:
        """Replace the SKUs of a configuration (None: back to the derived ones).

        The inventory lists them (reference dialect), a create may name one as ``skuCode`` (an
        unknown one answers 400), and a VM created without one runs on the first.

        Raises:
            ValueError: An unknown series, a bad count, an empty list, an item that is not a
                ``Sku``, or a SKU code given twice.
        """
        self._state.catalog.set_skus(series_code, gpu_count, skus)

    def set_availability(
        self,
        series_code: str,
        datacenter_id: str,
        gpu_count: int,
        available: bool = True,
    ) -> None:
        """Mark a (series, datacenter, GPU count) configuration available or not.

        Raises:
            ValueError: Unknown series or datacenter, or a count not in 1, 2, 4, 8.
        """
        self._state.catalog.set_availability(
            series_code, datacenter_id, gpu_count, available=bool(available)
        )

    def is_available(self, series_code: str, datacenter_id: str, gpu_count: int) -> bool:
        """Tell whether a configuration is orderable now."""
        return self._state.catalog.is_available(series_code, datacenter_id, gpu_count)

    def clear_availability(self) -> None:
        """Make every configuration unavailable."""
        self._state.catalog.available.clear()

    def race_next_create(self, times: int = 1) -> None:
        """Make the next ``times`` valid creates lose a race: 409, configuration now unavailable.

        Raises:
            ValueError: ``times < 1``.
        """
        require_int("times", times, 1)
        self._state.race_creates += times

    # -- VMs ---------------------------------------------------------------------------------------

    @property
    def vms(self) -> dict[str, VmRecord]:
        """The VMs by id (the live dict: changes show in the next answers)."""
        self._state.tick()
        return self._state.vms

    @property
    def created_vm_count(self) -> int:
        """How many VMs were ever created through ``POST /resource/gpu``."""
        return self._state.created_vm_count

    def add_vm(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        status: str = "Running",
        series_code: str | None = None,
        gpu_count: int = 1,
        datacenter_id: str | None = None,
        team_id: int | str | None = None,
        resource_group_id: str | None = None,
        created_at: datetime | None = None,
    ) -> str:
        """Add a VM directly (not counted by ``created_vm_count``) and return its id.

        Defaults: the first series and datacenter, a generated name and uuid, and a creation time
        later than every earlier VM's, so sort order is deterministic.

        Raises:
            ValueError: Unknown series or datacenter, a bad count, a duplicate id.
        """
        vm = self._state.add_vm(
            name=name,
            id=id,
            status=status,
            series_code=series_code,
            gpu_count=gpu_count,
            datacenter_id=datacenter_id,
            team_id=team_id,
            resource_group_id=resource_group_id,
            created_at=created_at,
        )
        return vm.id

    # -- jobs --------------------------------------------------------------------------------------

    @property
    def jobs(self) -> dict[str, JobRecord]:
        """The jobs by id (duration-scripted jobs are brought up to date first)."""
        self._state.tick()
        return self._state.jobs

    def poll_count(self, job_id: str) -> int:
        """How many poll requests included the job.

        Raises:
            KeyError: An unknown job id.
        """
        return self._job(job_id).poll_count

    def _job(self, job_id: str) -> JobRecord:
        job = self._state.jobs.get(job_id)
        if job is None:
            raise KeyError(f"unknown job id {job_id!r}")
        return job

    def _script(
        self,
        *,
        polls: int | None,
        duration: float | None,
        outcome: str,
        error: str | None,
        progress: Sequence[int] | None,
        default: JobScript,
    ) -> JobScript:
        return make_script(
            polls=polls,
            duration=duration,
            outcome=outcome,
            error=error,
            default=default,
            allow_cancelled=self.dialect != "guide",
            progress=progress,
        )

    def script_jobs(
        self,
        *,
        polls: int | None = None,
        duration: float | None = None,
        outcome: str = "succeeded",
        error: str | None = None,
        progress: Sequence[int] | None = None,
    ) -> None:
        """Set what future jobs do by default (``script_next_jobs`` scripts take precedence).

        Without ``polls``, ``duration`` and ``progress`` the current timing and curve stay.

        Args:
            polls: Finish on the ``polls``-th poll that includes the job.
            duration: Finish ``duration`` seconds after creation (polled or not).
            outcome: ``"succeeded"``, ``"failed"`` or ``"cancelled"`` (reference dialect only:
                the guide has no such status).
            error: The failure text of a failed or cancelled job.
            progress: The progress curve: the values (0 to 100, never decreasing) reported while
                running. With polls, one value per poll and then the final poll, so ``polls``
                defaults to (and must be) ``len(progress) + 1``; with ``duration``, the values
                take equal slices of it. Without a curve progress rises linearly. Success
                reports 100; a failure keeps the last value.

        Raises:
            ValueError: Both timings, ``polls < 1``, ``duration < 0``, an unknown or impossible
                outcome, an error text for a success, a bad curve, or ``polls`` that do not fit
                the curve.
        """
        state = self._state
        state.default_script = self._script(
            polls=polls,
            duration=duration,
            outcome=outcome,
            error=error,
            progress=progress,
            default=state.default_script,
        )

    def script_next_jobs(
        self,
        count: int = 1,
        *,
        polls: int | None = None,
        duration: float | None = None,
        outcome: str = "succeeded",
        error: str | None = None,
        progress: Sequence[int] | None = None,
    ) -> None:
        """Queue a script for each of the next ``count`` jobs created (see ``script_jobs``).

        Queued scripts are used in order, one per new job, before the defaults apply again.

        Raises:
            ValueError: ``count < 1`` or a bad script (see ``script_jobs``).
        """
        require_int("count", count, 1)
        state = self._state
        script = self._script(
            polls=polls,
            duration=duration,
            outcome=outcome,
            error=error,
            progress=progress,
            default=state.default_script,
        )
        state.next_scripts.extend([script] * count)

    def script_job(
        self,
        job_id: str,
        *,
        polls: int | None = None,
        duration: float | None = None,
        outcome: str = "succeeded",
        error: str | None = None,
        progress: Sequence[int] | None = None,
    ) -> None:
        """Change what an existing job does (polls and duration count from its creation).

        Raises:
            KeyError: An unknown job id.
            ValueError: The job already finished, or a bad script (see ``script_jobs``).
        """
        job = self._job(job_id)
        if job.terminal:
            raise ValueError(f"job {job_id!r} already finished ({job.state})")
        script = self._script(
            polls=polls,
            duration=duration,
            outcome=outcome,
            error=error,
            progress=progress,
            default=job.script,
        )
        self._state.rescript(job, script)

    def finish_job(
        self, job_id: str, *, outcome: str = "succeeded", error: str | None = None
    ) -> None:
        """End a running job now, whatever its script; the next poll reports the end.

        Its effects apply at once, as on a scripted end: a created VM becomes ``Running`` (or is
        removed if the create failed or was cancelled), a deleted VM disappears, and so on.

        Args:
            job_id: The job.
            outcome: ``"succeeded"``, ``"failed"`` or ``"cancelled"`` (reference dialect only).
            error: The failure text (failed or cancelled only; a failure without one reports
                ``"Job failed"``).

        Raises:
            KeyError: An unknown job id.
            ValueError: The job already finished, an unknown or impossible outcome, or an error
                text for a success.
        """
        job = self._job(job_id)
        if job.terminal:
            raise ValueError(f"job {job_id!r} already finished ({job.state})")
        script = self._script(
            polls=None,
            duration=None,
            outcome=outcome,
            error=error,
            progress=None,
            default=job.script,
        )
        self._state.finish(job, script.outcome, script.error)

    def add_job(
        self,
        *,
        operation: str = "create",
        resource_id: str | None = None,
        polls: int | None = None,
        duration: float | None = None,
        outcome: str = "succeeded",
        error: str | None = None,
        progress: Sequence[int] | None = None,
    ) -> str:
        """Start a bare job (e.g. one "started elsewhere", to attach to) and return its id.

        Its effects apply to ``resource_id`` if such a VM exists. Without a timing or curve it
        takes the default script (queued ``script_next_jobs`` scripts are left for real jobs).

        Raises:
            ValueError: An empty operation or a bad script (see ``script_jobs``).
        """
        require_text("operation", operation)
        state = self._state
        script = self._script(
            polls=polls,
            duration=duration,
            outcome=outcome,
            error=error,
            progress=progress,
            default=state.default_script,
        )
        return state.new_job(operation, resource_id, script=script).id
