"""The standalone fake for the tests of fleets run by several processes, with its request log.

Serves ``FakeGPCN`` on 127.0.0.1 in a process of its own, as ``python -m gpcn_async.testing``
does (reference dialect, jobs that end a set time after they start, polled or not), but also
answers questions about what it received, which the tests need and the standalone server has
no way to tell::

    python tests/fleet_fake.py JOB_SECONDS

prints its URL, its API key and the id of an SSH key in its library, one a line; then for each
line ``log`` on stdin, one line of JSON: ``{"requests": [{"method", "path", "status", "json"}],
"vms": [[id, name], ...], "created": N}``. It stops when stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import sys

from gpcn_async.testing import FakeGPCN


async def serve(job_seconds: float) -> None:
    """Serve until stdin closes, answering ``log`` lines."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with FakeGPCN(dialect="reference", job_duration=job_seconds) as fake:
        key_id = fake.add_ssh_key("fleet")
        print(fake.url, fake.api_key, key_id, sep="\n", flush=True)
        while (await reader.readline()).strip() == b"log":
            log = {
                "requests": [
                    {"method": r.method, "path": r.path, "status": r.status, "json": r.json}
                    for r in fake.requests
                ],
                "vms": [[vm_id, vm.name] for vm_id, vm in fake.vms.items()],
                "created": fake.created_vm_count,
            }
            print(json.dumps(log), flush=True)


if __name__ == "__main__":
    asyncio.run(serve(float(sys.argv[1])))
