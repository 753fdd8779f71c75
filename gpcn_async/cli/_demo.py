"""``gpcn demo``: a whole fleet workflow against the built-in fake GPCN API, in one process.

No account and no network: ``FakeGPCN`` serves the API on 127.0.0.1, with the real API's lowest
rate limit (100 requests a minute) enforced, and the demo drives it with its own ``Client``
exactly as a script would drive the real API.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TextIO

from gpcn_async import Client, GpuVm, Job, PollPolicy, RetryPolicy
from gpcn_async.cli._commands import Context, Outcome
from gpcn_async.cli._files import write_private_file
from gpcn_async.cli._progress import follow
from gpcn_async.cli._render import inventory_text, one_line, vm_table
from gpcn_async.testing import FakeGPCN

__all__ = ["FLEET", "demo"]

FLEET = 8
"""How many GPU VMs the demo orders."""
SERIES = "nvidia-h100"
"""The series the demo orders, one GPU per VM."""
PREFIX = "demo-"
"""The demo VMs' names start with this."""
JOB_SECONDS = 1.0
"""How long each of the fake's jobs takes."""
RATE_LIMIT = (100, 60.0)
"""The fake's rate limit: the real API's lowest (100 requests per 60 s)."""
# The fake's jobs take a second: poll faster than the real API needs (the default starts at 1 s).
POLL = PollPolicy(interval=0.2, max_interval=0.5, timeout=60.0)
RETRY = RetryPolicy(base_delay=0.05, max_delay=1.0, max_rate_limit_wait=60.0)


