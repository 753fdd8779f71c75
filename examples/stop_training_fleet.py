"""Stop every VM whose name starts with "train-". Set GPCN_API_KEY (and GPCN_BASE_URL)."""

import asyncio

from gpcn_async import Client


async def main() -> None:
    async with Client() as gpcn:
        ids = [vm.id async for vm in gpcn.gpu.list(search="train-") if vm.name.startswith("train-")]
        if not ids:
            print("no training VMs")
            return
        # Any number of ids: sent 50 per request, one outcome per id, in this order.
        result = await gpcn.gpu.bulk_stop(ids)
        print(f"stopped {len(result.succeeded)} of {len(ids)} training VMs")
        for vm_id in result.failed:
            print(f"  not stopped: {result.items[vm_id].error}")


asyncio.run(main())
