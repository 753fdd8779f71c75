"""The commands on jobs started elsewhere: ``jobs wait`` and ``jobs status``."""

from __future__ import annotations

import argparse

from gpcn_async import GPCNError, Job, JobError, JobStatus
from gpcn_async.cli._commands import Context, Going, Outcome, mark_interrupted, unique
from gpcn_async.cli._progress import Followed, follow
from gpcn_async.cli._render import describe_status, error_document, one_line, table

__all__ = ["jobs_status", "jobs_wait"]


def _final_status(result: JobStatus | None, error: GPCNError | None) -> JobStatus | None:
    if result is not None:
        return result
    if isinstance(error, JobError):
        return error.status
    return None


async def jobs_wait(ctx: Context, args: argparse.Namespace) -> Outcome:
    """``gpcn jobs wait JOB_ID...``: wait for jobs started elsewhere, all polled together."""
    ids = unique(args.job_ids)
    attached = [(job_id, ctx.gpcn.jobs.attach(job_id)) for job_id in ids]
    finished: list[Followed[JobStatus]] = []

    def report() -> Outcome:
        ended = {followed.label for followed in finished}
        going = [
            Going(
                job,
                job.status.resource_name if job.status is not None else None,
                job.status.resource_id if job.status is not None else None,
            )
            for job_id, job in attached
            if job_id not in ended
        ]
        return mark_interrupted(_waited(attached, finished), going)

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
    ids = unique(args.job_ids)
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
