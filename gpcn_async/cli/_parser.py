"""The ``gpcn`` command line's grammar: argparse subcommands, each bound to its handler."""

from __future__ import annotations

import argparse
import math
import textwrap
from typing import Any, NoReturn

from gpcn_async import __version__
from gpcn_async.cli import _account, _fleet
from gpcn_async.cli import _action_commands as action_handlers
from gpcn_async.cli import _commands as handlers
from gpcn_async.cli import _job_commands as job_handlers
from gpcn_async.cli import _vm_commands as vm_handlers

__all__ = ["Commands", "Parser", "build_parser", "options"]

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
  gpcn demo                                        run a whole fleet workflow against a fake API
  gpcn inventory --code nvidia-h100 --gpu-count 8  where 8x H100 can be ordered now
  gpcn create --name train-01 --code nvidia-h100 --gpu-count 8 --wait
  gpcn update VM_ID --name train-02                rename a VM
  gpcn --json list --search train- | jq -r '.[].id' | xargs gpcn stop
  gpcn ssh-key VM_ID --output train-01.pem         the key file is written with mode 0600
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


COMMON_OPTIONS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("--api-key",), {"metavar": "KEY", "help": "default: $GPCN_API_KEY"}),
    (
        ("--base-url",),
        {"metavar": "URL", "help": "default: $GPCN_BASE_URL, else https://api.gpcn.com/v1"},
    ),
    (
        ("--json",),
        {"action": "store_true", "help": "print the result as one JSON document (for scripts)"},
    ),
    (("-q", "--quiet"), {"action": "store_true", "help": "show no progress while waiting"}),
    (
        ("--timeout",),
        {
            "type": _seconds,
            "metavar": "SECONDS",
            "help": "give up waiting for jobs after this long (default 600; they go on on the "
            "server)",
        },
    ),
    (
        ("--poll-interval",),
        {
            "type": _seconds,
            "metavar": "SECONDS",
            "help": "first delay between job polls, doubling up to ten times it (default 1)",
        },
    ),
)
"""The options every command takes, before or after its name (``gpcn --json list``, ``gpcn list
--json``): listed once, in ``gpcn --help``."""

COMMON_HINT = (
    "common options (--api-key, --base-url, --json, -q/--quiet, --timeout, --poll-interval) go "
    "before or after the command: see 'gpcn --help'"
)


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, except that a line never breaks inside ``--poll-interval``."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return textwrap.fill(
            " ".join(text.split()),
            width,
            initial_indent=indent,
            subsequent_indent=indent,
            break_on_hyphens=False,
        )


def _common_options(*, listed: bool) -> Parser:
    """A parent parser with the common options: listed (for ``gpcn``) or hidden (commands).

    Their defaults are ``SUPPRESS``, so an option given before the command is not reset by the
    command's parser; ``options()`` supplies the real defaults.
    """
    common = Parser(add_help=False)
    group = common.add_argument_group("common options")
    for flags, settings in COMMON_OPTIONS:
        shown = settings if listed else {**settings, "help": argparse.SUPPRESS}
        group.add_argument(*flags, default=argparse.SUPPRESS, **shown)
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


class Commands:
    """Where commands are added: each gets the common options, accepted but not listed again.

    A group of commands (``gpcn jobs wait``, ``gpcn jobs status``) is a ``Commands`` of its own,
    from ``group()``. A group named without a command prints its help, as bare ``gpcn`` does.
    """

    def __init__(
        self, parser: argparse.ArgumentParser, common: Parser, *, dest: str = "command"
    ) -> None:
        self._common = common
        self._sub = parser.add_subparsers(dest=dest, metavar="COMMAND", title="commands")
        parser.set_defaults(handler=None, help_of=parser)

    def add(self, name: str, handler: handlers.Handler, help_text: str) -> argparse.ArgumentParser:
        """Add the command ``name``, run by ``handler``; its arguments are added to the result."""
        child = self._parser(name, help_text)
        child.set_defaults(handler=handler)
        return child

    def group(self, name: str, help_text: str) -> Commands:
        """Add a group of commands, ``gpcn NAME COMMAND``."""
        dest = name.replace("-", "_") + "_command"  # ssh-keys -> args.ssh_keys_command
        return Commands(self._parser(name, help_text), self._common, dest=dest)

    def _parser(self, name: str, help_text: str) -> argparse.ArgumentParser:
        return self._sub.add_parser(
            name,
            parents=[self._common],
            help=help_text,
            description=help_text,
            epilog=COMMON_HINT,
            formatter_class=_Formatter,
        )


async def _demo(ctx: handlers.Context, args: argparse.Namespace) -> handlers.Outcome:
    """``gpcn demo``, imported on use: only the demo loads the fake server."""
    from gpcn_async.cli._demo import demo  # noqa: PLC0415

    return await demo(ctx, args)


