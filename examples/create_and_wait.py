"""Order 20 GPU VMs at once and wait for all of them. Set GPCN_API_KEY (and GPCN_BASE_URL)."""

import asyncio

from gpcn_async import Client


async def main() -> None:
    async with Client() as gpcn:
        offer = next((await gpcn.gpu.inventory()).offers(gpu_count=1))
        jobs = [
            await gpcn.gpu.create(
                name=f"train-{n:02}",
                datacenter_id=offer.datacenter_id,
                series_id=offer.series_id,
                gpu_count=1,
            )
            for n in range(20)
        ]
        # One poller checks all 20 jobs together: a single poll request per round.
        vms = await asyncio.gather(*jobs)
        print(f"{len(vms)} VMs running:", ", ".join(vm.name for vm in vms))


asyncio.run(main())
