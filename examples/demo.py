"""`make demo`: a whole fleet workflow against the built-in fake GPCN server, no account needed.

It starts ``FakeGPCN`` on 127.0.0.1, then uses the SDK exactly as against the real API: reads the
inventory, orders 8 GPU VMs at once, waits for all of them through one poller, shows typed errors,
and deletes the fleet. Nothing leaves this machine.
"""

from __future__ import annotations

import asyncio
import time

from gpcn_async import (
    Client,
    ConflictError,
    GpuVm,
    InvalidRequestError,
    Job,
    NotFoundError,
    Offer,
    PollPolicy,
)
from gpcn_async.testing import FakeGPCN

FLEET = 8
# The fake's jobs take about a second; poll it faster than the real API needs.
DEMO_POLL = PollPolicy(interval=0.2, max_interval=0.5, timeout=60.0)


async def order(gpcn: Client, name: str, offers: list[Offer], first: int) -> Job[GpuVm]:
    """Order one VM, spreading VMs over the offers; a 409 drops that offer and tries the next."""
    while offers:
        offer = offers[first % len(offers)]
        try:
            job = await gpcn.gpu.create(
                name=name,
                datacenter_id=offer.datacenter_id,
                series_id=offer.series_id,
                gpu_count=offer.gpu_count,
            )
        except ConflictError:
            print(f"  {name}: {offer} was just claimed by someone else (409); next offer")
            offers.remove(offer)
        else:
            print(f"  {name}: ordered {offer}, job {job.id}")
            return job
    raise SystemExit(f"no offer left for {name}")


async def wait_all(jobs: list[Job[GpuVm]]) -> list[GpuVm]:
    """Wait for every job, printing a progress line as each VM becomes ready."""
    ready = 0

    async def one(job: Job[GpuVm]) -> GpuVm:
        nonlocal ready
        vm = await job
        ready += 1
        print(f"  [{ready}/{len(jobs)}] {vm.name} is {vm.status} in {vm.datacenter_name}")
        return vm

    return await asyncio.gather(*(one(job) for job in jobs))


async def main() -> None:
    started = time.monotonic()
    async with FakeGPCN(dialect="reference", job_duration=1.0) as fake:
        print(f"fake GPCN API serving at {fake.url}\n")
        async with Client(fake.api_key, base_url=fake.url, poll=DEMO_POLL) as gpcn:
            inventory = await gpcn.gpu.inventory()
            offers = list(inventory.offers(gpu_count=1))
            series = len(inventory.series)
            print(f"1. inventory: {series} GPU series, {len(offers)} offers of 1 GPU")
            for offer in offers[:4]:
                print(f"  {offer} (SKU {offer.sku_code})")

            print(f"\n2. ordering {FLEET} VMs at once (someone else claims the first offer)")
            fake.race_next_create()
            jobs = [await order(gpcn, f"train-{n:02}", offers, n) for n in range(FLEET)]

            print(f"\n3. waiting for {FLEET} jobs: one poller asks about all of them together")
            vms = await wait_all(jobs)

            print("\n4. typed errors, raised before or after a request:")
            try:
                await gpcn.gpu.get("00000000-0000-4000-8000-000000000000")
            except NotFoundError as error:
                print(f"  NotFoundError: {error}")
            try:
                _ = await gpcn.gpu.create(
                    name="x", datacenter_id=offers[0].datacenter_id, series_id=1, gpu_count=3
                )
            except InvalidRequestError as error:
                print(f"  InvalidRequestError (nothing sent): {error}")

            print(f"\n5. deleting the fleet of {len(vms)}")
            deletions = [await gpcn.gpu.delete(vm.id) for vm in vms]
            await asyncio.gather(*deletions)
            print(f"  VMs left on the server: {len(fake.vms)}")

        polls = fake.count("POST", "/resource/jobs")
        per_job = sum(job.poll_count for job in fake.jobs.values())
        print("\nsummary:")
        print(f"  requests sent:       {len(fake.requests)}")
        print(f"  poll requests:       {polls} (polling each job alone: {per_job})")
        print(f"  429s met:            {fake.rate_limited_count}")
        print(f"  wall time:           {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