def _ids(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("ids", nargs="+", metavar="ID", help=f"the id of a GPU VM to {what}")


def _wait(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--wait", action="store_true", help=f"wait until {what}, with progress")


def _gpu_count(parser: argparse.ArgumentParser, help_text: str, *, required: bool) -> None:
    """``--gpu-count N``; ``--count``, its old spelling, is still accepted (not listed)."""
    either = parser.add_mutually_exclusive_group(required=required)
    either.add_argument("--gpu-count", type=int, metavar="{1,2,4,8}", help=help_text)
    either.add_argument("--count", type=int, dest="old_gpu_count", help=argparse.SUPPRESS)


def add_read_commands(commands: Commands) -> None:
    """``inventory``, ``list`` and ``get``."""
    inventory = commands.add(
        "inventory", vm_handlers.inventory, "what GPUs can be ordered now, where"
    )
    inventory.add_argument("--code", help="only this GPU series, e.g. nvidia-h100")
    _gpu_count(inventory, "only this GPU count", required=False)
    inventory.add_argument("--datacenter", metavar="ID", help="only this datacenter")

    listing = commands.add("list", vm_handlers.list_vms, "list GPU VMs (every page)")
    listing.add_argument("--search", metavar="TEXT", help="only VMs whose name contains TEXT")

    get = commands.add("get", vm_handlers.get, "show one GPU VM")
    get.add_argument("id", metavar="ID", help="the GPU VM's id")


def add_vm_commands(commands: Commands) -> None:
    """``create``, ``update``, ``delete``, ``start``, ``stop``, ``reset`` and ``ssh-key``."""
    create = commands.add(
        "create",
        vm_handlers.create,
        "order a GPU VM (with --code, the series is found in the inventory and a 409 race "
        "falls back to the next offer)",
    )
    create.add_argument("--name", required=True, help="the VM's name")
    what = create.add_mutually_exclusive_group(required=True)
    what.add_argument("--code", help="a GPU series code, e.g. nvidia-h100 (uses the inventory)")
    what.add_argument("--series-id", metavar="ID", help="a GPU series id (needs --datacenter)")
    _gpu_count(create, "GPUs per VM", required=True)
    create.add_argument(
        "--datacenter",
        action="append",
        metavar="ID",
        help="a datacenter id; with --code, repeat it to give datacenters in preference order",
    )
    create.add_argument("--image-name", metavar="NAME", help="the OS image")
    create.add_argument("--ssh-key-id", metavar="ID", help="an SSH key to install")
    _wait(create, "the VM is ready")

    update = commands.add(
        "update", vm_handlers.update, "change a GPU VM (rename it...) and show it as it is now"
    )
    update.add_argument("id", metavar="ID", help="the GPU VM's id")
    update.add_argument("--name", help="its new name")
    update.add_argument("--ssh-key-id", metavar="ID", help="the SSH key to install")
    update.add_argument("--username", metavar="NAME", help="the login user name")
    update.add_argument("--team-id", metavar="ID", help="move it to this team (guide dialect)")
    update.add_argument(
        "--resource-group-id", metavar="ID", help="move it to this resource group (reference)"
    )

    delete = commands.add(
        "delete",
        action_handlers.delete,
        "delete GPU VMs (several ids: one bulk call); asks first on a terminal, unless --yes",
    )
    _ids(delete, "delete")
    delete.add_argument(
        "-y", "--yes", action="store_true", help="do not ask for confirmation on a terminal"
    )
    _wait(delete, "they are gone")

    for action in ("start", "stop", "reset"):
        power = commands.add(
            action,
            action_handlers.power,
            f"{action} GPU VMs (several ids: one bulk call, per-id results)",
        )
        _ids(power, action)
        _wait(power, "done, when the server answers with a job")

    key = commands.add(
        "ssh-key",
        vm_handlers.ssh_key,
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


def add_job_commands(commands: Commands) -> None:
    """``jobs wait`` and ``jobs status``."""
    jobs = commands.group(
        "jobs", "follow jobs by id (the JOB ids that create, delete and the actions print)"
    )
    job_commands = (
        ("wait", job_handlers.jobs_wait, "wait for jobs until they end (all polled together)"),
        ("status", job_handlers.jobs_status, "show the jobs' status now, without waiting"),
    )
    for name, handler, help_text in job_commands:
        child = jobs.add(name, handler, help_text)
        child.add_argument("job_ids", nargs="+", metavar="JOB_ID", help="the id of a job")


def add_demo_command(commands: Commands) -> None:
    """``demo``: no account needed."""
    run_demo = commands.add(
        "demo",
        _demo,
        "run a whole fleet workflow (8 VMs) against a fake GPCN API served in this process: "
        "no account needed",
    )
    run_demo.set_defaults(needs_client=False)


def build_parser() -> Parser:
    """The ``gpcn`` parser; each command sets ``handler`` (None for ``gpcn`` or a bare group).

    A group of commands is added by a function of its own, taking the ``Commands`` to add to.
    """
    parser = Parser(
        prog="gpcn",
        description=DESCRIPTION,
        epilog=EPILOG,
        parents=[_common_options(listed=True)],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    top = Commands(parser, _common_options(listed=False))
    add_read_commands(top)
    add_vm_commands(top)
    add_job_commands(top)
    _account.add_commands(top)
    _fleet.add_commands(top)
    add_demo_command(top)
    return parser
