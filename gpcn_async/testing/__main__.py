"""Serve the fake GPCN API standalone: ``python -m gpcn_async.testing --port 8080``.

Prints the base URL (ending in ``/v1``) as the first line on stdout and the API key it accepts as
the second, then serves on 127.0.0.1 until interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from gpcn_async.testing._server import FakeGPCN

__all__ = ["main", "serve"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gpcn_async.testing",
        description="Serve the fake GPCN API on 127.0.0.1 until interrupted.",
    )
    parser.add_argument("--port", type=int, default=8080, help="TCP port (0: any free port)")
    parser.add_argument("--api-key", default=None, help="the key to accept (generated if absent)")
    parser.add_argument(
        "--dialect", choices=("guide", "reference"), default="reference", help="wire dialect"
    )
    return parser


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
            await stop.wait()
    finally:
        for signum in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and serve until interrupted; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        fake = FakeGPCN(dialect=args.dialect, api_key=args.api_key, port=args.port)
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(fake))
    return 0


if __name__ == "__main__":
    sys.exit(main())
