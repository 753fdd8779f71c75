"""The gpcn command line against FakeGPCN: in-process through ``main()``, and as a real process.

Most tests run ``main(argv)`` in a worker thread (it runs its own event loop) while the fake
serves in the test's loop; pytest captures stdout and stderr. What only a process shows runs
one: the ``gpcn`` entry point and ``python -m gpcn_async``, Ctrl-C (SIGINT), and exit status 141
when the reader of the output goes away (a broken pipe).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import signal
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from gpcn_async import JobFailedError, JobState, JobStatus
from gpcn_async.cli import main
from gpcn_async.cli._parser import build_parser
from gpcn_async.cli._progress import FLEET_THRESHOLD, PlainReporter, make_reporter
from gpcn_async.testing import FakeGPCN

MISSING = "00000000-0000-4000-8000-00000000dead"
FAST = ("--poll-interval", "0.01")
ORDER_AND_WAIT = (
    "create",
    "--name",
    "train-01",
    "--code",
    "nvidia-h100",
    "--gpu-count",
    "1",
    "--wait",
)


@dataclass(frozen=True)
class Run:
    """The outcome of one gpcn process."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """Stdout parsed as the one JSON document it must be."""
        return json.loads(self.out)

    @property
    def err_lines(self) -> list[str]:
        """The non-empty lines on stderr."""
        return [line for line in self.err.splitlines() if line.strip()]


def environment(fake: FakeGPCN | None, **extra: str) -> dict[str, str]:
    """The process environment: no GPCN_* from outside; the fake's key and URL when given."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("GPCN_")}
    if fake is not None:
        env.update(GPCN_API_KEY=fake.api_key, GPCN_BASE_URL=fake.url)
    env.update(extra)
    return env


