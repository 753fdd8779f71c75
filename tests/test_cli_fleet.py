"""``gpcn fleet ensure|status|teardown``, run in-process by ``main()`` (one test runs a process).

``main()`` runs its own event loop, so it runs in a worker thread while the fake serves in the
test's loop; stdout and stderr are captured by pytest.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from gpcn_async.cli import main
from gpcn_async.fleet import SqliteJournal
from gpcn_async.testing import FakeGPCN
from tests.support import eventually
from tests.test_cli import Run, environment

ENSURE = ("fleet", "ensure", "web", "2", "--code", "nvidia-a100", "--gpu-count", "1")


@pytest.fixture
async def fake(dialect: str) -> AsyncIterator[FakeGPCN]:
    """The fake with jobs that end 20 ms after they start, polled or not."""
    async with FakeGPCN(dialect=dialect, job_duration=0.02) as server:
        yield server


@pytest.fixture
def gpcn(
    fake: FakeGPCN,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Any:
    """Run ``gpcn ARGS`` in-process from ``tmp_path`` (where ``NAME.db`` goes)."""
    monkeypatch.delenv("GPCN_API_KEY", raising=False)
    monkeypatch.delenv("GPCN_BASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)

    async def run(*args: str, key: bool = True) -> Run:
        common = ["--api-key", fake.api_key, "--base-url", fake.url] if key else []
        code = await asyncio.to_thread(main, [*common, "--poll-interval", "0.01", *args])
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


async def test_ensure_prints_the_members_and_progress(fake: FakeGPCN, gpcn: Any) -> None:
    """Ensure orders the members, shows progress on stderr and the VMs on stdout; exit 0."""
    run = await gpcn(*ENSURE)
    assert run.code == 0, run.err
    assert run.out.splitlines()[0].split()[:3] == ["ID", "NAME", "STATUS"]
    assert [line.split()[1] for line in run.out.splitlines()[1:]] == ["web-000", "web-001"]
    assert "web-000: ordering" in run.err_lines
    assert run.err_lines[-1] == "fleet web: 2 members ready (journal web.db)"
    again = await gpcn("--json", *ENSURE)
    document = again.json()
    assert (document["ok"], [vm["name"] for vm in document["vms"]]) == (
        True,
        ["web-000", "web-001"],
    )
    assert fake.created_vm_count == 2


async def test_status_reads_the_journal_without_a_key(gpcn: Any) -> None:
    """Status lists the journal's members with no API key and no request."""
    assert (await gpcn(*ENSURE, "--quiet")).code == 0
    run = await gpcn("fleet", "status", "web", key=False)
    assert run.code == 0, run.err
    headers = [cell for cell in run.out.splitlines()[0].split("  ") if cell]
    assert [cell.strip() for cell in headers] == [
        "NAME",
        "STATE",
        "VM ID",
        "VM STATUS",
        "UPDATED",
        "ERROR",
    ]
    assert [line.split()[:2] for line in run.out.splitlines()[1:]] == [
        ["web-000", "ready"],
        ["web-001", "ready"],
    ]
    members = (await gpcn("fleet", "status", "web", "--json", key=False)).json()["members"]
    assert [(m["name"], m["vm_status"]) for m in members] == [
        ("web-000", "Running"),
        ("web-001", "Running"),
    ]
    empty = await gpcn("fleet", "status", "other", key=False)
    assert (empty.code, empty.out) == (0, "fleet other has no members\n")


async def test_teardown_deletes_the_members_and_empties_the_journal(
    fake: FakeGPCN, gpcn: Any
) -> None:
    """Teardown deletes every member, says how many, and leaves the journal empty."""
    assert (await gpcn(*ENSURE, "--quiet")).code == 0
    run = await gpcn("fleet", "teardown", "web")
    assert run.code == 0, run.err
    assert run.out.splitlines()[0] == "deleted 2 members of fleet web"
    assert "web-001: deleted" in run.err_lines
    assert fake.vms == {}
    assert (await gpcn("fleet", "status", "web", key=False)).out == "fleet web has no members\n"


