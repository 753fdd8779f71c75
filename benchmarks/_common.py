"""What the benchmark scripts share: arguments, the table, JSON output, and a bare server.

The bare server is an ``aiohttp.web`` app on 127.0.0.1 that answers like the GPCN API with fixed
or generated bodies and nothing else (no request log, no state, no fault table), so a benchmark
measures the client rather than ``FakeGPCN``'s bookkeeping. It runs in the benchmark's own event
loop (``BareServer``) or in a child process (``bare_server_process``), whose CPU time then does
not count in the benchmark's ``time.process_time()``. Run directly (``python _common.py``) it
serves until killed, printing its base URL first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import aiohttp
from aiohttp import web

HOST: Final = "127.0.0.1"
API_KEY: Final = "gpcn_bench_key"

Row = dict[str, Any]
Column = tuple[str, str, str]
"""A table column: the row key, its heading, and the format spec of its values."""


# --- machine, arguments, output ----------------------------------------------------------------


def machine() -> dict[str, Any]:
    """The machine a run was made on: cores, CPU model, Python and aiohttp versions."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
    }


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark takes (``--json FILE``)."""
    summary = doc.strip().splitlines()[0] if doc else None
    result = argparse.ArgumentParser(description=summary)
    result.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON")
    return result


def print_table(title: str, columns: Sequence[Column], rows: Sequence[Row], note: str = "") -> None:
    """Print rows as a Markdown table (for docs/performance.md): text left, numbers right."""
    cells = [[format(row[key], spec) for key, _, spec in columns] for row in rows]
    widths = [
        max(len(heading), *(len(line[index]) for line in cells))
        for index, (_, heading, _) in enumerate(columns)
    ]
    numeric = [bool(spec) for _, _, spec in columns]

    def line(values: Sequence[str]) -> str:
        padded = (
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        )
        return "| " + " | ".join(padded) + " |"

    print(f"\n{title}\n")
    print(line([heading for _, heading, _ in columns]))
    print(
        "|"
        + "|".join(
            "-" * (width + 1) + ":" if right else ":" + "-" * (width + 1)
            for width, right in zip(widths, numeric, strict=True)
        )
        + "|"
    )
    for values in cells:
        print(line(values))
    if note:
        print(f"\n{note}")


def write_json(path: Path | None, benchmark: str, rows: Sequence[Row], **extra: Any) -> None:
    """Write the rows (with the machine and any extra settings) to ``path``, if one was given."""
    if path is None:
        return
    document = {"benchmark": benchmark, "machine": machine(), **extra, "rows": list(rows)}
    path.write_text(json.dumps(document, indent=2) + "\n")


class Deadline:
    """A benchmark's overall time budget: ``expired`` once ``seconds`` have passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    @property
    def expired(self) -> bool:
        """Whether the budget is spent."""
        return time.monotonic() >= self._end


# --- wire bodies ---------------------------------------------------------------------------------

VM_ID: Final = "550e8400-e29b-41d4-a716-446655440000"


def vm_data(vm_id: str = VM_ID, number: int = 1) -> dict[str, Any]:
    """A running GPU VM in the reference dialect (the shape of ``wire_samples/*/gpu-get.json``)."""
    address = f"198.51.{number // 250 % 256}.{number % 250 + 1}"
    return {
        "id": vm_id,
        "name": f"train-{number:06d}",
        "status": "Running",
        "ip": address,
        "jupyterUrl": f"https://{address}:8888",
        "configuration": {
            "code": "nvidia-h100-series",
            "name": "NVIDIA H100 Series",
            "gpuCount": 1,
            "cpu": 26,
            "ram": 225,
            "disk": 2750,
            "skuCode": "h100-sxm-80gb-1x",
            "skuId": "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b31",
        },
        "datacenter": {
            "id": "7f3c2a10-5b1e-4c0e-9a51-0d2f6b1c8e01",
            "name": "Kansas City 1",
            "region": "US Central",
            "countryAbbr": "US",
            "country": "United States",
        },
        "image": "ubuntu-24.04-lts-server-cloudimg-amd64",
        "username": "ubuntu",
        "sshKeyId": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c21",
        "sshKeyName": "laptop",
        "resourceGroupId": None,
        "resourceGroupName": None,
        "hasStoredCredentials": False,
        "createdAt": "2026-05-19T14:02:02.487Z",
        "updatedAt": "2026-05-19T14:02:02.487Z",
        "deletedAt": None,
    }


