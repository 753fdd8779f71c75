"""``gpcn``: the command line of gpcn_async (also ``python -m gpcn_async``).

Built on the SDK's public API only. ``main()`` parses the arguments, runs one subcommand in its
own event loop, and prints its result: an aligned table by default, one JSON document with
``--json``. Progress and errors go to stderr; an error is one line, never a traceback.

Exit status: 0 ok; 1 an API or job failure (any ``GPCNError``, or any failed id of a bulk
action); 2 a usage error (bad arguments, ``InvalidRequestError``, ``ConfigurationError`` such as
a missing API key); 130 interrupted (Ctrl-C: the jobs already accepted go on on the server,
and the command names them and how to follow them up); 141 the reader of the output went away
(a broken pipe, as in ``gpcn --json list | head -1``): the command stops at once, silently.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Final, TextIO
from urllib.parse import urlsplit

from gpcn_async import (
    Client,
    ConfigurationError,
    GPCNError,
    InvalidRequestError,
    NotFoundError,
    PollPolicy,
)
from gpcn_async.cli._commands import Accepted, CommandError, Context, Outcome, UsageError
from gpcn_async.cli._parser import build_parser, options
from gpcn_async.cli._render import dump_json, one_line

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "main",
]

EXIT_OK: Final = 0
"""Everything asked for was done."""
EXIT_FAILURE: Final = 1
"""The API, a job or a local file operation failed, or some id of a bulk action failed."""
EXIT_USAGE: Final = 2
"""The command line was wrong: bad arguments, bad values, missing configuration."""
EXIT_INTERRUPTED: Final = 130
"""Interrupted by Ctrl-C (jobs already accepted go on on the server, and are named)."""
# 128 + SIGPIPE (13), like 130 = 128 + SIGINT above: what a shell reports for a Unix tool that
# SIGPIPE ends (`yes | head -1`), so `set -o pipefail` scripts see gpcn behave like any other
# tool, and a reader that went away stays distinct from 1, a real failure of the API or a job.
EXIT_BROKEN_PIPE: Final = 141
"""The reader of stdout (or stderr) went away, e.g. ``gpcn --json list | head -1``."""

_ENV_API_KEY: Final = "GPCN_API_KEY"
_ENV_BASE_URL: Final = "GPCN_BASE_URL"
# Polls back off from --poll-interval to ten times it (the SDK's default: 1 s, then up to 10 s).
_POLL_BACKOFF_LIMIT: Final = 10.0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gpcn`` command line and return its exit status.

    When the reader of the output goes away (a broken pipe), the command stops at once without
    a word (its client closed, its tasks cancelled), and stdout (stderr too, when it is the
    pipe that broke) is pointed at ``os.devnull`` so that the interpreter's last flush cannot
    fail again.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        0 ok, 1 an API or job failure, 2 a usage error, 130 interrupted, 141 a broken pipe.
    """
    try:
        return _main(argv)
    except BrokenPipeError:
        return _reader_gone()
    except BaseExceptionGroup as group:  # progress written by tasks of a TaskGroup
        if group.split(BrokenPipeError)[1] is not None:
            raise  # something else went wrong too: a bug, which must show
        return _reader_gone()


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = options(parser.parse_args(argv))
    except SystemExit as done:  # --help, --version, or a usage error already printed
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    if args.handler is None:  # bare `gpcn`, or a group such as `gpcn jobs`, without a command
        args.help_of.print_help(sys.stdout)
        return EXIT_OK
    accepted = Accepted()
    try:
        return asyncio.run(_run(args, accepted))
    except KeyboardInterrupt:
        return _interrupted(args, accepted)


def _interrupted(args: argparse.Namespace, accepted: Accepted) -> int:
    """Report an interruption (Ctrl-C): what the command had set going, and how to follow it.

    The command's report is printed like a result (one JSON document on stdout with
    ``--json``), then one error line on stderr that names each job still going on and the
    ``gpcn jobs wait`` command that follows it up.
    """
    outcome = accepted.report() if accepted.report is not None else None
    if outcome is None:
        _error("interrupted (jobs already accepted go on on the server)")
    else:
        _print(args, outcome)
        _error(outcome.failure or "interrupted")
    return EXIT_INTERRUPTED


def _reader_gone() -> int:
    """Give up quietly on output nobody reads any more; the exit status for a broken pipe.

    By now ``asyncio.run`` is over: the client was closed on the way out and the event loop's
    remaining tasks were cancelled. What a broken stream still buffers would make the
    interpreter's final flush fail again ("Exception ignored ... BrokenPipeError", exit status
    120), so, as the Python documentation advises
    (https://docs.python.org/3/library/signal.html#note-on-sigpipe), stdout is pointed at
    os.devnull; so is stderr when it is the pipe that broke (the reader of progress went away),
    and only then, so that anything still to say at exit reaches a stderr that works. Nothing
    is printed: whoever read the output is gone.
    """
    _to_devnull(sys.stdout)
    try:
        sys.stderr.flush()
    except OSError:  # stderr is a pipe that broke: what it holds can never be written
        _to_devnull(sys.stderr)
    return EXIT_BROKEN_PIPE


def _to_devnull(stream: TextIO) -> None:
    """Point the stream's file descriptor at os.devnull: its later writes and flushes succeed."""
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):  # None, or a stream with no descriptor
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, descriptor)
    finally:
        os.close(devnull)


def _print(args: argparse.Namespace, outcome: Outcome) -> None:
    """Print the result: one JSON document with ``--json``, else its text (and note)."""
    if args.json:
        sys.stdout.write(dump_json(outcome.document) + "\n")
    else:
        if outcome.text:
            sys.stdout.write(outcome.text + "\n")
        if outcome.note:
            sys.stdout.flush()
            sys.stderr.write(outcome.note + "\n")
    sys.stdout.flush()


def _error(message: str) -> None:
    sys.stderr.write(f"gpcn: error: {one_line(message)}\n")
    sys.stderr.flush()


def _hint(error: BaseException, args: argparse.Namespace) -> str:
    """What to check after an error whose usual cause is known (empty when none is)."""
    if not (isinstance(error, NotFoundError) and error.message.lower() == "route not found"):
        return ""
    # The API's paths are under /v1: without it, every path is an unknown route.
    base_url = args.base_url or os.environ.get(_ENV_BASE_URL) or ""
    if not base_url or urlsplit(base_url).path.rstrip("/").endswith("/v1"):
        return ""
    return " (is the base URL missing /v1? e.g. https://api.gpcn.com/v1)"


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


async def _outcome(args: argparse.Namespace, accepted: Accepted) -> Outcome:
    progress = sys.stderr
    if not getattr(args, "needs_client", True):
        # The demo narrates on stdout, unless stdout is reserved for its JSON summary.
        story = sys.stderr if args.json else sys.stdout
        return await args.handler(Context(progress=story, quiet=args.quiet), args)  # type: ignore[no-any-return]
    async with _client(args) as gpcn:
        context = Context(progress=progress, quiet=args.quiet, client=gpcn, accepted=accepted)
        return await args.handler(context, args)  # type: ignore[no-any-return]


async def _run(args: argparse.Namespace, accepted: Accepted) -> int:
    try:
        outcome = await _outcome(args, accepted)
    except (UsageError, InvalidRequestError, ConfigurationError) as error:
        _error(str(error))
        return EXIT_USAGE
    except (GPCNError, CommandError) as error:
        _error(str(error) + _hint(error, args))
        return EXIT_FAILURE
    _print(args, outcome)
    if outcome.failure is not None:
        _error(outcome.failure)
        return EXIT_FAILURE
    return EXIT_OK