class _Narrator:
    """Prints the demo's story as it happens."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.step = 0

    def say(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def indented(self, text: str) -> None:
        for line in text.splitlines():
            self.say(f"  {line}")

    def heading(self, text: str) -> None:
        self.step += 1
        self.say(f"\n{self.step}. {text}")


def _rotated(items: list[str], start: int) -> list[str]:
    start %= len(items)
    return items[start:] + items[:start]


async def _provision(
    gpcn: Client, fake: FakeGPCN, story: _Narrator, datacenters: dict[str, str]
) -> list[tuple[str, Job[GpuVm]]]:
    """Order the fleet, each VM preferring the next datacenter; the last one meets a 409."""
    ids = list(datacenters)
    jobs = []
    for number in range(FLEET):
        name = f"{PREFIX}{number + 1:02}"
        preference = _rotated(ids, number)
        if number == FLEET - 1:
            fake.race_next_create()  # someone else claims this VM's first choice meanwhile
        conflicts = fake.count("POST", "/resource/gpu", status=409)
        job = await gpcn.gpu.provision(name=name, code=SERIES, gpu_count=1, datacenters=preference)
        first = datacenters[preference[0]]
        if fake.count("POST", "/resource/gpu", status=409) > conflicts:
            story.say(
                f"  {name}: {first} was claimed by someone else meanwhile (409): provision() "
                f"read the inventory again and ordered in the next datacenter, job {job.id}"
            )
        else:
            story.say(f"  {name}: ordered in {first}, job {job.id}")
        jobs.append((name, job))
    return jobs


async def demo(ctx: Context, args: argparse.Namespace) -> Outcome:
    """``gpcn demo``: inventory, provision, wait, list, bulk stop/start, SSH key, bulk delete.

    The story goes to ``ctx.progress``; the summary is the command's result.
    """
    started = time.monotonic()
    story = _Narrator(ctx.progress)
    limit, window = RATE_LIMIT
    async with FakeGPCN(
        dialect="reference", job_duration=JOB_SECONDS, rate_limit=limit, rate_window=window
    ) as fake:
        for datacenter in fake.datacenters:
            fake.set_availability(SERIES, datacenter.id, 1)
        story.say(f"gpcn demo: a fleet workflow against a FAKE GPCN API at {fake.url}")
        story.say(
            "(served in this process on 127.0.0.1: no account needed, nothing leaves this "
            f"machine; it enforces {limit} requests per {window:g} s, the real API's lowest limit)"
        )
        async with Client(fake.api_key, base_url=fake.url, poll=POLL, retry=RETRY) as gpcn:
            outcome = await _workflow(gpcn, fake, story, ctx)
        polls = fake.count("POST", "/resource/jobs")
        per_job = sum(job.poll_count for job in fake.jobs.values())
        summary = {
            "fake": True,
            "vms": FLEET,
            "requests": len(fake.requests),
            "poll_requests": polls,
            "per_job_poll_requests": per_job,
            "rate_limited": fake.rate_limited_count,
            "vms_left": outcome["vms_left"],
            "failed": outcome["failed"],
            "wall_time": round(time.monotonic() - started, 2),
        }
    left = f"requests left in the fake's window of {limit}: {outcome['remaining']}"
    text = "\n".join(
        [
            "summary (against the fake):",
            f"  requests sent:  {summary['requests']}",
            f"  poll requests:  {polls} (polling each job on its own: {per_job})",
            f"  429s met:       {summary['rate_limited']} ({left})",
            f"  wall time:      {summary['wall_time']:.1f} s",
        ]
    )
    failed = outcome["failed"]
    failure = f"{failed} step(s) of the demo failed" if failed else None
    return Outcome(summary, text, failure=failure)


async def _workflow(gpcn: Client, fake: FakeGPCN, story: _Narrator, ctx: Context) -> dict[str, int]:
    failed = 0

    story.heading(f"inventory: where {SERIES} can be ordered now  (gpcn inventory --code {SERIES})")
    inventory = await gpcn.gpu.inventory(SERIES)
    story.indented(inventory_text(inventory))
    datacenters = {
        offer.datacenter_id: offer.datacenter.name
        for offer in inventory.offers(code=SERIES, gpu_count=1)
    }

    story.heading(
        f"provisioning {FLEET} {SERIES} VMs across {len(datacenters)} datacenters with "
        "gpcn.gpu.provision()"
    )
    jobs = await _provision(gpcn, fake, story, datacenters)

    story.heading(f"waiting for {FLEET} jobs: one poller asks about all of them in each request")
    created = await follow(jobs, ctx.progress, quiet=ctx.quiet)
    vms = [item.result for item in created if item.result is not None]
    failed += len(created) - len(vms)
    spread = Counter(vm.datacenter_name or vm.datacenter_id for vm in vms)
    places = ", ".join(f"{count} in {place}" for place, count in spread.items())
    story.say(f"  {len(vms)} of {FLEET} VMs running: {places}")

    story.heading(f"the fleet  (gpcn list --search {PREFIX})")
    fleet = sorted([vm async for vm in gpcn.gpu.list(search=PREFIX)], key=lambda vm: vm.name)
    story.indented(vm_table(fleet))
    ids = [vm.id for vm in fleet]
    if not ids:  # every order failed: nothing left to show
        return {"vms_left": 0, "failed": failed or FLEET, "remaining": -1}

    story.heading(f"bulk stop, then bulk start: one request each for {len(ids)} VMs")
    for verb, action in (("stopped", gpcn.gpu.bulk_stop), ("started", gpcn.gpu.bulk_start)):
        result = await action(ids)
        failed += len(result.failed)
        statuses = Counter([vm.status async for vm in gpcn.gpu.list(search=PREFIX)])
        now = ", ".join(f"{count} {status}" for status, count in statuses.items())
        story.say(f"  {verb} {len(result.succeeded)} of {len(ids)} (now: {now})")

    story.heading("one VM's SSH key, to a private file  (gpcn ssh-key ID --output FILE)")
    first = fleet[0]
    key = await gpcn.gpu.ssh_key(first.id)
    with tempfile.TemporaryDirectory(prefix="gpcn-demo-") as directory:
        path = Path(directory) / f"{first.name}.pem"
        write_private_file(path, key.private_key)
        mode = path.stat().st_mode & 0o777
        story.say(f"  {first.name}: {path} ({path.stat().st_size} bytes, mode {mode:04o})")
        story.say("  (the key itself is never printed; this temporary file is removed at once)")

    story.heading(f"bulk delete of {len(ids)} VMs, waiting for every deletion")
    group = await gpcn.gpu.bulk_delete(ids)
    names = {vm.id: vm.name for vm in fleet}
    deleted = await follow(
        [(names[vm_id], job) for vm_id, job in group.jobs.items()], ctx.progress, quiet=ctx.quiet
    )
    failed += len(group.failed) + sum(1 for item in deleted if not item.ok)
    for vm_id, error in group.failed.items():
        story.say(f"  {names[vm_id]}: {one_line(str(error))}")
    left = [vm async for vm in gpcn.gpu.list(search=PREFIX)]
    story.say(f"  VMs left: {len(left)}")

    snapshot = gpcn.rate_limit
    remaining = -1 if snapshot is None else snapshot.remaining
    story.say()
    return {"vms_left": len(left), "failed": failed, "remaining": remaining}
