"""The ``gpcn`` command line's grammar: argparse subcommands, each bound to its handler."""

from __future__ import annotations

import argparse
import math
from typing import NoReturn

from gpcn_async import __version__
from gpcn_async.cli import _account, _fleet
from gpcn_async.cli import _commands as commands

__all__ = ["Parser", "build_parser"]

DESCRIPTION = """\
The command line of gpcn_async, for the GPCN cloud's GPU API.

Configuration: the API key from --api-key or GPCN_API_KEY (prefer the variable: command
lines are visible to other users), the base URL from --base-url or GPCN_BASE_URL.
Results go to stdout as tables, or as one JSON document with --json; progress and errors
go to stderr. Exit status: 0 ok, 1 an API or job failure (or any failed id), 2 a usage
error, 130 interrupted, 141 the reader of the output went away (gpcn ... | head).
"""

EPILOG = """\
examples:
  gpcn demo                                    run a whole fleet workflow against a fake API
  gpcn inventory --code nvidia-h100 --count 8  where 8x H100 can be ordered now
  gpcn create --name train-01 --code nvidia-h100 --count 8 --wait
  gpcn --json list --search train- | jq -r '.[].id' | xargs gpcn stop
  gpcn ssh-key VM_ID --output train-01.pem     the key file is written with mode 0600
"""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``gpcn: error: ...`` with a pointer to ``--help``, and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def _common_options() -> Parser:
    """Options accepted before or after the subcommand (``gpcn --json list``, ``gpcn list --json``).

    Their defaults are ``SUPPRESS``, so an option given before the subcommand is not reset by
    the subcommand's parser; ``options()`` supplies the real defaults.
    """
    common = Parser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument(
        "--api-key", default=argparse.SUPPRESS, metavar="KEY", help="default: $GPCN_API_KEY"
    )
    group.add_argument(
        "--base-url",
        default=argparse.SUPPRESS,
        metavar="URL",
        help="default: $GPCN_BASE_URL, else https://api.gpcn.com/v1",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the result as one JSON document (for scripts)",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show no progress while waiting",
    )
    group.add_argument(
        "--timeout",
        type=_seconds,
        default=argparse.SUPPRESS,
        metavar="SECONDS",
        help="give up waiting for jobs after this long (default 600; they go on on the server)",
    )
    group.add_argument(
        "--poll-interval",
        type=_seconds,
        default=argparse.SUPPRESS,
        metavar="SECONDS",
        help="first delay between job polls, doubling up to ten times it (default 1)",
    )
    return common


DEFAULTS: dict[str, object] = {
    "api_key": None,
    "base_url": None,
    "json": False,
    "quiet": False,
    "timeout": 600.0,
    "poll_interval": 1.0,
}
"""The common options' values when they are not given."""


def options(args: argparse.Namespace) -> argparse.Namespace:
    """The parsed arguments with the common options' defaults filled in."""
    for name, value in DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, value)
    return args


async def _demo(ctx: commands.Context, args: argparse.Namespace) -> commands.Outcome:
    """``gpcn demo``, imported on use: only the demo loads the fake server."""
    from gpcn_async.cli._demo import demo  # noqa: PLC0415

    return await demo(ctx, args)


def _ids(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("ids", nargs="+", metavar="ID", help=f"the id of a GPU VM to {what}")


def _wait(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--wait", action="store_true", help=f"wait until {what}, with progress")


def build_parser() -> Parser:
    """The ``gpcn`` parser; each subcommand sets ``handler`` (and ``command``)."""
    common = _common_options()
    parser = Parser(
        prog="gpcn",
        description=DESCRIPTION,
        epilog=EPILOG,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: commands.Handler, help_text: str) -> argparse.ArgumentParser:
        child = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        child.set_defaults(handler=handler)
        return child

    inventory = command("inventory", commands.inventory, "what GPUs can be ordered now, where")
    inventory.add_argument("--code", help="only this GPU series, e.g. nvidia-h100")
    inventory.add_argument("--count", type=int, metavar="{1,2,4,8}", help="only this GPU count")
    inventory.add_argument("--datacenter", metavar="ID", help="only this datacenter")

    listing = command("list", commands.list_vms, "list GPU VMs (every page)")
    listing.add_argument("--search", metavar="TEXT", help="only VMs whose name contains TEXT")

    get = command("get", commands.get, "show one GPU VM")
    get.add_argument("id", metavar="ID", help="the GPU VM's id")

    create = command(
        "create",
        commands.create,
        "order a GPU VM (with --code, the series is found in the inventory and a 409 race "
        "falls back to the next offer)",
    )
    create.add_argument("--name", required=True, help="the VM's name")
    what = create.add_mutually_exclusive_group(required=True)
    what.add_argument("--code", help="a GPU series code, e.g. nvidia-h100 (uses the inventory)")
    what.add_argument("--series-id", metavar="ID", help="a GPU series id (needs --datacenter)")
    create.add_argument("--count", type=int, required=True, metavar="{1,2,4,8}", help="GPUs per VM")
    create.add_argument(
        "--datacenter",
        action="append",
        metavar="ID",
        help="a datacenter id; with --code, repeat it to give datacenters in preference order",
    )
    create.add_argument("--image-name", metavar="NAME", help="the OS image")
    create.add_argument("--ssh-key-id", metavar="ID", help="an SSH key to install")
    _wait(create, "the VM is ready")

    delete = command("delete", commands.delete, "delete GPU VMs (several ids: one bulk call)")
    _ids(delete, "delete")
    _wait(delete, "they are gone")

    for action in ("start", "stop", "reset"):
        power = command(
            action, commands.power, f"{action} GPU VMs (several ids: one bulk call, per-id results)"
        )
        _ids(power, action)
        _wait(power, "done, when the server answers with a job")

    key = command(
        "ssh-key",
        commands.ssh_key,
        "write a GPU VM's SSH private key to a file only you can read (mode 0600)",
    )
    key.add_argument("id", metavar="ID", help="the GPU VM's id")
    key.add_argument(
        "-o", "--output", metavar="FILE", help="where to write the key (default: gpcn-ID.pem)"
    )
    key.add_argument("--force", action="store_true", help="replace FILE if it exists")
    key.add_argument(
        "--print",
        action="store_true",
        help="also print the key on stdout (without --output, print it only)",
    )

    jobs = sub.add_parser(
        "jobs",
        help="follow jobs by id (the JOB ids that create, delete and the actions print)",
        description="follow jobs by id (the JOB ids that create, delete and the actions print)",
    )
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="COMMAND")
    job_commands = (
        ("wait", commands.jobs_wait, "wait for jobs until they end (all polled together)"),
        ("status", commands.jobs_status, "show the jobs' status now, without waiting"),
    )
    for name, handler, help_text in job_commands:
        child = jobs_sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        child.add_argument("job_ids", nargs="+", metavar="JOB_ID", help="the id of a job")
        child.set_defaults(handler=handler)

    _account.add_commands(sub, common)
    _fleet.add_commands(sub, common)

    run_demo = command(
        "demo",
        _demo,
        "run a whole fleet workflow (8 VMs) against a fake GPCN API served in this process: "
        "no account needed",
    )
    run_demo.set_defaults(needs_client=False)
    return parser
