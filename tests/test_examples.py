"""The README's examples are real files, and they run: against FakeGPCN, over real HTTP."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from gpcn_async.testing import FakeGPCN

ROOT = Path(__file__).parent.parent
DIALECTS = ("guide", "reference")
README = (ROOT / "README.md").read_text()
EXAMPLE_BLOCK = re.compile(
    r"<!-- example: (?P<path>\S+) -->\n```(?:python|sh)\n(?P<code>.*?)```", re.S
)


def readme_examples() -> list[tuple[str, str]]:
    """(path, code) of every README code block marked as taken from an example file."""
    return [(m["path"], m["code"]) for m in EXAMPLE_BLOCK.finditer(README)]


def test_readme_has_its_examples() -> None:
    """The README shows the first-VM quickstart and the testing example."""
    paths = {path for path, _ in readme_examples()}
    assert {"examples/first_vm.py", "examples/testing_with_fake.py"} <= paths


def test_every_example_is_shown_in_the_readme_or_the_docs() -> None:
    """Each file of examples/ is a README block or included by a docs page, so readers see it."""
    shown = {path for path, _ in readme_examples()}
    for page in (ROOT / "docs").rglob("*.md"):
        shown.update(re.findall(r'^--8<-- "(examples/[^"]+)"$', page.read_text(), re.M))
    # Files only: pytest runs one example in the plugin's tests and may cache it in __pycache__.
    examples = {f"examples/{path.name}" for path in (ROOT / "examples").iterdir() if path.is_file()}
    assert examples == shown


@pytest.mark.parametrize(("path", "code"), readme_examples(), ids=lambda v: str(v)[:40])
def test_readme_block_is_the_example_file(path: str, code: str) -> None:
    """Each README example is exactly the file the tests run."""
    assert (ROOT / path).read_text() == code


async def run_example(path: str, fake: FakeGPCN, cwd: Path | None = None) -> str:
    """Run an example script in its own process, configured for the fake by environment."""
    env = {**os.environ, "GPCN_API_KEY": fake.api_key, "GPCN_BASE_URL": fake.url}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / path),
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:  # failed or cancelled: leave no process behind
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    return stdout.decode()


async def in_each_dialect(check: Callable[[str], Awaitable[None]]) -> None:
    """Run ``check(dialect)`` for both dialects at once; a failure names its dialect.

    An example's client waits a second or more before each poll: run side by side, the two
    dialects' waits overlap instead of adding up.
    """

    async def named(dialect: str) -> None:
        try:
            await check(dialect)
        except AssertionError as error:
            error.add_note(f"in the {dialect} dialect")
            raise

    async with asyncio.TaskGroup() as group:
        for dialect in DIALECTS:
            group.create_task(named(dialect))


async def test_quickstart_runs() -> None:
    """The quickstart lists offers and reads each VM of the account."""

    async def check(dialect: str) -> None:
        async with FakeGPCN(dialect=dialect) as fake:
            fake.add_vm(name="train-01")
            output = await run_example("examples/quickstart.py", fake)
        assert "available: " in output
        assert "train-01: Running" in output
        assert fake.count("GET", "/resource/gpu/*") >= 2

    await in_each_dialect(check)


async def test_first_vm_runs() -> None:
    """The README's quickstart orders a VM, follows its job, renames it and deletes it."""

    async def check(dialect: str) -> None:
        # Jobs end on their first poll: the example's client polls a second after a job starts
        # and then two seconds later, so a second poll per job would only add time.
        async with FakeGPCN(dialect=dialect, job_polls=1) as fake:
            output = await run_example("examples/first_vm.py", fake)
            assert fake.vms == {}
        assert "job succeeded, 100%" in output
        assert "first-vm is Running" in output
        assert "renamed to first-vm-renamed" in output
        assert fake.created_vm_count == 1
        assert fake.count("PUT", "/resource/gpu/*") == 1
        assert fake.count("DELETE", "/resource/gpu/*") == 1

    await in_each_dialect(check)


async def test_create_and_wait_runs() -> None:
    """The fleet example orders 20 VMs and waits for all of them through one poller."""

    async def check(dialect: str) -> None:
        async with FakeGPCN(dialect=dialect, job_polls=1) as fake:
            output = await run_example("examples/create_and_wait.py", fake)
        assert "20 VMs running" in output
        assert fake.created_vm_count == 20
        assert fake.count("POST", "/resource/jobs") == 1

    await in_each_dialect(check)


async def test_stop_training_fleet_runs() -> None:
    """The bulk example stops exactly the VMs named train-*, in one request."""

    async def check(dialect: str) -> None:
        async with FakeGPCN(dialect=dialect) as fake:
            training = [fake.add_vm(name=f"train-{n}") for n in range(3)]
            other = fake.add_vm(name="infer-train-0")
            output = await run_example("examples/stop_training_fleet.py", fake)
            statuses = {vm_id: fake.vms[vm_id].status for vm_id in [*training, other]}
        assert "stopped 3 of 3 training VMs" in output
        assert [statuses[vm_id] for vm_id in training] == ["Stopped"] * 3
        assert statuses[other] == "Running"
        assert fake.count("POST", "/resource/gpu/bulk/stop") == 1

    await in_each_dialect(check)


async def test_provision_with_fallback_runs() -> None:
    """The provision example survives a 409 on its first choice and orders one VM."""

    async def check(dialect: str) -> None:
        async with FakeGPCN(dialect=dialect, job_polls=1) as fake:
            for datacenter in fake.datacenters[:2]:
                fake.set_availability("nvidia-h100", datacenter.id, 1, available=True)
            fake.race_next_create()
            output = await run_example("examples/provision_with_fallback.py", fake)
        assert "train-h100 is Running in" in output
        assert fake.count("POST", "/resource/gpu") == 2
        assert fake.created_vm_count == 1

    await in_each_dialect(check)


async def test_crash_safe_fleet_runs(tmp_path: Path) -> None:
    """The fleet example orders 4 members once each, tears them down and empties its journal."""
    async with FakeGPCN(job_polls=1) as fake:
        output = await run_example("examples/crash_safe_fleet.py", fake, cwd=tmp_path)
        assert fake.vms == {}
    assert output == "ready: train-a-000, train-a-001, train-a-002, train-a-003\n"
    assert fake.created_vm_count == 4
    assert fake.count("POST", "/resource/gpu/bulk/delete") == 1
    assert (tmp_path / "train-a.db").exists()


def load_example(name: str) -> Any:
    """Import ``examples/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / f"examples/{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_testing_example_passes() -> None:
    """The README's pytest example passes when run."""
    await load_example("testing_with_fake").test_my_fleet_code()


async def test_rate_limit_testing_example_passes() -> None:
    """The README's rate-limit test example passes when run."""
    await load_example("testing_rate_limits").test_a_burst_of_reads_meets_no_429()
