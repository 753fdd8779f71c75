"""Order an H100 VM wherever one is free, moving on when an offer is claimed (GPCN_API_KEY)."""

import asyncio

from gpcn_async import Client, NoCapacityError


async def main() -> None:
    async with Client() as gpcn:
        try:
            # Checks the inventory, orders the first free offer, and on a 409 (someone else
            # got it first) checks again and orders the next one, up to max_attempts times.
            job = await gpcn.gpu.provision(name="train-h100", code="nvidia-h100", gpu_count=1)
        except NoCapacityError as error:
            print("nothing to order:", error)  # error.tried lists the offers that were claimed
            return
        vm = await job
        print(f"{vm.name} is {vm.status} in {vm.datacenter_name}")


asyncio.run(main())
