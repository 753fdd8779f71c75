"""``delete``, ``start``, ``stop``, ``reset``: actions on many ids, one result row per id.

Several ids make one bulk call; one id, one plain call.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from gpcn_async import BulkResult, GPCNError, Job
from gpcn_async.cli._commands import (
    CommandError,
    Context,
    Going,
    Outcome,
    attempt,
    mark_interrupted,
    unique,
)
from gpcn_async.cli._progress import Followed, follow
from gpcn_async.cli._render import error_document, one_line, table

__all__ = ["PAST_TENSE", "delete", "power"]

PAST_TENSE = {"start": "started", "stop": "stopped", "reset": "reset", "delete": "deleted"}


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
        going = [Going(job, vm_id=item_id) for item_id, job in pending if item_id not in errors]
        return mark_interrupted(_action_outcome(action, rows), going)

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
    ids = unique(args.ids)
    if not (args.yes or args.json) and sys.stdin is not None and sys.stdin.isatty():
        what = f"the GPU VM {ids[0]}" if len(ids) == 1 else f"{len(ids)} GPU VMs: {' '.join(ids)}"
        if not _confirmed(f"delete {what}?", ctx):
            raise CommandError("not confirmed: nothing was deleted")
    gpu = ctx.gpcn.gpu
    jobs: dict[str, Job[None]] = {}
    failed: dict[str, GPCNError] = {}
    if len(ids) == 1:
        answer = await attempt(gpu.delete(ids[0]))
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
    ids = unique(args.ids)
    gpu = ctx.gpcn.gpu
    if len(ids) > 1:
        bulk = {"start": gpu.bulk_start, "stop": gpu.bulk_stop, "reset": gpu.bulk_reset}[action]
        return _action_outcome(action, _bulk_rows(action, await bulk(ids)))
    single = {"start": gpu.start, "stop": gpu.stop, "reset": gpu.reset}[action]
    answer = await attempt(single(ids[0]))
    if isinstance(answer, GPCNError):
        rows = [_Row(ids[0], "failed", error=answer)]
    else:
        rows = await _finish_jobs(action, ids, {ids[0]: answer}, {}, ctx, wait=args.wait)
    return _action_outcome(action, rows)
