"""``python -m gpcn_async.testing``: the fake served standalone, driven over plain HTTP.

The guide's curl + jq workflow (check inventory, create, poll the job, read the VM) is replayed
with a raw aiohttp session, never the SDK's client, in both dialects; the testing guide's shell
version runs too when curl and jq are installed. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gpcn_async.testing.__main__ import main

ROOT = Path(__file__).parent.parent
# The testing guide's curl example (docs/guides/testing.md).
CURL_EXAMPLE = ROOT / "examples" / "curl_workflow.sh"
STARTUP_TIMEOUT = 10.0
EXIT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Server:
    """A running ``python -m gpcn_async.testing`` process and the two lines it printed."""

    process: asyncio.subprocess.Process
    url: str
    key: str

    async def stop(self, signum: int) -> tuple[int, str]:
        """Send ``signum`` and return the exit status and stderr once it has exited."""
        self.process.send_signal(signum)
        _, stderr = await asyncio.wait_for(self.process.communicate(), EXIT_TIMEOUT)
        assert self.process.returncode is not None
        return self.process.returncode, stderr.decode()


@asynccontextmanager
async def serving(*options: str) -> AsyncIterator[Server]:
    """Start the standalone fake on a free port with ``options``; always kill it afterwards."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gpcn_async.testing",
        "--port",
        "0",
        *options,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        url = (await asyncio.wait_for(process.stdout.readline(), STARTUP_TIMEOUT)).decode()
        key = (await asyncio.wait_for(process.stdout.readline(), STARTUP_TIMEOUT)).decode()
        yield Server(process, url.strip(), key.strip())
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.communicate(), EXIT_TIMEOUT)


class Http:
    """Plain JSON requests to the standalone fake, with its key, as curl would send them."""

    def __init__(self, session: aiohttp.ClientSession, server: Server) -> None:
        self.session = session
        self.server = server

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Send a request; return the status and the parsed JSON body."""
        async with self.session.request(
            method,
            self.server.url + path,
            json=body,
            headers={"X-API-Key": self.server.key},
            timeout=aiohttp.ClientTimeout(total=5),
        ) as response:
            return response.status, await response.json()


def first_offer(dialect: str, inventory: Any) -> dict[str, Any]:
    """The create body for the first available 1-GPU configuration of an inventory answer."""
    if dialect == "guide":
        for series in inventory["data"]:
            for place in series["availability"]:
                if place["gpuCounts"]["1"]["available"]:
                    return {"seriesId": series["seriesId"], "datacenterId": place["datacenterId"]}
    else:
        for series in inventory["data"]["series"]:
            for place in series["availability"]:
                if any(option["count"] == 1 for option in place["gpuCounts"]):
                    return {"seriesId": series["id"], "datacenterId": place["datacenterId"]}
    raise AssertionError("no 1-GPU offer in the inventory")


def job_of(dialect: str, accepted: Any) -> str:
    """The job id of a create's 202 body: ``data.jobId`` or ``data.jobs[0].jobId``."""
    data = accepted["data"]
    return str(data["jobId"] if dialect == "guide" else data["jobs"][0]["jobId"])


def finished(dialect: str, job: Any) -> bool:
    """Whether a polled job object says it completed."""
    return bool(job["status"] == "completed" if dialect == "guide" else job["isCompleted"])


@pytest.mark.parametrize(
    ("dialect", "signum", "options"),
    [
        pytest.param("guide", signal.SIGINT, ["--api-key", "gpcn_mine"], id="guide-SIGINT"),
        pytest.param(
            "reference", signal.SIGTERM, ["--dialect", "reference"], id="reference-SIGTERM"
        ),
    ],
)
async def test_guide_workflow_runs_against_the_standalone_server(
    dialect: str, signum: int, options: list[str]
) -> None:
    """Inventory, create, poll until completed and read the VM work; a signal stops it with 0."""
    async with (
        serving("--seed-vms", "2", "--job-polls", "3", *options) as server,
        aiohttp.ClientSession() as session,
    ):
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", server.url)
        expected_key = "gpcn_mine" if dialect == "guide" else "gpcn_test_"
        assert server.key.startswith(expected_key)
        http = Http(session, server)
        status, inventory = await http.call("GET", "/resource/gpu/inventory")
        assert status == 200
        order = {"name": "train-01", "gpuCount": 1, **first_offer(dialect, inventory)}
        status, accepted = await http.call("POST", "/resource/gpu", order)
        assert status == 202
        job_id = job_of(dialect, accepted)
        polls = []
        for _ in range(10):
            status, answer = await http.call("POST", "/resource/jobs", {"jobIds": [job_id]})
            assert status == 200
            polls.append(answer["data"]["jobs"][0])
            if finished(dialect, polls[-1]):
                break
            await asyncio.sleep(0.005)
        assert len(polls) == 3  # --job-polls 3
        status, vm = await http.call("GET", f"/resource/gpu/{polls[-1]['resourceId']}")
        assert status == 200
        assert (vm["data"]["name"], vm["data"]["status"]) == ("train-01", "Running")
        status, listing = await http.call("GET", "/resource/gpu")
        assert listing["meta"]["total"] == 3  # --seed-vms 2, plus the new one
        impostor = Http(session, Server(server.process, server.url, "gpcn_other"))
        assert (await impostor.call("GET", "/resource/gpu"))[0] == 401
        returncode, stderr = await server.stop(signum)
    assert returncode == 0
    assert "Traceback" not in stderr
    assert f"({dialect} dialect, " in stderr
    assert f") serving at {server.url}" in stderr