async def test_members_not_ready_exit_1_with_where_each_stands(fake: FakeGPCN, gpcn: Any) -> None:
    """With no capacity, ensure exits 1, shows each member failed and the reason as JSON too."""
    fake.clear_availability()
    run = await gpcn(*ENSURE, "--quiet")
    assert run.code == 1
    assert [line.split()[:2] for line in run.out.splitlines()[1:]] == [
        ["web-000", "failed"],
        ["web-001", "failed"],
    ]
    assert run.err_lines[-1].startswith("gpcn: error: fleet web: 2 of 2 members are not ready")
    document = (await gpcn("--json", *ENSURE, "--quiet")).json()
    assert document["ok"] is False
    assert document["errors"]["web-000"]["type"] == "NoCapacityError"


async def test_a_held_journal_and_bad_input_exit_2(
    fake: FakeGPCN, gpcn: Any, tmp_path: Path
) -> None:
    """A journal held elsewhere, a negative count or a bad name exit 2 before any request."""
    journal = SqliteJournal(tmp_path / "web.db", fleet="web")
    await journal.hold()
    try:
        held = await gpcn(*ENSURE)
    finally:
        await journal.release()
    assert held.code == 2
    assert f"held by pid {os.getpid()} on host" in held.err
    negative = await gpcn("fleet", "ensure", "web", "-1", "--code", "x", "--gpu-count", "1")
    assert (negative.code, negative.err_lines) == (
        2,
        ["gpcn: error: count must be an int >= 0, got -1"],
    )
    bad_name = await gpcn("fleet", "teardown", "web fleet")
    assert bad_name.code == 2
    assert "fleet name must be" in bad_name.err
    assert fake.requests == []


async def test_ctrl_c_during_ensure_exits_130_and_a_rerun_finishes(tmp_path: Path) -> None:
    """SIGINT while orders are in flight: 130, a line saying to run again; the rerun converges."""
    async with FakeGPCN(job_duration=0.02) as fake:
        fake.inject("POST", "/resource/gpu", delay=5, times=1)  # one order's answer hangs
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gpcn_async", "--poll-interval", "0.01", "--json", *ENSURE,
            env=environment(fake), cwd=tmp_path, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await eventually(lambda: fake.count("POST", "/resource/gpu") == 2, within=10)
            process.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(process.communicate(), timeout=10)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        run = Run(process.returncode or 0, out.decode(), err.decode())
        assert run.code == 130, run
        assert run.json() == {"fleet": "web", "journal": "web.db", "interrupted": True}
        assert run.err_lines[-1] == (
            "gpcn: error: interrupted: the journal web.db keeps every step taken; run "
            "'gpcn fleet ensure web ...' again to finish (nothing is ordered twice)"
        )
        fake.clear_faults()
        argv = ["--api-key", fake.api_key, "--base-url", fake.url, "-q", *ENSURE,
                "--journal", str(tmp_path / "web.db")]  # fmt: skip
        assert await asyncio.to_thread(main, argv) == 0
        assert sorted(vm.name for vm in fake.vms.values()) == ["web-000", "web-001"]


async def test_a_postgresql_journal_is_shown_without_its_password(
    gpcn: Any, postgres_url: str
) -> None:
    """--journal postgresql://... keeps the members there; no output shows the password."""
    password = urlsplit(postgres_url).password or ""
    shown = postgres_url.replace(f":{password}@", "@")
    run = await gpcn(*ENSURE, "--journal", postgres_url)
    assert run.code == 0, run.err
    assert run.err_lines[-1] == f"fleet web: 2 members ready (journal {shown})"
    status = await gpcn("fleet", "status", "web", "--json", "--journal", postgres_url, key=False)
    document = status.json()
    assert document["journal"] == shown
    assert [m["state"] for m in document["members"]] == ["ready", "ready"]
    wrong = await gpcn("fleet", "status", "web", "--journal", postgres_url.replace(password, "x"))
    assert wrong.code == 2
    assert "cannot connect to 127.0.0.1:" in wrong.err
    for output in (run, status, wrong):
        assert password not in output.out + output.err
