"""The subcommands: each calls the SDK's public API and returns an ``Outcome`` to print.

A command never prints its result itself: ``main`` prints the ``Outcome`` as a table or as one
JSON document. Progress while waiting goes to ``Context.progress`` (stderr) as it happens.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

from gpcn_async import (
    BulkResult,
    Client,
    GPCNError,
    GpuVm,
    InvalidRequestError,
    Job,
    JobError,
    JobStatus,
)
from gpcn_async.cli._files import write_private_file
from gpcn_async.cli._progress import Followed, follow
from gpcn_async.cli._render import (
    describe_status,
    error_document,
    inventory_document,
    inventory_text,
    one_line,
    table,
    vm_details,
    vm_table,
)

__all__ = [
    "Accepted",
    "CommandError",
    "Context",
    "Handler",
    "Outcome",
    "UsageError",
    "create",
    "delete",
    "get",
    "inventory",
    "jobs_status",
    "jobs_wait",
    "list_vms",
    "power",
    "ssh_key",
    "update",
]

T = TypeVar("T")

PAST_TENSE = {"start": "started", "stop": "stopped", "reset": "reset", "delete": "deleted"}


class UsageError(Exception):
    """The command line asks for something impossible; exit status 2."""


class CommandError(Exception):
    """The command failed for a reason outside the API (a file that exists...); exit status 1."""


@dataclass(frozen=True)
class Outcome:
    """What a command produced.

    Attributes:
        document: the result for ``--json`` (SDK models in it are written as their ``to_dict()``).
        text: the result for people, printed on stdout.
        failure: when set, the command failed (exit status 1) and this line goes to stderr.
        note: a line for people that is not the result (printed on stderr, not with ``--json``).
    """

    document: object
    text: str
    failure: str | None = None
    note: str | None = None


@dataclass
class Accepted:
    """What to report if the command is interrupted (Ctrl-C) while it waits.

    A command that sets something going on the server sets ``report`` before it waits: a
    function that, called after the interruption, describes what was accepted (the jobs still
    going on, with the command that follows them) as an ``Outcome`` whose ``failure`` is the
    line for stderr. ``main`` prints that outcome, as it would have printed the result.
    """

    report: Callable[[], Outcome] | None = None


@dataclass(frozen=True)
class Context:
    """What a command runs with.

    Attributes:
        progress: where progress and narration go while the command runs.
        quiet: show no progress.
        client: the client, for commands that talk to the API (None for ``demo``).
        accepted: where the command leaves its report in case it is interrupted.
    """

    progress: TextIO
    quiet: bool = False
    client: Client | None = None
    accepted: Accepted = field(default_factory=Accepted)

    @property
    def gpcn(self) -> Client:
        """The client (only for commands that were given one)."""
        if self.client is None:
            raise RuntimeError("this command was run without a client")
        return self.client


Handler = Callable[[Context, argparse.Namespace], Awaitable[Outcome]]
"""The type of every command."""


def _unique(ids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ids))


async def _attempt(call: Awaitable[T]) -> T | GPCNError:
    """The call's result, or the API error it raised (bad arguments still raise)."""
    try:
        return await call
    except InvalidRequestError:
        raise  # a usage error, not an outcome of this id
    except GPCNError as error:
        return error


@dataclass(frozen=True)
class _Going:
    """A job the server accepted, as an interrupted command names it."""

    job: Job[Any]
    vm_name: str | None = None
    vm_id: str | None = None

    def describe(self) -> str:
        """``JOB_ID (VM train-01, id VM_ID)``, with what is known of the VM."""
        vm = [part for part in (self.vm_name, self.vm_id and f"id {self.vm_id}") if part]
        return f"{self.job.id} (VM {', '.join(vm)})" if vm else str(self.job.id)


def interrupted_line(jobs: Sequence[_Going]) -> str:
    """The stderr line of an interrupted wait: each accepted job, and how to follow it up."""
    known = [going for going in jobs if going.job.id is not None]
    going = [item for item in known if not item.job.done()]
    if going:
        ids = " ".join(str(item.job.id) for item in going)
        if len(going) == 1:
            return (
                f"interrupted: job {going[0].describe()} goes on on the server; "
                f"wait for it with: gpcn jobs wait {ids}"
            )
        listed = ", ".join(item.describe() for item in going)
        return (
            f"interrupted: {len(going)} jobs go on on the server: {listed}; "
            f"wait for them with: gpcn jobs wait {ids}"
        )
    if known:
        ids = " ".join(str(item.job.id) for item in known)
        return f"interrupted after the jobs ended; see them with: gpcn jobs status {ids}"
    return "interrupted"


