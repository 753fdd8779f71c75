"""A fleet script for the kill tests: ensure or tear down a fleet, and SIGKILL itself on cue.

Run as a process of its own against a fake GPCN server::

    python tests/fleet_worker.py URL KEY JOURNAL NAME ensure 6 --ssh-key-id ID --kill after-send:2
    python tests/fleet_worker.py URL KEY JOURNAL NAME teardown --kill delete-sent:1

``--kill MOMENT:N`` sends SIGKILL to this very process the N-th time MOMENT comes (a SIGKILL
leaves no chance to clean up, as a dead laptop or an evicted pod). The moments:

- ``before-send``: an order's intent is committed and its create not sent yet;
- ``after-send``: a create reached the server and its answer came back, not yet read or
  recorded (aiohttp's trace of the end of the request);
- ``wait``: a poll of jobs is about to be sent (waiting for creates, or for deletes);
- ``delete-intent``: teardown recorded a delete, not sent yet;
- ``delete-sent``: a bulk delete's answer came back, not yet read or recorded.

``--started`` prints ``started`` on stdout once the client is open (for kills on a timer);
``--go`` then waits for a line on stdin, so that several workers can start at the same moment.
Without a kill the script runs to the end: exit status 0, or 1 with the error on stderr.

JOURNAL may be a ``postgresql://`` URL, shared by several workers at once (``--claim-ttl``
sets the journal's). ``--report`` prints, at the end, one line of JSON: the members this
process ordered and deleted itself, how many job polls it sent, and the VMs ``ensure()``
returned (``[name, id]``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections import Counter
from types import SimpleNamespace

import aiohttp

from gpcn_async import Client, PollPolicy, RetryPolicy
from gpcn_async.fleet import Fleet, Journal, PostgresJournal

MOMENTS = ("before-send", "after-send", "wait", "delete-intent", "delete-sent")


class Cue:
    """Counts the moments as they come; kills the process at the chosen one."""

    def __init__(self, kill: str | None) -> None:
        moment, _, count = (kill or ":0").partition(":")
        if kill is not None and moment not in MOMENTS:
            raise SystemExit(f"unknown moment {moment!r}")
        self.moment, self.count = moment, int(count)
        self.seen: Counter[str] = Counter()
        self.did: dict[str, list[str]] = {"ordering": [], "deleting": []}
        self.polls = 0  # job polls this process sent

    def came(self, moment: str) -> None:
        """Note that ``moment`` came; SIGKILL this process if it is the chosen one."""
        self.seen[moment] += 1
        if moment == self.moment and self.seen[moment] == self.count:
            os.kill(os.getpid(), signal.SIGKILL)

    def progress(self, member: str, event: str) -> None:
        """The fleet's progress: an intent is recorded right before ``ordering``/``deleting``."""
        if event in self.did:
            self.did[event].append(member)
        if event == "ordering":
            self.came("before-send")
        elif event == "deleting":
            self.came("delete-intent")

    def trace(self) -> aiohttp.TraceConfig:
        """Hooks into the client's own requests (aiohttp's public tracing)."""
        config = aiohttp.TraceConfig()

        async def started(
            _session: aiohttp.ClientSession,
            _context: SimpleNamespace,
            params: aiohttp.TraceRequestStartParams,
        ) -> None:
            if params.method == "POST" and params.url.path.endswith("/resource/jobs"):
                self.polls += 1
                self.came("wait")

        async def ended(
            _session: aiohttp.ClientSession,
            _context: SimpleNamespace,
            params: aiohttp.TraceRequestEndParams,
        ) -> None:
            path = params.url.path
            if params.method == "POST" and path.endswith("/resource/gpu"):
                self.came("after-send")
            elif params.method == "POST" and path.endswith("/resource/gpu/bulk/delete"):
                self.came("delete-sent")

        config.on_request_start.append(started)
        config.on_request_end.append(ended)
        return config


async def run(args: argparse.Namespace) -> None:
    """Ensure or tear down the fleet, with the cue's hooks in place."""
    cue = Cue(args.kill)
    async with (
        aiohttp.ClientSession(trace_configs=[cue.trace()]) as session,
        Client(
            args.key,
            base_url=args.url,
            session=session,
            retry=RetryPolicy(base_delay=0.001, max_delay=0.01),
            poll=PollPolicy(interval=0.01, max_interval=0.05, timeout=20.0),
        ) as gpcn,
    ):
        if args.started:
            print("started", flush=True)
        if args.go:
            await asyncio.to_thread(sys.stdin.readline)
        journal: str | Journal = args.journal
        if args.claim_ttl is not None:
            journal = PostgresJournal(args.journal, fleet=args.name, claim_ttl=args.claim_ttl)
        fleet = Fleet(
            gpcn, args.name, journal=journal, concurrency=args.concurrency, progress=cue.progress
        )
        vms = []
        if args.command == "ensure":
            vms = await fleet.ensure(
                args.count, code="nvidia-a100", gpu_count=1, ssh_key_id=args.ssh_key_id
            )
        else:
            await fleet.teardown()
        if args.report:
            report = {**cue.did, "polls": cue.polls, "vms": [[vm.name, vm.id] for vm in vms]}
            print(json.dumps(report), flush=True)


def main() -> int:
    """Parse the arguments and run; 0 done, 1 failed (the error on stderr)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("key")
    parser.add_argument("journal")
    parser.add_argument("name")
    parser.add_argument("command", choices=("ensure", "teardown"))
    parser.add_argument("count", type=int, nargs="?", default=0)
    parser.add_argument("--ssh-key-id")
    parser.add_argument("--kill", metavar="MOMENT:N")
    parser.add_argument("--started", action="store_true")
    parser.add_argument("--go", action="store_true")
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--claim-ttl", type=float)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    try:
        asyncio.run(run(args))
    except Exception as error:  # noqa: BLE001 -- reported to the test, which fails on it
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