def job_data(job_id: str, vm_id: str, *, stage: str = "initializing") -> dict[str, Any]:
    """A delete job in the reference dialect (the shape of ``wire_samples/*/bulk-delete.json``)."""
    return {
        "jobId": job_id,
        "resourceType": "virtual_machine",
        "resourceDisplayName": "GPU VM",
        "operation": "delete",
        "stage": stage,
        "progressPercentage": 0,
        "message": "Queued",
        "errorMessage": None,
        "estimatedCompletion": "2026-05-19T14:04:02.000Z",
        "timeRemaining": "2 minutes",
        "canRetry": False,
        "isCompleted": False,
        "hasFailed": False,
        "resourceId": vm_id,
        "resourceName": f"train-{vm_id}",
        "createdAt": "2026-05-19T14:02:02.487Z",
        "updatedAt": "2026-05-19T14:02:02.487Z",
    }


def _rate_headers() -> dict[str, str]:
    # A budget no benchmark exhausts, in the real API's form (Reset in whole Unix seconds).
    return {
        "X-RateLimit-Limit": "1000000",
        "X-RateLimit-Remaining": "999999",
        "X-RateLimit-Reset": str(int(time.time()) + 60),
    }


# --- the bare server -----------------------------------------------------------------------------


class BareServer:
    """A bare aiohttp.web server answering four GPCN routes, reference dialect, no state.

    ``GET /v1/resource/gpu/{id}``: one fixed VM body, serialised once. ``GET /v1/resource/gpu``:
    ``vms`` VMs, each page generated when asked for (``page``, ``limit`` up to 100), so a list of
    50,000 VMs costs the server no memory. ``POST /v1/resource/gpu/bulk/delete``: 202 with one
    queued job per id. ``POST /v1/resource/jobs``: every asked job still running.
    """

    def __init__(self, *, vms: int = 0) -> None:
        self.vms = vms
        self._body = json.dumps(
            {"success": True, "message": "GPU VM retrieved successfully", "data": vm_data()}
        ).encode()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/v1/resource/gpu/{vm_id}", self._get)
        app.router.add_get("/v1/resource/gpu", self._list)
        app.router.add_post("/v1/resource/gpu/bulk/delete", self._bulk_delete)
        app.router.add_post("/v1/resource/jobs", self._poll)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        self.url = f"http://{HOST}:{self._runner.addresses[0][1]}/v1"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _get(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self._body, content_type="application/json", headers=_rate_headers()
        )

    async def _list(self, request: web.Request) -> web.Response:
        page = max(1, int(request.query.get("page", "1")))
        limit = min(100, max(1, int(request.query.get("limit", "10"))))
        first = (page - 1) * limit
        numbers = range(first, min(first + limit, self.vms))
        pages = -(-self.vms // limit)
        body = {
            "success": True,
            "message": "GPU VMs retrieved successfully",
            "data": [vm_data(f"vm-{number:08d}", number) for number in numbers],
            "meta": {
                "total": self.vms,
                "page": page,
                "pageSize": limit,
                "totalPages": pages,
                "hasNextPage": page < pages,
                "hasPreviousPage": page > 1,
            },
        }
        return web.json_response(body, headers=_rate_headers())

    async def _bulk_delete(self, request: web.Request) -> web.Response:
        ids = (await request.json())["ids"]
        jobs = [job_data(f"job-{vm_id}", vm_id) for vm_id in ids]
        body = {"success": True, "message": "Operation initiated", "data": {"jobs": jobs}}
        return web.json_response(body, status=202, headers=_rate_headers())

    async def _poll(self, request: web.Request) -> web.Response:
        ids = (await request.json())["jobIds"]
        jobs = [job_data(job_id, job_id.removeprefix("job-"), stage="running") for job_id in ids]
        body = {"success": True, "message": "Job progress retrieved", "data": {"jobs": jobs}}
        return web.json_response(body, headers=_rate_headers())


@contextlib.contextmanager
def bare_server_process(*, vms: int = 0) -> Iterator[str]:
    """Run a ``BareServer`` in a child process; yield its base URL; stop it on exit."""
    child = subprocess.Popen(  # noqa: S603 -- our own interpreter running this very file
        [sys.executable, __file__, "--vms", str(vms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None  # noqa: S101 -- stdout=PIPE was asked for
        url = child.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError("the bare server process did not start")
        yield url
    finally:
        child.terminate()
        child.wait(timeout=10)


async def _serve_forever(vms: int) -> None:
    async with BareServer(vms=vms) as server:
        print(server.url, flush=True)
        await asyncio.Event().wait()  # until the parent terminates the process


if __name__ == "__main__":
    options = argparse.ArgumentParser(description="Serve a bare GPCN-like API until killed.")
    options.add_argument("--vms", type=int, default=0)
    asyncio.run(_serve_forever(options.parse_args().vms))