def _interrupted(outcome: Outcome, jobs: Sequence[_Going]) -> Outcome:
    """The outcome of an interrupted wait: the document marked ``"interrupted": true``."""
    document = outcome.document
    if isinstance(document, dict):
        document = {**document, "interrupted": True}
        if "ok" in document:
            document["ok"] = False
    return Outcome(document, outcome.text, failure=interrupted_line(jobs))


# -- reads -----------------------------------------------------------------------------------


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
    ctx.accepted.report = lambda: _interrupted(
        _ordered(args.name, job),
        [_Going(job, args.name, job.status.resource_id if job.status is not None else None)],
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


# -- actions on many ids ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """The outcome of an action for one id."""

    id: str
    result: str
    job_id: str | None = None
    error: GPCNError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _row_result(row: _Row) -> str:
    """What the table shows for one id: the result, or ``failed: reason`` (without the id)."""
    if row.error is None:
        return row.result
    reason = one_line(str(row.error)).removeprefix(f"{row.id}: ")
    return f"failed: {reason}"


def _action_outcome(action: str, rows: list[_Row]) -> Outcome:
    failed = [row for row in rows if not row.ok]
    document = {
        "action": action,
        "ok": not failed,
        "results": [
            {
                "id": row.id,
                "ok": row.ok,
                "result": row.result,
                "job_id": row.job_id,
                "error": error_document(row.error),
            }
            for row in rows
        ],
    }
    text = table(["ID", "RESULT", "JOB"], [[row.id, _row_result(row), row.job_id] for row in rows])
    failure = f"{action} failed for {len(failed)} of {len(rows)} ids" if failed else None
    return Outcome(document, text, failure=failure)


async def _finish_jobs(
    action: str,
    ids: list[str],
    jobs: dict[str, Job[None]],
    failed: dict[str, GPCNError],
    ctx: Context,
    *,
    wait: bool,
) -> list[_Row]:
    """Rows for ids whose action answered with a job each (waited for when asked)."""
    if not wait:
        return _rows(action, ids, jobs, failed, {})
    pending = [(item_id, job) for item_id, job in jobs.items() if not job.done()]
    finished: list[Followed[None]] = []

    def report() -> Outcome:
        errors = {followed.label: followed.error for followed in finished}
        rows = _rows(action, ids, jobs, failed, errors)
        going = [_Going(job, vm_id=item_id) for item_id, job in pending if item_id not in errors]
        return _interrupted(_action_outcome(action, rows), going)

    ctx.accepted.report = report
    await follow(pending, ctx.progress, quiet=ctx.quiet, finished=finished)
    return _rows(action, ids, jobs, failed, {item.label: item.error for item in finished})


def _rows(
    action: str,
    ids: list[str],
    jobs: dict[str, Job[None]],
    failed: dict[str, GPCNError],
    errors: dict[str, GPCNError | None],
) -> list[_Row]:
    """One row per id: failed, done, or accepted (not waited for, or still going on).

    ``errors`` holds the outcome of each job that was waited for until it ended.
    """
    rows = []
    for item_id in ids:
        if item_id in failed:
            rows.append(_Row(item_id, "failed", error=failed[item_id]))
            continue
        job = jobs[item_id]
        error = errors.get(item_id)
        if error is not None:
            rows.append(_Row(item_id, "failed", job.id, error))
        elif job.done() or item_id in errors:
            rows.append(_Row(item_id, PAST_TENSE[action], job.id))
        else:
            rows.append(_Row(item_id, "accepted", job.id))
    return rows


def _confirmed(question: str, ctx: Context) -> bool:
    """Ask a yes/no question on the terminal; anything but y or yes (or no answer) is no."""
    ctx.progress.write(f"{question} [y/N] ")
    ctx.progress.flush()
    answer = sys.stdin.readline()
    if not answer.endswith("\n"):  # end of input (Ctrl-D): end the prompt's line
        ctx.progress.write("\n")
    return answer.strip().lower() in {"y", "yes"}


async def delete(ctx: Context, args: argparse.Namespace) -> Outcome:
    """``gpcn delete ID...``: delete VMs (several ids: one bulk call), optionally waiting.

    On a terminal it asks first, unless ``--yes``; a script (stdin not a terminal, or
    ``--json``) is never asked.
    """
    ids = _unique(args.ids)
    if not (args.yes or args.json) and sys.stdin is not None and sys.stdin.isatty():
        what = f"the GPU VM {ids[0]}" if len(ids) == 1 else f"{len(ids)} GPU VMs: {' '.join(ids)}"
        if not _confirmed(f"delete {what}?", ctx):
            raise CommandError("not confirmed: nothing was deleted")
    gpu = ctx.gpcn.gpu
    jobs: dict[str, Job[None]] = {}
    failed: dict[str, GPCNError] = {}
    if len(ids) == 1:
        answer = await _attempt(gpu.delete(ids[0]))
        if isinstance(answer, GPCNError):
            failed[ids[0]] = answer
        else:
            jobs[ids[0]] = answer
    else:
        group = await gpu.bulk_delete(ids)
        jobs.update(group.jobs)
        failed.update(group.failed)
    rows = await _finish_jobs("delete", ids, jobs, failed, ctx, wait=args.wait)
    return _action_outcome("delete", rows)


def _bulk_rows(action: str, result: BulkResult) -> list[_Row]:
    return [
        _Row(item.id, PAST_TENSE[action] if item.ok else "failed", error=item.error)
        for item in result.items.values()
    ]


async def power(ctx: Context, args: argparse.Namespace) -> Outcome:
    """``gpcn start|stop|reset ID...``: one id is one call, several ids one bulk call."""
    action: str = args.command
    ids = _unique(args.ids)
    gpu = ctx.gpcn.gpu
    if len(ids) > 1:
        bulk = {"start": gpu.bulk_start, "stop": gpu.bulk_stop, "reset": gpu.bulk_reset}[action]
        return _action_outcome(action, _bulk_rows(action, await bulk(ids)))
    single = {"start": gpu.start, "stop": gpu.stop, "reset": gpu.reset}[action]
    answer = await _attempt(single(ids[0]))
    if isinstance(answer, GPCNError):
        rows = [_Row(ids[0], "failed", error=answer)]
    else:
        rows = await _finish_jobs(action, ids, {ids[0]: answer}, {}, ctx, wait=args.wait)
    return _action_outcome(action, rows)


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


# -- jobs ------------------------------------------------------------------------------------


def _final_status(result: JobStatus | None, error: GPCNError | None) -> JobStatus | None:
    if result is not None:
        return result
    if isinstance(error, JobError):
        return error.status
    return None


async def jobs_wait(ctx: Context, args: argparse.Namespace) -> Outcome:
    """``gpcn jobs wait JOB_ID...``: wait for jobs started elsewhere, all polled together."""
    ids = _unique(args.job_ids)
    attached = [(job_id, ctx.gpcn.jobs.attach(job_id)) for job_id in ids]
    finished: list[Followed[JobStatus]] = []

    def report() -> Outcome:
        ended = {followed.label for followed in finished}
        going = [
            _Going(
                job,
                job.status.resource_name if job.status is not None else None,
                job.status.resource_id if job.status is not None else None,
            )
            for job_id, job in attached
            if job_id not in ended
        ]
        return _interrupted(_waited(attached, finished), going)

    ctx.accepted.report = report
    await follow(attached, ctx.progress, quiet=ctx.quiet, finished=finished)
    return _waited(attached, finished)


def _waited(
    attached: list[tuple[str, Job[JobStatus]]], finished: list[Followed[JobStatus]]
) -> Outcome:
    """The outcome of ``jobs wait``: each job's final status, or its last one if not over."""
    ended = {followed.label: followed for followed in finished}
    results = []
    rows = []
    failed = 0
    for job_id, job in attached:
        followed = ended.get(job_id)
        if followed is None:  # still going on (the wait was interrupted)
            ok, status, error = False, job.status, None
        else:
            ok, error = followed.ok, followed.error
            status = _final_status(followed.result, followed.error)
            failed += not ok
        results.append({"id": job_id, "ok": ok, "status": status, "error": error_document(error)})
        detail = one_line(str(error)) if error else status and status.message
        rows.append(
            [
                job_id,
                status.state if status is not None else "unknown",
                status.resource_id if status is not None else None,
                detail,
            ]
        )
    return Outcome(
        {"ok": not failed, "results": results},
        table(["JOB", "STATE", "RESOURCE", "DETAIL"], rows),
        failure=f"{failed} of {len(attached)} jobs did not succeed" if failed else None,
    )


async def jobs_status(ctx: Context, args: argparse.Namespace) -> Outcome:
    """``gpcn jobs status JOB_ID...``: the jobs' status now, without waiting."""
    ids = _unique(args.job_ids)
    found = {status.id: status for status in await ctx.gpcn.jobs.poll(ids)}
    missing = [job_id for job_id in ids if job_id not in found]
    rows = [
        [job_id, describe_status(found[job_id]), found[job_id].resource_id]
        if job_id in found
        else [job_id, "not found", None]
        for job_id in ids
    ]
    return Outcome(
        {
            "ok": not missing,
            "results": [
                {"id": job_id, "found": job_id in found, "status": found.get(job_id)}
                for job_id in ids
            ],
        },
        table(["JOB", "STATE", "RESOURCE"], rows),
        failure=f"{len(missing)} of {len(ids)} jobs were not found" if missing else None,
    )
