"""What can I order, and what is running? Set GPCN_API_KEY (and GPCN_BASE_URL for the fake)."""

import asyncio

from gpcn_async import Client


async def main() -> None:
    async with Client() as gpcn:  # reads GPCN_API_KEY (and GPCN_BASE_URL, if set)
        inventory = await gpcn.gpu.inventory()
        for offer in inventory.offers(gpu_count=1):
            print("available:", offer)  # e.g. "NVIDIA A100 x1 in US East 1"

        async for vm in gpcn.gpu.list():
            print(f"{vm.name}: {vm.status}, {vm.gpu_count} x {vm.series_name}, ip {vm.ip}")
            detail = await gpcn.gpu.get(vm.id)  # one VM by id
            print("  created", detail.created_at)


asyncio.run(main())
