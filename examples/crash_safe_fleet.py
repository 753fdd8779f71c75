"""A fleet that survives being killed: run it again, and nothing is ordered twice."""

import asyncio

from gpcn_async import Client
from gpcn_async.fleet import Fleet


async def main() -> None:
    async with Client() as gpcn:
        fleet = Fleet(gpcn, "train-a", journal="train-a.db")  # each step is journaled here
        vms = await fleet.ensure(4, code="nvidia-a100", gpu_count=1)  # live API: ssh_key_id=
        print("ready:", ", ".join(vm.name for vm in vms))
        await fleet.teardown()  # deletes them all and waits; the journal ends empty


asyncio.run(main())
