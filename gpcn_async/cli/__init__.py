"""``gpcn``: the command line of gpcn_async (also ``python -m gpcn_async``).

Built on the SDK's public API only. ``main()`` parses the arguments, runs one subcommand in its
own event loop, and prints its result: an aligned table by default, one JSON document with
``--json``. Progress and errors go to stderr; an error is one line, never a traceback.

Exit status: 0 ok; 1 an API or job failure (any ``GPCNError``, or any failed id of a bulk
action); 2 a usage error (bad arguments, ``InvalidRequestError``, ``ConfigurationError`` such as
a missing API key); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Final

from gpcn_async import (
    Client,
    ConfigurationError,
    GPCNError,
    InvalidRequestError,
    PollPolicy,
)
from gpcn_async.cli._commands import CommandError, Context, Outcome, UsageError
from gpcn_async.cli._parser import build_parser, options
from gpcn_async.cli._render import dump_json, one_line

__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "main"]

EXIT_OK: Final = 0
"""Everything asked for was done."""
EXIT_FAILURE: Final = 1
"""The API, a job or a local file operation failed, or some id of a bulk action failed."""
EXIT_USAGE: Final = 2
"""The command line was wrong: bad arguments, bad values, missing configuration."""
EXIT_INTERRUPTED: Final = 130
"""Interrupted by Ctrl-C (jobs already accepted go on on the server)."""

_ENV_API_KEY: Final = "GPCN_API_KEY"
# Polls back off from --poll-interval to ten times it (the SDK's default: 1 s, then up to 10 s).
_POLL_BACKOFF_LIMIT: Final = 10.0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gpcn`` command line and return its exit status.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        0 ok, 1 an API or job failure, 2 a usage error, 130 interrupted.
    """
    parser = build_parser()
    try:
        args = options(parser.parse_args(argv))
    except SystemExit as done:  # --help, --version, or a usage error already printed
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        _error("interrupted (jobs already accepted go on on the server)")
        return EXIT_INTERRUPTED


def _error(message: str) -> None:
    sys.stderr.write(f"gpcn: error: {one_line(message)}\n")
    sys.stderr.flush()


def _client(args: argparse.Namespace) -> Client:
    """The client the common options describe (the key is never printed)."""
    if not (args.api_key or os.environ.get(_ENV_API_KEY)):
        raise UsageError(f"no API key: set {_ENV_API_KEY} or pass --api-key")
    poll = PollPolicy(
        interval=args.poll_interval,
        max_interval=args.poll_interval * _POLL_BACKOFF_LIMIT,
        timeout=args.timeout,
    )
    return Client(args.api_key, base_url=args.base_url, poll=poll)


async def _outcome(args: argparse.Namespace) -> Outcome:
    progress = sys.stderr
    if not getattr(args, "needs_client", True):
        # The demo narrates on stdout, unless stdout is reserved for its JSON summary.
        story = sys.stderr if args.json else sys.stdout
        return await args.handler(Context(progress=story, quiet=args.quiet), args)  # type: ignore[no-any-return]
    async with _client(args) as gpcn:
        context = Context(progress=progress, quiet=args.quiet, client=gpcn)
        return await args.handler(context, args)  # type: ignore[no-any-return]


async def _run(args: argparse.Namespace) -> int:
    try:
        outcome = await _outcome(args)
    except (UsageError, InvalidRequestError, ConfigurationError) as error:
        _error(str(error))
        return EXIT_USAGE
    except (GPCNError, CommandError) as error:
        _error(str(error))
        return EXIT_FAILURE
    if args.json:
        sys.stdout.write(dump_json(outcome.document) + "\n")
    else:
        if outcome.text:
            sys.stdout.write(outcome.text + "\n")
        if outcome.note:
            sys.stdout.flush()
            sys.stderr.write(outcome.note + "\n")
    sys.stdout.flush()
    if outcome.failure is not None:
        _error(outcome.failure)
        return EXIT_FAILURE
    return EXIT_OK
