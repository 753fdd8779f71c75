"""Job polling: one coalescing poller per client against polling each job on its own.

For N concurrent jobs on FakeGPCN (127.0.0.1) it counts the poll requests (``POST
/resource/jobs``) our client spends while waiting for all of them, and the requests a naive
per-job poller with the same PollPolicy spends on the same jobs (each job sleeps, polls its own
id with ``gpcn.jobs.poll([id])``, repeats), and how long after its completion on the server
(``fake.jobs[id].started + duration``) each waiter woke.

Three scenarios per N, each on a fresh fake:

- requests: every job takes the same time, so all N are pending in every round; the ideal ratio
  is N / ceil(N / 50).
- wake-up: durations spread evenly over two poll intervals, so completions fall at every phase
  of the poll schedule; the latency is then up to one poll interval plus the round's own time.
- slow polls: the wake-up scenario with one poll request in ten (at random, seeded) held 2 s by
  the server. Only the jobs such a request carries may wake late; for every other job the
  wake-up should stay within one ``max_interval`` (no head-of-line blocking).

Run: ``python benchmarks/bench_polling.py [--sizes 10 100 500 2000]``.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from _common import Column, Deadline, Row, parser, print_table, write_json

from gpcn_async import Client, JobStatus, PollPolicy
from gpcn_async._poller import next_poll_delay
from gpcn_async.testing import FakeGPCN

JOB_SECONDS = 1.0
POLICY = PollPolicy(interval=0.1, max_interval=0.4, multiplier=2.0, timeout=60.0)
SPREAD = 2 * POLICY.max_interval
"""In the wake-up scenario, job durations spread evenly over [JOB_SECONDS, JOB_SECONDS + SPREAD]."""

REQUEST_COLUMNS: list[Column] = [
    ("jobs", "jobs", "d"),
    ("ours", "ours", "d"),
    ("per_job", "per-job", "d"),
    ("ratio", "ratio", ".1f"),
    ("ideal", "ideal", ".1f"),
    ("ours_polls", "ours polls/job", ".1f"),
    ("per_job_polls", "per-job polls/job", ".1f"),
    ("ours_wall_s", "ours wall s", ".2f"),
    ("per_job_wall_s", "per-job wall s", ".2f"),
]
WAKE_COLUMNS: list[Column] = [
    ("jobs", "jobs", "d"),
    ("ours", "ours requests", "d"),
    ("per_job", "per-job requests", "d"),
    ("ours_p50_s", "ours wake p50 s", ".3f"),
    ("ours_p95_s", "p95 s", ".3f"),
    ("ours_max_s", "max s", ".3f"),
    ("per_job_p50_s", "per-job wake p50 s", ".3f"),
    ("per_job_max_s", "max s", ".3f"),
]

SLOW_DELAY = 2.0
SLOW_RATE = 0.1
SLOW_COLUMNS: list[Column] = [
    ("jobs", "jobs", "d"),
    ("requests", "poll requests", "d"),
    ("slow", "held 2 s", "d"),
    ("others", "jobs never held", "d"),
    ("others_p50_s", "their wake p50 s", ".3f"),
    ("others_p95_s", "p95 s", ".3f"),
    ("others_max_s", "max s", ".3f"),
    ("held_max_s", "held jobs' max s", ".3f"),
]

Waiter = Callable[[Client, str], Awaitable[Any]]


async def wait_ours(gpcn: Client, job_id: str) -> JobStatus:
    """Wait through the client's one poller (``gpcn.jobs.attach(id)``)."""
    status: JobStatus = await gpcn.jobs.attach(job_id)
    return status


async def wait_alone(gpcn: Client, job_id: str) -> JobStatus:
    """What SDKs without a shared poller do: sleep, poll this one job, repeat until it ends.

    Same PollPolicy as ours: first poll after ``interval``, gaps growing by ``multiplier`` up to
    ``max_interval``, moved by the server's estimate within those bounds.
    """
    delay = POLICY.interval
    for _ in range(10_000):  # bounded: the job ends within seconds
        await asyncio.sleep(delay)
        (status,) = await gpcn.jobs.poll([job_id])
        if status.done:
            return status
        scheduled = min(delay * POLICY.multiplier, POLICY.max_interval)
        delay = next_poll_delay(
            scheduled, status.estimated_completion, now=time.time(), policy=POLICY
        )
    raise RuntimeError(f"job {job_id} did not end")


def percentile(values: Sequence[float], share: float) -> float:
    """The value below which ``share`` of the sorted ``values`` lie (nearest rank)."""
    return values[min(len(values) - 1, math.ceil(share * len(values)) - 1)]


