"""Serve the fake GPCN API standalone: ``python -m gpcn_async.testing --port 8080``.

Prints the base URL (ending in ``/v1``) as the first line on stdout and the API key it accepts as
the second, then serves on 127.0.0.1 until interrupted (Ctrl-C or SIGTERM), and exits 0. Bad
options exit 2, a port that cannot be listened on exits 1. Options::

    --port N            TCP port (0: any free port; default 8080)
    --api-key KEY       the key to accept (generated unless given)
    --dialect D         guide or reference (default guide: the public guide's curl + jq workflow
                        runs against it unchanged; ``FakeGPCN()`` itself defaults to reference)
    --seed-vms N        start with N running VMs
    --job-polls N       jobs finish on their N-th poll (default 2)
    --job-duration S    jobs finish S seconds after creation instead
    --rate-limit N      requests allowed per window (default 100000)
    --rate-window S     the rate limit window in seconds (default 60)
    --rate-alignment A  first-request (default: a window starts with the first request after the
                        previous one) or clock (windows on multiples of the window in Unix time)
    --clock-skew S      the fake's wall clock runs S seconds ahead of this machine's (negative:
                        behind): its Date headers, X-RateLimit-Reset and timestamps (default 0)
    --log-cap N         keep the newest N requests in the request log (default 10000), so that
                        a server left running does not grow forever; counts stay exact
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from gpcn_async.testing._ratelimit import ALIGNMENTS
from gpcn_async.testing._server import FakeGPCN

__all__ = ["DEFAULT_LOG_CAP", "main", "serve"]


DEFAULT_LOG_CAP = 10_000
"""How many requests the standalone server's log keeps: a server left running for days must not
grow forever (``FakeGPCN()`` in a test keeps them all)."""

DEFAULT_DIALECT = "guide"
"""The standalone server's dialect unless ``--dialect`` says otherwise: the one the public guide's
curl + jq workflow speaks, since whoever curls this server follows that guide. (``FakeGPCN()``
itself, for tests of the SDK, still defaults to the reference dialect.)"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gpcn_async.testing",
        description="Serve the fake GPCN API on 127.0.0.1 until interrupted.",
    )
    parser.add_argument("--port", type=int, default=8080, help="TCP port (0: any free port)")
    parser.add_argument("--api-key", default=None, help="the key to accept (generated if absent)")
    parser.add_argument(
        "--dialect",
        choices=("guide", "reference"),
        default=DEFAULT_DIALECT,
        help=f"wire dialect (default {DEFAULT_DIALECT}: the public guide's curl + jq workflow "
        "runs against it unchanged)",
    )
    parser.add_argument(
        "--seed-vms", type=int, default=0, metavar="N", help="start with N running VMs"
    )
    parser.add_argument(
        "--job-polls", type=int, default=2, metavar="N", help="jobs finish on their N-th poll"
    )
    parser.add_argument(
        "--job-duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="jobs finish this long after creation instead",
    )
    parser.add_argument(
        "--rate-limit", type=int, default=100_000, metavar="N", help="requests per window"
    )
    parser.add_argument(
        "--rate-window", type=float, default=60.0, metavar="SECONDS", help="rate limit window"
    )
    parser.add_argument(
        "--rate-alignment",
        choices=ALIGNMENTS,
        default="first-request",
        help="where windows start: at the first request after the last one, or on the clock",
    )
    parser.add_argument(
        "--clock-skew",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="run the fake's wall clock this far ahead of this machine's (negative: behind)",
    )
    parser.add_argument(
        "--log-cap",
        type=int,
        default=DEFAULT_LOG_CAP,
        metavar="N",
        help=f"keep the newest N requests in the request log (default {DEFAULT_LOG_CAP})",
    )
    return parser


def _dialect(dialect: str) -> str:
    """The banner's words for the dialect served, saying which one is the default."""
    if dialect == DEFAULT_DIALECT:
        return f"{dialect} dialect, the default; --dialect reference for the other"
    return f"{dialect} dialect, chosen with --dialect; the default is {DEFAULT_DIALECT}"


async def serve(fake: FakeGPCN, stop: asyncio.Event | None = None) -> None:
    """Run ``fake``, print its URL and key, and wait for ``stop`` (or SIGINT/SIGTERM).

    Args:
        fake: The fake to serve (not yet started).
        stop: Set it to stop serving; by default SIGINT and SIGTERM set it.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    try:
        async with fake:
            sys.stdout.write(f"{fake.url}\n{fake.api_key}\n")
            sys.stdout.flush()
            sys.stderr.write(f"FakeGPCN ({_dialect(fake.dialect)}) serving at {fake.url}; ")
            sys.stderr.write("Ctrl-C to stop\n")
            sys.stderr.flush()
            await stop.wait()
    finally:
        for signum in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and serve until interrupted; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        fake = FakeGPCN(
            dialect=args.dialect,
            api_key=args.api_key,
            port=args.port,
            seed_vms=args.seed_vms,
            job_polls=args.job_polls,
            job_duration=args.job_duration,
            rate_limit=args.rate_limit,
            rate_window=args.rate_window,
            rate_alignment=args.rate_alignment,
            clock_skew=args.clock_skew,
            log_cap=args.log_cap,
        )
    except ValueError as exc:
        parser.error(str(exc))  # exits 2
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(fake))
    except OSError as exc:
        sys.stderr.write(f"error: cannot serve on 127.0.0.1:{args.port}: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
