"""``gpcn ssh-keys``, ``gpcn datacenters`` and ``gpcn auth status``: the account's commands.

Built on the public API only, like every command. A generated private key goes to a new file
with mode 0600 and nowhere else: never over an existing file, never to stdout or a log.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from gpcn_async import AuthStatus, Datacenter, SshKeyEntry
from gpcn_async.cli._commands import CommandError, Context, Handler, Outcome
from gpcn_async.cli._files import write_private_file
from gpcn_async.cli._render import MISSING, _cell, table

if TYPE_CHECKING:
    from gpcn_async.cli._parser import Commands

__all__ = [
    "add_commands",
    "auth_status",
    "datacenters",
    "ssh_keys_create",
    "ssh_keys_delete",
    "ssh_keys_generate",
    "ssh_keys_list",
    "ssh_keys_rename",
]

ALGORITHMS = ("ed25519", "rsa-2048", "rsa-4096", "ecdsa-p256")
EXPIRY_WARNING = timedelta(days=7)
"""``auth status`` notes a key that expires within this long (as the vendor's client warns)."""


# -- SSH keys --------------------------------------------------------------------------------


def _lines(rows: Sequence[tuple[str, object]]) -> str:
    """``name  value`` lines, aligned; a value not sent shows as ``-``."""
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {_cell(value)}" for name, value in rows)


def _details(key: SshKeyEntry) -> str:
    """Every field of an SSH key that the server sent, one line each."""
    fields = [(field.name, getattr(key, field.name)) for field in attrs.fields(SshKeyEntry)]
    return _lines([(name, value) for name, value in fields if value is not None])


def _key_table(keys: Sequence[SshKeyEntry]) -> str:
    if not keys:
        return "no SSH keys"
    return table(
        ["ID", "NAME", "ALGORITHM", "CREATED"],
        [[key.id, key.name, key.algorithm, key.created_at] for key in keys],
    )


async def ssh_keys_list(ctx: Context, _args: argparse.Namespace) -> Outcome:
    """``gpcn ssh-keys list``: the account's SSH-key library."""
    keys = await ctx.gpcn.ssh_keys.list()
    return Outcome(keys, _key_table(keys))


def _read_text(path: Path) -> str:
    """A small text file (a public key), or a ``CommandError`` saying why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not a text file"
        raise CommandError(f"cannot read {path}: {reason or error}") from None


async def ssh_keys_create(ctx: Context, args: argparse.Namespace) -> Outcome:
    """``gpcn ssh-keys create NAME --public-key-file FILE``: upload a public key."""
    public_key = _read_text(Path(args.public_key_file))
    key = await ctx.gpcn.ssh_keys.create(args.name, public_key=public_key)
    return Outcome(key, _details(key), note=f"use it with: --ssh-key-id {key.id}")


def _new_file(path: Path) -> None:
    """Refuse, before anything is sent, a file that exists or a folder that does not."""
    if path.exists() or path.is_symlink():
        raise CommandError(f"{path} already exists: choose another --private-key-file")
    if not path.parent.is_dir():
        raise CommandError(f"{path.parent} is not a folder: choose another --private-key-file")


async def ssh_keys_generate(ctx: Context, args: argparse.Namespace) -> Outcome:
    """``gpcn ssh-keys generate NAME --private-key-file FILE``: a server-made key pair.

    The private key is shown by the API once: it is written to a new 0600 file, never over
    an existing one, and never printed.
    """
    target = Path(args.private_key_file)
    _new_file(target)
    generated = await ctx.gpcn.ssh_keys.generate(args.name, algorithm=args.algorithm)
    key, text = generated.key, generated.private_key
    try:
        write_private_file(target, text if text.endswith("\n") else text + "\n")
    except OSError as error:
        raise CommandError(
            f"SSH key {key.name} ({key.id}) was generated, but its private key could not be "
            f"written to {target}: {error.strerror or error}; the API will not show it again: "
            f"delete the key with: gpcn ssh-keys delete {key.id}"
        ) from None
    return Outcome(
        {"key": key, "path": str(target), "mode": "0600"},
        _details(key),
        note=f"wrote the private key of {key.name} to {target} (mode 0600)",
    )


async def ssh_keys_rename(ctx: Context, args: argparse.Namespace) -> Outcome:
    """``gpcn ssh-keys rename ID NAME``."""
    key = await ctx.gpcn.ssh_keys.rename(args.id, args.name)
    return Outcome(key, _details(key))


async def ssh_keys_delete(ctx: Context, args: argparse.Namespace) -> Outcome:
    """``gpcn ssh-keys delete ID``."""
    await ctx.gpcn.ssh_keys.delete(args.id)
    return Outcome({"id": args.id, "deleted": True}, f"deleted SSH key {args.id}")


# -- data centers ----------------------------------------------------------------------------


def _flag(value: bool | None) -> str:
    return MISSING if value is None else ("yes" if value else "no")


def _datacenter_table(found: Sequence[Datacenter]) -> str:
    if not found:
        return "no datacenters"
    return table(
        ["ID", "NAME", "CODE", "REGION", "COUNTRY", "GPU", "VPC", "L2"],
        [
            [
                dc.id,
                dc.name,
                dc.code,
                dc.region,
                dc.country_code or dc.country,
                _flag(dc.gpu_enabled),
                _flag(dc.vpc_capable),
                _flag(dc.l2_capable),
            ]
            for dc in found
        ],
    )


async def datacenters(ctx: Context, args: argparse.Namespace) -> Outcome:
    """``gpcn datacenters [--gpu]``: the datacenters the key can see."""
    found = await ctx.gpcn.datacenters.list(
        args.search, country=args.country, region=args.region, gpu_enabled=args.gpu or None
    )
    return Outcome(found, _datacenter_table(found))


# -- auth ------------------------------------------------------------------------------------


def _auth_text(status: AuthStatus) -> str:
    credential, grants = status.credential, status.grants
    rows: list[tuple[str, object]] = [("authenticated", "yes" if status.authenticated else "no")]
    if credential is not None:
        start = f"{credential.key_start}..." if credential.key_start else None
        rows += [("kind", credential.kind), ("name", credential.name), ("key", start)]
        rows += [("entity", credential.entity_id), ("expires", credential.expires_at or "never")]
    if grants is not None:
        rows.append(("permissions", ", ".join(grants.permissions) or "none"))
    return _lines(rows)


def _auth_note(status: AuthStatus) -> str | None:
    """A warning about the key, as the vendor's client gives: not an API key, or expiring."""
    credential = status.credential
    if credential is None:
        return None
    if credential.kind != "api_key":
        return f"note: this credential is a {credential.kind}, not an API key"
    expires = credential.expires_at
    if expires is not None and expires - datetime.now(UTC) < EXPIRY_WARNING:
        return f"note: the key expires soon, at {expires.isoformat()}"
    return None


async def auth_status(ctx: Context, _args: argparse.Namespace) -> Outcome:
    """``gpcn auth status``: whether the key is accepted, its kind, name, expiry, permissions."""
    status = await ctx.gpcn.auth_check()
    failure = None if status.authenticated else "the API did not authenticate the key"
    return Outcome(status, _auth_text(status), failure=failure, note=_auth_note(status))


# -- grammar ---------------------------------------------------------------------------------


def _group(
    commands: Commands, name: str, help_text: str, members: Sequence[tuple[str, Handler, str]]
) -> dict[str, argparse.ArgumentParser]:
    """A command with subcommands (``gpcn ssh-keys list``): each child's parser, by name."""
    group = commands.group(name, help_text)
    return {child: group.add(child, handler, text) for child, handler, text in members}


def add_commands(commands: Commands) -> None:
    """Add ``ssh-keys``, ``datacenters`` and ``auth`` to the ``gpcn`` parser."""
    keys = _group(
        commands,
        "ssh-keys",
        "the account's SSH-key library (a create needs a key's id: --ssh-key-id)",
        [
            ("list", ssh_keys_list, "list the SSH keys of the library"),
            ("create", ssh_keys_create, "upload a public key (an OpenSSH .pub file)"),
            (
                "generate",
                ssh_keys_generate,
                (
                    "have the API generate a key pair; its private key goes to a new file "
                    "with mode 0600 (the API shows it once)"
                ),
            ),
            ("rename", ssh_keys_rename, "give a key another name"),
            ("delete", ssh_keys_delete, "remove a key from the library"),
        ],
    )
    name_help = "1-30 letters, digits, spaces and . - _ ( ) ' #"
    keys["create"].add_argument("name", metavar="NAME", help=name_help)
    keys["create"].add_argument(
        "--public-key-file", required=True, metavar="FILE", help="e.g. ~/.ssh/id_ed25519.pub"
    )
    keys["generate"].add_argument("name", metavar="NAME", help=name_help)
    keys["generate"].add_argument(
        "--algorithm", choices=ALGORITHMS, default="ed25519", help="default: ed25519"
    )
    keys["generate"].add_argument(
        "--private-key-file",
        required=True,
        metavar="FILE",
        help="where to write the private key (a new file: an existing one is never replaced)",
    )
    keys["rename"].add_argument("id", metavar="ID", help="the key's id")
    keys["rename"].add_argument("name", metavar="NAME", help=name_help)
    keys["delete"].add_argument("id", metavar="ID", help="the key's id")

    places = commands.add(
        "datacenters",
        datacenters,
        "list the datacenters the API key can see, with what each offers",
    )
    places.add_argument("--gpu", action="store_true", help="only those where GPUs can be ordered")
    places.add_argument("--search", metavar="TEXT", help="only names matching TEXT")
    places.add_argument("--country", metavar="NAME", help="only this country, e.g. 'United States'")
    places.add_argument("--region", metavar="NAME", help="only this region")

    _group(
        commands,
        "auth",
        "check the API key",
        [
            (
                "status",
                auth_status,
                (
                    "whether the API accepts the key, and its kind, name, expiry and "
                    "permissions (exit 1 when it is rejected, with the likely causes)"
                ),
            )
        ],
    )