async def wait_all(
    durations: Sequence[float], waiter: Waiter, *, slow: bool = False
) -> dict[str, Any]:
    """Start one job per duration on a fresh fake, wait for all; requests and wake latencies.

    With ``slow``, one poll request in ten is held ``SLOW_DELAY`` seconds by the server, and
    the latencies are split between the jobs such a request carried and the others.
    """
    async with FakeGPCN() as fake, fake.client(poll=POLICY) as gpcn:
        if slow:
            fake.inject_random(
                SLOW_RATE,
                faults=[{"delay": SLOW_DELAY}],
                method="POST",
                path="/resource/jobs",
                seed=14,
            )
        ids = [fake.add_job(duration=duration) for duration in durations]
        woke: dict[str, float] = {}

        async def wait(job_id: str) -> None:
            await waiter(gpcn, job_id)
            woke[job_id] = time.monotonic()

        started = time.monotonic()
        async with asyncio.timeout(POLICY.timeout):
            await asyncio.gather(*(wait(job_id) for job_id in ids))
        wall = time.monotonic() - started
        jobs = fake.jobs  # one read: each read brings every job up to date
        latency = {
            job_id: woke[job_id] - (jobs[job_id].started + duration)
            for job_id, duration in zip(ids, durations, strict=True)
        }
        polls = fake.requests_to("POST", "/resource/jobs")
        held = [
            request
            for request in polls
            if request.answered_at is None or request.answered_at - request.time >= SLOW_DELAY
        ]
        held_ids = {job_id for request in held for job_id in request.json["jobIds"]}
        latencies = sorted(latency.values())
        others = sorted(value for job_id, value in latency.items() if job_id not in held_ids)
        return {
            "requests": len(polls),
            "polls_per_job": statistics.mean(jobs[job_id].poll_count for job_id in ids),
            "wall_s": wall,
            "p50_s": statistics.median(latencies),
            "p95_s": percentile(latencies, 0.95),
            "max_s": latencies[-1],
            "slow": len(held),
            "others": len(others),
            "others_p50_s": statistics.median(others) if others else math.nan,
            "others_p95_s": percentile(others, 0.95) if others else math.nan,
            "others_max_s": others[-1] if others else math.nan,
            "held_max_s": max((latency[job_id] for job_id in held_ids), default=math.nan),
        }


async def run(sizes: Sequence[int], deadline: Deadline) -> tuple[list[Row], list[Row], list[Row]]:
    """The three scenarios for each size; one row per size in each table."""
    request_rows: list[Row] = []
    wake_rows: list[Row] = []
    slow_rows: list[Row] = []
    for n in sizes:
        if deadline.expired:
            print(f"(time budget of {deadline.seconds:.0f} s spent: sizes from {n} on skipped)")
            break
        same = [JOB_SECONDS] * n
        ours, alone = await wait_all(same, wait_ours), await wait_all(same, wait_alone)
        request_rows.append(
            {
                "jobs": n,
                "ours": ours["requests"],
                "per_job": alone["requests"],
                "ratio": alone["requests"] / ours["requests"],
                "ideal": n / math.ceil(n / 50),
                "ours_polls": ours["polls_per_job"],
                "per_job_polls": alone["polls_per_job"],
                "ours_wall_s": ours["wall_s"],
                "per_job_wall_s": alone["wall_s"],
            }
        )
        spread = [JOB_SECONDS + SPREAD * index / n for index in range(n)]
        ours, alone = await wait_all(spread, wait_ours), await wait_all(spread, wait_alone)
        wake_rows.append(
            {
                "jobs": n,
                "ours": ours["requests"],
                "per_job": alone["requests"],
                "ours_p50_s": ours["p50_s"],
                "ours_p95_s": ours["p95_s"],
                "ours_max_s": ours["max_s"],
                "per_job_p50_s": alone["p50_s"],
                "per_job_max_s": alone["max_s"],
            }
        )
        held = await wait_all(spread, wait_ours, slow=True)
        slow_rows.append({"jobs": n, **{key: held[key] for key, _, _ in SLOW_COLUMNS[1:]}})
    return request_rows, wake_rows, slow_rows


def main() -> None:
    """Parse arguments, run, print both tables, and write JSON if asked."""
    options = parser(__doc__)
    options.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 500, 2000])
    options.add_argument("--max-seconds", type=float, default=90.0, help="overall time budget")
    args = options.parse_args()
    request_rows, wake_rows, slow_rows = asyncio.run(run(args.sizes, Deadline(args.max_seconds)))
    policy = (
        f"PollPolicy(interval={POLICY.interval}, max_interval={POLICY.max_interval}, "
        f"multiplier={POLICY.multiplier})"
    )
    print_table(
        f"Poll requests while N jobs of {JOB_SECONDS:g} s each run ({policy})",
        REQUEST_COLUMNS,
        request_rows,
        note=(
            "ours: the client's one poller (ceil(pending/50) requests a round); per-job: each "
            "job polled alone with the same policy through the same client. Both follow the "
            "server's estimatedCompletion: about 4 polls per job when they keep to the "
            "schedule. The ratio falls below the ideal as N grows because the per-job poller "
            "cannot keep to it: N requests at a time queue for the client's 32 connections "
            "and for the fake (whose work per request grows with N), so each job's polls come "
            "later and fewer are made before it ends (polls/job, wall time). Per-job polling "
            "also costs the per-job poller its latency (next table)."
        ),
    )
    print_table(
        f"Wake-up latency: job completion on the server to the waiter waking "
        f"(durations spread over {JOB_SECONDS:g}-{JOB_SECONDS + SPREAD:g} s)",
        WAKE_COLUMNS,
        wake_rows,
        note=(
            f"Goal: at most one poll interval (max_interval = {POLICY.max_interval} s). A job's "
            "next poll is timed from when its previous poll was sent, and each chunk's answer "
            "wakes its waiters as soon as it arrives."
        ),
    )
    print_table(
        f"Slow polls: one poll request in {1 / SLOW_RATE:g} held {SLOW_DELAY:g} s by the server "
        "(wake-up scenario, ours)",
        SLOW_COLUMNS,
        slow_rows,
        note=(
            f"Goal: the jobs no held request carried wake within one max_interval "
            f"({POLICY.max_interval} s), as without slow polls: each poll request is its own "
            "task, and a job is in one request at a time, so a held request delays only its "
            "own jobs."
        ),
    )
    write_json(
        args.json,
        "polling",
        request_rows,
        wake_rows=wake_rows,
        slow_rows=slow_rows,
        policy=policy,
        job_seconds=JOB_SECONDS,
        spread_seconds=SPREAD,
    )


if __name__ == "__main__":
    main()
