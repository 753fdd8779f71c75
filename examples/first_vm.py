"""Your first GPU VM: order one, follow its job, rename it, delete it.

Reads GPCN_API_KEY and GPCN_BASE_URL. To try it without an account, point them at the fake
server: python -m gpcn_async.testing (see "Quickstart" in the README).
"""

import asyncio

from gpcn_async import Client


async def main() -> None:
    async with Client() as gpcn:
        offer = next((await gpcn.gpu.inventory(gpu_count=1)).offers())
        print("ordering", offer)  # e.g. "NVIDIA H100 Series x1 in US East 1"
        job = await gpcn.gpu.create(
            name="first-vm",
            datacenter_id=offer.datacenter_id,
            series_id=offer.series_id,
            gpu_count=1,
        )
        async for status in job.watch():  # every change, until the job ends
            print(f"  job {status.state}, {status.progress or 0}%")
        vm = await job  # the ready VM
        print(f"{vm.name} is {vm.status}, ip {vm.ip}")

        vm = await gpcn.gpu.update(vm.id, name="first-vm-renamed")
        print("renamed to", vm.name)

        deletion = await gpcn.gpu.delete(vm.id)
        await deletion  # until it is gone
        print("deleted", vm.id)


asyncio.run(main())
