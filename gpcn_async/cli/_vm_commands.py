"""The commands on one VM at a time, and the reads: ``inventory``, ``list``, ``get``, ...

Also ``create``, ``update`` and ``ssh-key``.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from gpcn_async import GpuVm, Job
from gpcn_async.cli._commands import (
    CommandError,
    Context,
    Going,
    Outcome,
    UsageError,
    mark_interrupted,
)
from gpcn_async.cli._files import write_private_file
from gpcn_async.cli._progress import follow
from gpcn_async.cli._render import (
    describe_status,
    inventory_document,
    inventory_text,
    vm_details,
    vm_table,
)

__all__ = ["create", "get", "inventory", "list_vms", "ssh_key", "update"]


def _gpu_count(args: argparse.Namespace) -> int | None:
    """``--gpu-count``, or ``--count`` (its old spelling; argparse refuses both at once)."""
    given: int | None = args.gpu_count
    return args.old_gpu_count if given is None else given


async def inventory(ctx: Context, args: argparse.Namespace) -> Outcome:
    """``gpcn inventory``: what can be ordered now."""
    result = await ctx.gpcn.gpu.inventory(
        args.code, datacenter_id=args.datacenter, gpu_count=_gpu_count(args)
    )
    return Outcome(inventory_document(result), inventory_text(result))


async def list_vms(ctx: Context, args: argparse.Namespace) -> Outcome:
    """``gpcn list``: every GPU VM (all pages), optionally only names containing ``--search``."""
    vms = [vm async for vm in ctx.gpcn.gpu.list(args.search)]
    return Outcome(vms, vm_table(vms))


async def get(ctx: Context, args: argparse.Namespace) -> Outcome:
    """``gpcn get ID``: one GPU VM, every field."""
    vm = await ctx.gpcn.gpu.get(args.id)
    return Outcome(vm, vm_details(vm))


# -- create ----------------------------------------------------------------------------------


def _series_id(text: str) -> int | str:
    """A series id as the API wants it: the guide's ids are integers, the reference's uuids."""
    return int(text) if text.isdecimal() else text


async def create(ctx: Context, args: argparse.Namespace) -> Outcome:
    """``gpcn create``: order a GPU VM, by series code (from the inventory) or by ids."""
    gpu = ctx.gpcn.gpu
    gpu_count = _gpu_count(args)
    if gpu_count is None:  # pragma: no cover - argparse requires one of its two spellings
        raise UsageError("--gpu-count is required")
    datacenters: list[str] | None = args.datacenter
    name = shlex.quote(args.name)
    ctx.accepted.report = lambda: Outcome(
        {"job_id": None, "status": None, "vm": None, "interrupted": True},
        "",
        failure=f"interrupted while ordering {args.name}, which may have been accepted: "
        f"check with: gpcn list --search {name}",
    )
    if args.code is not None:
        job = await gpu.provision(
            name=args.name,
            code=args.code,
            gpu_count=gpu_count,
            datacenters=datacenters,
            image_name=args.image_name,
            ssh_key_id=args.ssh_key_id,
        )
    else:
        if datacenters is None or len(datacenters) != 1:
            raise UsageError("--series-id needs exactly one --datacenter ID")
        job = await gpu.create(
            name=args.name,
            datacenter_id=datacenters[0],
            series_id=_series_id(args.series_id),
            gpu_count=gpu_count,
            image_name=args.image_name,
            ssh_key_id=args.ssh_key_id,
        )
    ctx.accepted.report = lambda: mark_interrupted(
        _ordered(args.name, job),
        [Going(job, args.name, job.status.resource_id if job.status is not None else None)],
    )
    if not args.wait:
        return _ordered(args.name, job)
    [followed] = await follow([(args.name, job)], ctx.progress, quiet=ctx.quiet)
    if followed.error is not None:
        raise followed.error
    vm = followed.result
    if vm is None:  # pragma: no cover - a create job's result is the VM
        raise CommandError(f"job {job.id} succeeded but gave no VM")
    return Outcome(
        {"job_id": job.id, "status": job.status, "vm": vm},
        f"{vm.name} is {vm.status}\n{vm_details(vm)}",
    )


def _ordered(name: str, job: Job[GpuVm]) -> Outcome:
    """The outcome of an order not waited for: the job to follow."""
    state = describe_status(job.status) if job.status is not None else "accepted"
    return Outcome(
        {"job_id": job.id, "status": job.status, "vm": None},
        f"ordered {name}: job {job.id} ({state})",
        note=f"wait for it with: gpcn jobs wait {job.id}",
    )


# -- update ----------------------------------------------------------------------------------

_UPDATE_FIELDS = ("name", "ssh_key_id", "username", "team_id", "resource_group_id")


async def update(ctx: Context, args: argparse.Namespace) -> Outcome:
    """``gpcn update ID --name NAME``: change a GPU VM and show it as it is now."""
    changes = {name: getattr(args, name) for name in _UPDATE_FIELDS}
    changes = {name: value for name, value in changes.items() if value is not None}
    if not changes:
        options = ", ".join("--" + name.replace("_", "-") for name in _UPDATE_FIELDS)
        raise UsageError(f"nothing to change: give at least one of {options}")
    vm = await ctx.gpcn.gpu.update(args.id, **changes)
    return Outcome(vm, vm_details(vm))


# -- SSH key ---------------------------------------------------------------------------------


async def ssh_key(ctx: Context, args: argparse.Namespace) -> Outcome:
    """``gpcn ssh-key ID``: write the VM's private key to a 0600 file; print it only if asked."""
    vm_id: str = args.id
    target: Path | None = None
    if args.output is not None:
        target = Path(args.output)
    elif not args.print:
        target = Path(f"gpcn-{vm_id}.pem")
    if target is not None and not args.force and (target.exists() or target.is_symlink()):
        raise CommandError(f"{target} already exists: choose another --output, or pass --force")
    key = await ctx.gpcn.gpu.ssh_key(vm_id)
    text = key.private_key if key.private_key.endswith("\n") else key.private_key + "\n"
    document: dict[str, object] = {"vm_id": vm_id, "path": None, "mode": None}
    note = None
    if target is not None:
        try:
            write_private_file(target, text, replace=args.force)
        except FileExistsError:
            raise CommandError(
                f"{target} already exists: choose another --output, or pass --force"
            ) from None
        except OSError as error:
            raise CommandError(f"cannot write {target}: {error.strerror or error}") from None
        document.update(path=str(target), mode="0600")
        note = f"wrote the SSH key of {vm_id} to {target} (mode 0600)"
    if args.print:
        document["private_key"] = key.private_key
        return Outcome(document, text.rstrip("\n"), note=note)
    return Outcome(document, note or "")
