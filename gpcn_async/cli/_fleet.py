"""``gpcn fleet ensure|status|teardown``: crash-safe fleets from the command line.

Each step goes to the fleet's journal (``--journal``: a file, default ``NAME.db`` here, or a
``postgresql://`` URL shared by processes on several hosts) before and after it is taken, so a
command that was interrupted (Ctrl-C, a killed CI job) is finished by running it again: nothing
is ordered twice. Progress lines (``train-a-003: ordering``) go to stderr unless ``--quiet``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from gpcn_async import BulkError
from gpcn_async.cli._commands import Context, Handler, Outcome
from gpcn_async.cli._render import error_document, table, vm_table
from gpcn_async.fleet import Fleet, Journal, Member, journal_for

if TYPE_CHECKING:
    from gpcn_async.cli._parser import Commands

__all__ = ["add_commands", "ensure", "status", "teardown"]


def _journal(args: argparse.Namespace) -> Journal:
    """The journal ``--journal`` names (a file or a URL); its ``location`` hides any password."""
    return journal_for(args.journal or f"{args.name}.db", fleet=args.name)


def _progress(stream: TextIO) -> Callable[[str, str], None]:
    def write(member: str, event: str) -> None:
        stream.write(f"{member}: {event}\n")
        stream.flush()

    return write


def _fleet(ctx: Context, args: argparse.Namespace) -> Fleet:
    return Fleet(
        ctx.gpcn,
        args.name,
        journal=_journal(args),
        concurrency=args.concurrency,
        progress=None if ctx.quiet else _progress(ctx.progress),
    )


def _members_table(members: Sequence[Member]) -> str:
    return table(
        ["NAME", "STATE", "VM ID", "VM STATUS", "UPDATED", "ERROR"],
        [[m.name, m.state, m.vm_id, m.vm_status, m.updated_at, m.error] for m in members],
    )


def _on_interrupt(ctx: Context, args: argparse.Namespace, command: str) -> None:
    """What an interrupted command says: the journal has it all, run it again."""
    location = _journal(args).location
    ctx.accepted.report = lambda: Outcome(
        {"fleet": args.name, "journal": location, "interrupted": True},
        "",
        failure=f"interrupted: the journal {location} keeps every step taken; run "
        f"'gpcn fleet {command} {args.name} ...' again to finish (nothing is ordered twice)",
    )


async def ensure(ctx: Context, args: argparse.Namespace) -> Outcome:
    """``gpcn fleet ensure NAME COUNT``: members 0 to COUNT-1 exist and are ready."""
    fleet = _fleet(ctx, args)
    order: dict[str, Any] = {
        "code": args.code,
        "gpu_count": args.gpu_count,
        "datacenters": args.datacenter,
        "image_name": args.image_name,
        "ssh_key_id": args.ssh_key_id,
    }
    _on_interrupt(ctx, args, "ensure")
    try:
        vms = await fleet.ensure(args.count, **order)
    except BulkError as error:  # some members are not ready: show where each one stands
        members = [m for m in await fleet.members() if m.number < args.count]
        document = {
            "fleet": args.name,
            "ok": False,
            "members": members,
            "errors": {name: error_document(e) for name, e in error.errors_by_id.items()},
        }
        return Outcome(document, _members_table(members), failure=error.message)
    return Outcome(
        {"fleet": args.name, "ok": True, "vms": vms},
        vm_table(vms),
        note=f"fleet {args.name}: {len(vms)} members ready (journal {fleet.journal.location})",
    )


async def status(_ctx: Context, args: argparse.Namespace) -> Outcome:
    """``gpcn fleet status NAME``: the journal's members; no request, no API key needed."""
    journal = _journal(args)
    members = await journal.members()
    text = _members_table(members) if members else f"fleet {args.name} has no members"
    return Outcome({"fleet": args.name, "journal": journal.location, "members": members}, text)


async def teardown(ctx: Context, args: argparse.Namespace) -> Outcome:
    """``gpcn fleet teardown NAME``: delete every member and wait; the journal ends empty."""
    _on_interrupt(ctx, args, "teardown")
    deleted = await _fleet(ctx, args).teardown()
    text = f"deleted {len(deleted)} members of fleet {args.name}"
    if deleted:
        text += "\n" + _members_table(deleted)
    return Outcome({"fleet": args.name, "ok": True, "deleted": deleted}, text)


def add_commands(commands: Commands) -> None:
    """Add ``gpcn fleet ensure|status|teardown`` to the ``gpcn`` parser."""
    fleet = commands.group(
        "fleet", "crash-safe fleets: order N GPU VMs and tear them down, surviving interruptions"
    )

    def command(name: str, handler: Handler, text: str) -> argparse.ArgumentParser:
        child = fleet.add(name, handler, text)
        child.add_argument("name", metavar="NAME", help="the fleet's name (VMs NAME-000, ...)")
        child.add_argument(
            "--journal",
            metavar="FILE|URL",
            help="the fleet's journal: a file (default: NAME.db here) or a postgresql:// URL "
            "shared by processes on several hosts",
        )
        return child

    ensure_ = command(
        "ensure",
        ensure,
        "make members NAME-000 to NAME-(COUNT-1) exist and be ready (run it again after an "
        "interruption: nothing is ordered twice; members beyond COUNT are left alone)",
    )
    ensure_.add_argument("count", type=int, metavar="COUNT", help="how many members")
    ensure_.add_argument("--code", required=True, help="the GPU series code, e.g. nvidia-h100")
    ensure_.add_argument(
        "--gpu-count", type=int, required=True, metavar="{1,2,4,8}", help="GPUs per VM"
    )
    ensure_.add_argument("--ssh-key-id", metavar="ID", help="an SSH key to install")
    ensure_.add_argument("--image-name", metavar="NAME", help="the OS image")
    ensure_.add_argument(
        "--datacenter",
        action="append",
        metavar="ID",
        help="a datacenter id; repeat it to give datacenters in preference order",
    )
    command("status", status, "show the members the journal knows (no request)").set_defaults(
        needs_client=False
    )
    tear = command("teardown", teardown, "delete every member, wait, and empty the journal")
    for child in (ensure_, tear):
        child.add_argument(
            "--concurrency", type=int, default=8, metavar="N", help="orders sent at once"
        )