@pytest.mark.parametrize(
    ("options", "banner"),
    [
        ([], "(guide dialect, the default; --dialect reference for the other)"),
        (["--dialect", "reference"], "(reference dialect, chosen with --dialect; the default is"),
    ],
)
async def test_the_default_dialect_is_the_guides_and_says_so(
    options: list[str], banner: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --dialect the server speaks the guide dialect, as --help and its banner say."""
    async with serving(*options) as server, aiohttp.ClientSession() as session:
        status, inventory = await Http(session, server).call("GET", "/resource/gpu/inventory")
        _, stderr = await server.stop(signal.SIGTERM)
    assert status == 200
    guide_shape = isinstance(inventory["data"], list)  # the reference nests {"series": [...]}
    assert guide_shape is (not options)
    assert banner in stderr
    with pytest.raises(SystemExit):
        main(["--help"])
    helped = capsys.readouterr().out
    assert re.search(r"--dialect \{guide,reference\}\s+wire dialect \(default guide", helped)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--seed-vms", "-1"], "seed_vms"),
        (["--job-polls", "0"], "job_polls"),
        (["--rate-window", "0"], "rate_window"),
        (["--dialect", "openapi"], "openapi"),
        (["--rate-alignment", "sliding"], "sliding"),
        (["--clock-skew", "inf"], "clock_skew"),
        (["--log-cap", "-1"], "log_cap"),
    ],
)
def test_bad_options_exit_2_naming_them(
    options: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad option exits 2 before serving, with a message naming it and nothing on stdout."""
    with pytest.raises(SystemExit) as exited:
        main(["--port", "0", *options])
    captured = capsys.readouterr()
    assert exited.value.code == 2
    assert captured.out == ""
    assert named in captured.err


async def test_rate_and_clock_options_reach_the_served_fake() -> None:
    """--rate-alignment clock and --clock-skew shape the served answers' Date and reset."""
    async with (
        serving(
            "--rate-window", "5", "--rate-alignment", "clock", "--clock-skew", "-300"
        ) as server,
        aiohttp.ClientSession() as session,
    ):
        url = f"{server.url}/resource/gpu"
        async with session.get(url, headers={"X-API-Key": server.key}) as response:
            assert response.status == 200
            date = parsedate_to_datetime(response.headers["Date"]).timestamp()
            reset = float(response.headers["X-RateLimit-Reset"])
    assert abs(date - (time.time() - 300)) < 3  # the fake's clock, 300 s behind ours
    assert reset % 5 == 0  # a clock-aligned window of 5 s ends on a multiple of 5
    assert 0 < reset - date <= 6  # on the fake's clock, not ours


def test_busy_port_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    """Serving on a port already in use exits 1 with an error message, not a traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        returncode = main(["--port", str(port)])
    captured = capsys.readouterr()
    assert returncode == 1
    assert captured.out == ""
    assert f"cannot serve on 127.0.0.1:{port}" in captured.err


@pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("jq") is None, reason="needs curl and jq"
)
async def test_readme_curl_example_runs_unchanged() -> None:
    """The testing guide's curl + jq script orders a VM from a server started without --dialect."""
    async with serving("--job-polls", "1") as server:
        env = {name: value for name, value in os.environ.items() if "proxy" not in name.lower()}
        env |= {"GPCN_BASE_URL": server.url, "GPCN_API_KEY": server.key, "NO_PROXY": "*"}
        script = await asyncio.create_subprocess_exec(
            "sh",
            str(CURL_EXAMPLE),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(script.communicate(), 20)
        finally:
            if script.returncode is None:
                script.kill()
                await script.wait()
        returncode, _ = await server.stop(signal.SIGINT)
    output = stdout.decode()
    assert script.returncode == 0, stderr.decode()
    assert ": completed, 100%" in output
    assert '"name": "train-01"' in output
    assert '"status": "Running"' in output
    assert returncode == 0