async def gpcn_process(
    fake: FakeGPCN | None, *args: str, env: dict[str, str] | None = None, program: str = ""
) -> Run:
    """Run ``python -m gpcn_async ARGS`` (or ``program ARGS``) with fast polls, as a process."""
    command = [program] if program else [sys.executable, "-m", "gpcn_async"]
    process = await asyncio.create_subprocess_exec(
        *command,
        *FAST,
        *args,
        env=environment(fake) if env is None else env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


class InProcess:
    """Runs ``gpcn ARGS`` in-process, one at a time (pytest captures one stdout for all)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys

    async def __call__(self, fake: FakeGPCN | None, *args: str, key: bool = True) -> Run:
        """Run with fast polls, the fake's URL and (unless ``key`` is false) its API key."""
        given = []
        if fake is not None:
            given = ["--base-url", fake.url, *(["--api-key", fake.api_key] if key else [])]
        code = await asyncio.to_thread(main, [*FAST, *given, *args])
        out, err = self._capsys.readouterr()
        return Run(code, out, err)


@pytest.fixture
def gpcn(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> InProcess:
    """The command line, run in-process against a fake (no GPCN_* variables from outside)."""
    for name in ("GPCN_API_KEY", "GPCN_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return InProcess(capsys)


def assert_one_error_line(run: Run, code: int, pattern: str) -> None:
    """The run failed with ``code`` and exactly one ``gpcn: error:`` line matching ``pattern``."""
    assert run.code == code, run
    assert "Traceback" not in run.err
    assert len(run.err_lines) == 1, run.err
    assert re.match(r"gpcn( \S+)?: error: ", run.err_lines[0]), run.err
    assert re.search(pattern, run.err_lines[0]), run.err


# -- reads -----------------------------------------------------------------------------------------


async def test_inventory_lists_exactly_the_available_offers(
    fake: FakeGPCN, gpcn: InProcess
) -> None:
    """`inventory --json` lists every available offer and no other; its filters apply."""
    everything = await gpcn(fake, "--json", "inventory")
    h100 = await gpcn(fake, "inventory", "--code", "nvidia-h100", "--gpu-count", "1", "--json")
    assert everything.code == h100.code == 0
    available = {
        (series.code, datacenter.id, count)
        for series in fake.series
        for datacenter in fake.datacenters
        for count in (1, 2, 4, 8)
        if fake.is_available(series.code, datacenter.id, count)
    }
    offers = everything.json()["offers"]
    assert {(o["series_code"], o["datacenter_id"], o["gpu_count"]) for o in offers} == available
    assert len(offers) == len(available)
    assert h100.json()["offers"]
    assert {(o["series_code"], o["gpu_count"]) for o in h100.json()["offers"]} == {
        ("nvidia-h100", 1)
    }


async def test_list_and_get_print_the_vms_as_json(fake: FakeGPCN, gpcn: InProcess) -> None:
    """`list --search --json` and `get --json` return the fake's VMs with their fields."""
    first = fake.add_vm(name="train-a")
    fake.add_vm(name="train-b")
    fake.add_vm(name="infer-1")
    listed = await gpcn(fake, "--json", "list", "--search", "train-")
    got = await gpcn(fake, "get", first, "--json")
    assert listed.code == got.code == 0
    assert sorted(vm["name"] for vm in listed.json()) == ["train-a", "train-b"]
    vm = got.json()
    assert (vm["id"], vm["name"], vm["status"]) == (first, "train-a", "Running")
    assert vm["created_at"].endswith("+00:00")


async def test_reads_print_aligned_tables_by_default(gpcn: InProcess) -> None:
    """Without --json, inventory, list and get print tables and `name value` lines."""
    async with FakeGPCN() as fake:
        first = fake.add_vm(name="train-a")
        fake.add_vm(name="infer-1")
        inventory = await gpcn(fake, "inventory")
        table = await gpcn(fake, "list")
        details = await gpcn(fake, "get", first)
        offers = sum(
            fake.is_available(series.code, datacenter.id, count)
            for series in fake.series
            for datacenter in fake.datacenters
            for count in (1, 2, 4, 8)
        )
    assert {inventory.code, table.code, details.code} == {0}
    header, *rows = inventory.out.splitlines()
    assert header.split()[:2] == ["SERIES", "NAME"]
    assert len(rows) == offers
    assert table.out.split()[:3] == ["ID", "NAME", "STATUS"]
    assert {"train-a", "infer-1"} <= set(table.out.split())
    assert re.search(rf"^id\s+{first}$", details.out, re.M)


# -- create, jobs ----------------------------------------------------------------------------------


async def test_create_by_code_waits_for_the_running_vm_through_a_409(
    dialect: str, gpcn: InProcess
) -> None:
    """`create --code --wait --json` survives a 409 race and prints the one ready VM."""
    async with FakeGPCN(dialect=dialect) as fake:
        for datacenter in fake.datacenters:
            fake.set_availability("nvidia-h100", datacenter.id, 1)
        fake.race_next_create()
        run = await gpcn(
            fake, "--json", "create", "--name", "train-01", "--code", "nvidia-h100",
            "--gpu-count", "1", "--wait",
        )  # fmt: skip
        assert run.code == 0, run.err
        document = run.json()
        assert document["vm"]["name"] == "train-01"
        assert document["vm"]["status"] == "Running"
        assert document["status"]["state"] == "succeeded"
        assert fake.count("POST", "/resource/gpu") == 2
        assert fake.created_vm_count == 1
        assert list(fake.vms) == [document["vm"]["id"]]


async def test_create_by_ids_then_jobs_wait_and_status(fake: FakeGPCN, gpcn: InProcess) -> None:
    """`create --series-id --datacenter` returns a job that `jobs wait` and `jobs status` follow."""
    async with fake.client() as client:
        offer = next((await client.gpu.inventory()).offers(gpu_count=1))
    ordered = await gpcn(
        fake, "--json", "create", "--name", "solo", "--series-id", str(offer.series_id),
        "--datacenter", offer.datacenter_id, "--gpu-count", "1",
    )  # fmt: skip
    assert ordered.code == 0, ordered.err
    job_id = ordered.json()["job_id"]
    assert ordered.json()["vm"] is None
    waited = await gpcn(fake, "--json", "jobs", "wait", job_id)
    assert waited.code == 0, waited.err
    (result,) = waited.json()["results"]
    assert result["ok"] is True
    assert result["status"]["state"] == "succeeded"
    assert result["status"]["resource_id"] == next(iter(fake.vms))
    status = await gpcn(fake, "--json", "jobs", "status", job_id, MISSING)
    assert status.code == 1
    assert [item["found"] for item in status.json()["results"]] == [True, False]


async def test_jobs_wait_reports_each_job_and_fails_when_one_fails(
    fake: FakeGPCN, gpcn: InProcess
) -> None:
    """`jobs wait` gives one result per job; an unknown job makes the exit status 1."""
    vm_id = fake.add_vm(name="doomed")
    async with fake.client() as client:
        job = await client.gpu.delete(vm_id)
    assert job.id is not None
    run = await gpcn(fake, "jobs", "wait", job.id, MISSING, "--json")
    assert run.code == 1
    good, bad = run.json()["results"]
    assert (good["id"], good["ok"], good["status"]["state"]) == (job.id, True, "succeeded")
    assert (bad["id"], bad["ok"], bad["error"]["type"]) == (MISSING, False, "JobNotFoundError")
    assert run.err_lines[-1] == "gpcn: error: 1 of 2 jobs did not succeed"


# -- delete and power actions ----------------------------------------------------------------------


async def test_delete_waits_for_every_deletion(fake: FakeGPCN, gpcn: InProcess) -> None:
    """`delete A B --wait` deletes both through one bulk call; one id without --wait is accepted."""
    a, b, c = (fake.add_vm(name=f"old-{n}") for n in range(3))
    both = await gpcn(fake, "--json", "delete", a, b, "--wait")
    single = await gpcn(fake, "--json", "delete", c)
    assert both.code == single.code == 0, both.err + single.err
    assert both.json()["ok"] is True
    assert [(r["id"], r["result"]) for r in both.json()["results"]] == [
        (a, "deleted"),
        (b, "deleted"),
    ]
    assert fake.count("POST", "/resource/gpu/bulk/delete") == 1
    (accepted,) = single.json()["results"]
    assert accepted["result"] == "accepted"
    assert accepted["job_id"] in fake.jobs
    assert a not in fake.vms
    assert b not in fake.vms


async def test_bulk_stop_shows_each_id_and_exits_1_on_a_failed_id(
    fake: FakeGPCN, gpcn: InProcess
) -> None:
    """`stop A B` with B refused reports both ids, stops A, and exits 1."""
    a, b = fake.add_vm(name="train-a"), fake.add_vm(name="train-b")
    fake.fail_bulk(b, "VM is busy with another operation")
    as_json = await gpcn(fake, "--json", "stop", a, b)
    human = await gpcn(fake, "stop", b, a)
    assert as_json.code == human.code == 1
    document = as_json.json()
    assert document["ok"] is False
    first, second = document["results"]
    assert (first["id"], first["ok"], first["result"]) == (a, True, "stopped")
    assert (second["id"], second["ok"]) == (b, False)
    assert "busy" in second["error"]["message"]
    assert as_json.err_lines == ["gpcn: error: stop failed for 1 of 2 ids"]
    assert re.search(rf"^{b}\s+failed: .*busy", human.out, re.M)
    assert re.search(rf"^{a}\s+stopped", human.out, re.M)
    assert fake.vms[a].status == "Stopped"
    assert fake.count("POST", "/resource/gpu/bulk/stop") == 2


# -- SSH key ---------------------------------------------------------------------------------------


async def test_ssh_key_is_written_0600_and_never_echoed(
    gpcn: InProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ssh-key` writes the key to a new 0600 file, keeps it off the terminal, never overwrites."""
    async with FakeGPCN() as fake:
        vm_id = fake.add_vm(name="box")
        async with fake.client() as client:
            key = (await client.gpu.ssh_key(vm_id)).private_key
        secret = key.splitlines()[1]
        target = tmp_path / "box.pem"
        written = await gpcn(fake, "--json", "ssh-key", vm_id, "--output", str(target))
        monkeypatch.chdir(tmp_path)  # where the key goes without --output
        default = await gpcn(fake, "ssh-key", vm_id)
        again = await gpcn(fake, "ssh-key", vm_id, "-o", str(target))
        printed = await gpcn(fake, "ssh-key", vm_id, "--print")
    assert written.code == default.code == 0, written.err + default.err
    assert written.json() == {"vm_id": vm_id, "path": str(target), "mode": "0600"}
    for path in (target, tmp_path / f"gpcn-{vm_id}.pem"):
        assert path.read_text() == key
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for run in (written, default, again):
        assert secret not in run.out + run.err
    assert_one_error_line(again, 1, "already exists")
    assert printed.code == 0
    assert printed.out == key


# -- failures and usage errors ---------------------------------------------------------------------


async def test_api_and_job_failures_exit_1_with_one_line(fake: FakeGPCN, gpcn: InProcess) -> None:
    """A 404 and a failed job each end with exit 1 and one error line; the key is never shown."""
    fake.script_next_jobs(outcome="failed", error="provider out of capacity")
    missing = await gpcn(fake, "get", MISSING, "--api-key", fake.api_key, key=False)
    failed = await gpcn(
        fake, "create", "--name", "x", "--code", "nvidia-h100", "--gpu-count", "1", "--wait"
    )
    assert_one_error_line(missing, 1, r"^gpcn: error: HTTP 404\b")
    assert missing.out == ""
    assert fake.api_key not in missing.out + missing.err
    assert failed.code == 1
    assert "Traceback" not in failed.err
    assert re.match(r"gpcn: error: job \S+: .*provider out of capacity", failed.err_lines[-1])


async def test_usage_errors_exit_2_before_any_request(gpcn: InProcess) -> None:
    """Bad arguments, a missing key, GPU count 3, a clear-text remote URL: exit 2, nothing sent."""
    async with FakeGPCN() as fake:
        runs = await usage_errors(fake, gpcn)
    patterns = [
        "required: ID",
        "invalid choice: 'frobnicate'",
        "no API key: set GPCN_API_KEY or pass --api-key",
        "gpu_count",
        "count",
        "--series-id needs exactly one --datacenter",
        "http",
        "must be a number of seconds > 0",
    ]
    for run, pattern in zip(runs, patterns, strict=True):
        assert_one_error_line(run, 2, pattern)
        assert run.out == ""
    assert fake.count() == 0


async def test_python_m_gpcn_async_runs_the_command_line() -> None:
    """`python -m gpcn_async --help` (a real process) lists the commands and exits 0."""
    helped = await gpcn_process(None, "--help")
    assert helped.code == 0, helped.err
    assert {"inventory", "create", "ssh-key", "jobs", "demo"} <= set(helped.out.split())


async def test_ctrl_c_while_ordering_says_the_order_may_have_been_accepted() -> None:
    """SIGINT before a create's answer arrives says the VM may exist and how to check."""
    async with FakeGPCN() as fake:
        fake.inject("POST", "/resource/gpu", delay=5)  # a slow answer: the create is in flight
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gpcn_async", *FAST, "--json", "create", "--name", "train 01",
            "--code", "nvidia-h100", "--gpu-count", "1", "--wait",
            env=environment(fake), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            for _ in range(1000):  # 10 s at most, for the create to reach the fake
                if fake.count("POST", "/resource/gpu"):
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the create never reached the fake")
            process.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(process.communicate(), timeout=10)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert process.returncode is not None
    run = Run(process.returncode, out.decode(), err.decode())
    assert run.code == 130, run
    assert run.json() == {"job_id": None, "status": None, "vm": None, "interrupted": True}
    assert run.err_lines == [
        (
            "gpcn: error: interrupted while ordering train 01, which may have been accepted: "
            "check with: gpcn list --search 'train 01'"
        )
    ]


def subcommands(parser: argparse.ArgumentParser) -> list[list[str]]:
    """Every subcommand of ``parser``, nested ones included, as the words that name it."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found.append([name])
                found += [[name, *words] for words in subcommands(child)]
    return found


def test_every_subcommand_help_has_a_description(capsys: pytest.CaptureFixture[str]) -> None:
    """`gpcn COMMAND --help`, for every command and `jobs` subcommand, describes it under usage."""
    commands = subcommands(build_parser())
    assert ["jobs", "wait"] in commands
    assert ["jobs", "status"] in commands
    for words in commands:
        assert main([*words, "--help"]) == 0
        usage, description, *_ = capsys.readouterr().out.split("\n\n")
        assert usage.startswith(f"usage: gpcn {' '.join(words)} ")
        heading = description.splitlines()[0]
        assert not heading.endswith(":"), (words, description)  # "options:": no description


async def usage_errors(fake: FakeGPCN, gpcn: InProcess) -> list[Run]:
    """Run each kind of usage error, in turn."""
    return [
        await gpcn(fake, "get"),
        await gpcn(fake, "frobnicate"),
        await gpcn(fake, "list", key=False),
        await gpcn(fake, "create", "--name", "x", "--code", "nvidia-h100", "--gpu-count", "3"),
        await gpcn(fake, "inventory", "--count", "3"),
        await gpcn(fake, "create", "--name", "x", "--series-id", "1", "--count", "1"),
        await gpcn(fake, "--base-url", "http://gpcn.example.com/v1", "list"),
        await gpcn(fake, "--poll-interval", "0", "list"),
    ]


# -- progress, interruption, demo ------------------------------------------------------------------


async def test_progress_off_a_terminal_is_plain_lines(gpcn: InProcess) -> None:
    """Waiting with stderr on a pipe prints `name: running N%` lines and the outcome, no escapes."""
    async with FakeGPCN(dialect="reference", job_polls=4) as fake:
        run = await gpcn(fake, *ORDER_AND_WAIT)
    assert run.code == 0, run.err
    assert any(re.fullmatch(r"train-01: running \d+%", line) for line in run.err_lines), run.err
    assert run.err_lines[-1] == "train-01: succeeded"
    assert "\x1b" not in run.err
    assert run.out.startswith("train-01 is Running\n")


async def test_ctrl_c_exits_130_promptly_without_a_traceback() -> None:
    """SIGINT while waiting for a job ends the process at once with 130 and one line."""
    async with FakeGPCN(job_polls=10_000) as fake:
        vm_id = fake.add_vm(name="slow")
        async with fake.client() as client:
            job = await client.gpu.delete(vm_id)
        assert job.id is not None
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gpcn_async", *FAST, "jobs", "wait", job.id,
            env=environment(fake), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stderr is not None
        first = await asyncio.wait_for(process.stderr.readline(), timeout=10)
        assert first.decode().startswith(f"{job.id}: ")
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), timeout=10)
        assert time.monotonic() - interrupted < 5
    assert process.returncode == 130
    assert "Traceback" not in err.decode()
    assert err.decode().splitlines()[-1] == (
        f"gpcn: error: interrupted: job {job.id} (VM slow, id {vm_id}) goes on on the server; "
        f"wait for it with: gpcn jobs wait {job.id}"
    )


async def interrupt(fake: FakeGPCN, *args: str, waiting: str) -> Run:
    """Run gpcn, send it SIGINT once its progress shows a line starting with ``waiting``."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gpcn_async", *FAST, *args,
        env=environment(fake), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    try:
        seen = b""
        while not (line := await asyncio.wait_for(process.stderr.readline(), 10)).startswith(
            waiting.encode()
        ):
            assert line, f"gpcn ended before waiting: {seen.decode()}"
            seen += line
        process.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(process.communicate(), timeout=10)
    finally:
        if process.returncode is None:  # the test failed: leave no process behind
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), (seen + line + err).decode())


async def test_ctrl_c_names_the_accepted_jobs_and_how_to_follow_them(dialect: str) -> None:
    """SIGINT in `create --wait` or `delete --wait` names each job going on; --json prints them."""
    async with FakeGPCN(dialect=dialect, job_polls=10_000) as fake:
        old = [fake.add_vm(name=f"old-{n}") for n in range(2)]
        order = ORDER_AND_WAIT
        human, as_json, deleted = await asyncio.gather(
            interrupt(fake, *order, waiting="train-01: "),
            interrupt(fake, "--json", *order, waiting="train-01: "),
            interrupt(fake, "--json", "delete", *old, "--wait", waiting=f"{old[1]}: "),
        )
        assert all(job.state != "succeeded" for job in fake.jobs.values())
    for run in (human, as_json, deleted):
        assert run.code == 130, run
        assert "Traceback" not in run.err
        assert run.err_lines[-1].startswith("gpcn: error: interrupted: "), run.err
    # create: the job, the VM's name (and id, once the server gave it), the command to follow up.
    job_id = as_json.json()["job_id"]
    assert as_json.json()["interrupted"] is True
    assert as_json.json()["vm"] is None
    vm_id = as_json.json()["status"]["resource_id"]
    vm = f"train-01, id {vm_id}" if vm_id else "train-01"
    assert as_json.err_lines[-1] == (
        f"gpcn: error: interrupted: job {job_id} (VM {vm}) goes on on the server; "
        f"wait for it with: gpcn jobs wait {job_id}"
    )
    printed = re.fullmatch(r"ordered train-01: job (\S+) \(.*\)\n", human.out)
    assert printed is not None, human.out
    assert f"wait for it with: gpcn jobs wait {printed[1]}" in human.err_lines[-1]
    assert {job_id, printed[1]} <= set(fake.jobs)
    # delete: each VM's job, as the action's usual document, every job named on stderr.
    document = deleted.json()
    assert (document["action"], document["ok"], document["interrupted"]) == ("delete", False, True)
    assert [(r["id"], r["result"]) for r in document["results"]] == [
        (old[0], "accepted"),
        (old[1], "accepted"),
    ]
    jobs = [r["job_id"] for r in document["results"]]
    assert set(jobs) <= set(fake.jobs)
    assert deleted.err_lines[-1] == (
        f"gpcn: error: interrupted: 2 jobs go on on the server: {jobs[0]} (VM id {old[0]}), "
        f"{jobs[1]} (VM id {old[1]}); wait for them with: gpcn jobs wait {jobs[0]} {jobs[1]}"
    )


async def test_demo_runs_the_fleet_workflow_with_no_429() -> None:
    """`gpcn demo` (the `gpcn` entry point) needs no account, ends well under a minute, no 429."""
    started = time.monotonic()
    run = await gpcn_process(None, "demo", program=str(Path(sys.executable).parent / "gpcn"))
    assert run.code == 0, run.err
    assert time.monotonic() - started < 30
    out = run.out
    assert "FAKE GPCN API" in out
    assert "(409)" in out
    assert re.search(r"8 of 8 VMs running: 3 in .*, 2 in .*, 3 in ", out)
    assert "stopped 8 of 8 (now: 8 Stopped)" in out
    assert "started 8 of 8 (now: 8 Running)" in out
    assert "mode 0600" in out
    assert "PRIVATE KEY" not in out
    assert "VMs left: 0" in out
    assert re.search(r"^  429s met:\s+0 ", out, re.M)
    polls = re.search(r"poll requests:\s+(\d+) \(polling each job on its own: (\d+)\)", out)
    assert polls is not None
    assert int(polls[1]) < int(polls[2])


# -- a reader that goes away (broken pipe) ---------------------------------------------------------

BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports `yes | head -1`


async def hang_up_after(
    fake: FakeGPCN | None, *args: str, until: str, stream: Literal["stdout", "stderr"] = "stdout"
) -> tuple[int, bytes]:
    """Run gpcn, read its ``stream`` up to a line containing ``until``, then close that pipe.

    Returns the exit status and what the other stream (read to the end) held. Warnings about
    unclosed resources are shown (``-W always::ResourceWarning``), so that they reach stderr.
    """
    # Without PYTHONUNBUFFERED: with it, CPython drops the rest of a short write to a closed pipe
    # without an error, so a big one-write document (list --json) would not see the pipe break.
    env = {name: value for name, value in environment(fake).items() if name != "PYTHONUNBUFFERED"}
    read_end, write_end = os.pipe()
    on_stdout = stream == "stdout"
    pipe = asyncio.subprocess.PIPE
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-W", "always::ResourceWarning", "-m", "gpcn_async", *FAST, *args,
        env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=write_end if on_stdout else pipe, stderr=pipe if on_stdout else write_end,
    )  # fmt: skip
    os.close(write_end)
    try:
        reader = asyncio.StreamReader(limit=4096)  # reads no further ahead than 8 KiB
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_end, "rb", buffering=0)
        )
        try:
            while until not in (line := await asyncio.wait_for(reader.readline(), 10)).decode():
                assert line, f"{stream} ended before a line with {until!r}"
        finally:
            transport.close()  # the reader goes away, as `head` does
        out, err = await asyncio.wait_for(process.communicate(), timeout=10)
    finally:
        if process.returncode is None:  # the test failed: leave no process behind
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, err if on_stdout else out


async def test_list_exits_141_quietly_when_its_reader_goes_away() -> None:
    """`gpcn --json list | head -1` on 500 VMs exits 141 with nothing at all on stderr."""
    async with FakeGPCN(seed_vms=500) as fake:  # some 330 KB of JSON: more than a pipe holds
        code, err = await hang_up_after(fake, "--json", "list", until="[")
        pages = fake.count("GET", "/resource/gpu")
    assert code == BROKEN_PIPE, err.decode()
    assert err == b"", err.decode()  # no traceback, no "Exception ignored", no unclosed session
    assert pages > 1  # a paged list


async def test_demo_closes_its_client_when_stdout_breaks_mid_progress() -> None:
    """A reader leaving `gpcn demo` while it waits for jobs ends it at once: 141, stderr empty."""
    started = time.monotonic()
    code, err = await hang_up_after(None, "demo", until="demo-01: running")
    assert code == BROKEN_PIPE, err.decode()
    assert err == b"", err.decode()  # no traceback, unclosed session or destroyed task
    assert time.monotonic() - started < 5  # long before the demo's end


async def test_jobs_wait_exits_141_when_the_reader_of_its_progress_goes_away() -> None:
    """When the reader of `jobs wait`'s progress (stderr) goes away, the wait ends with 141."""
    async with FakeGPCN() as fake:
        vm_id = fake.add_vm(name="slow")
        fake.script_next_jobs(progress=list(range(1, 100)))  # a new percentage at every poll
        async with fake.client() as client:
            job = await client.gpu.delete(vm_id)
        assert job.id is not None
        code, out = await hang_up_after(fake, "jobs", "wait", job.id, until=job.id, stream="stderr")
        assert fake.jobs[job.id].state == "running"  # it stopped waiting; the job goes on
    assert code == BROKEN_PIPE
    assert out == b""  # no result printed: nobody is listening


# -- the progress display, in process --------------------------------------------------------------


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        """Claim to be a terminal."""
        return True


def running(job_id: str, progress: int) -> JobStatus:
    """A running job's status."""
    return JobStatus(id=job_id, state=JobState.RUNNING, progress=progress)


def test_beyond_ten_jobs_plain_progress_is_one_fleet_line_per_finished_job() -> None:
    """With more than ten jobs, plain progress prints a fleet tally, not a line per job change."""
    count = FLEET_THRESHOLD + 2
    stream = io.StringIO()
    reporter = make_reporter([f"job-{n}" for n in range(count)], stream)
    assert isinstance(reporter, PlainReporter)
    for index in range(count):
        reporter.status(index, running(f"job-{index}", 50))
    failure = JobFailedError("boom", job_id="job-0")
    for index in range(count):
        reporter.finished(index, failure if index == 0 else None)
    reporter.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == f"jobs: waiting for {count} jobs"
    assert lines[1:] == [f"jobs: {n}/{count} done, 1 failed" for n in range(1, count + 1)]


def test_a_terminal_gets_live_bars_and_falls_back_to_lines_without_rich(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a terminal progress is rich bars; with rich missing it is plain lines instead."""
    bars = Terminal()
    reporter = make_reporter(["train-01"], bars)
    assert not isinstance(reporter, PlainReporter)
    reporter.status(0, running("j", 40))
    reporter.finished(0, None)
    reporter.close()
    assert "train-01" in bars.getvalue()
    assert "100%" in bars.getvalue()
    monkeypatch.setitem(sys.modules, "rich.console", None)
    monkeypatch.setitem(sys.modules, "rich.progress", None)
    lines = Terminal()
    fallback = make_reporter(["train-01"], lines)
    assert isinstance(fallback, PlainReporter)
    fallback.status(0, running("j", 40))
    assert lines.getvalue() == "train-01: running 40%\n"
