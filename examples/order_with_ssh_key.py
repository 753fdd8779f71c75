"""The live API's whole order path: check the key, pick an SSH key, pick an offer, order.

Needs GPCN_API_KEY. Uses the first key of the account's SSH-key library; with an empty library
it uploads ~/.ssh/id_ed25519.pub (or the file SSH_PUBLIC_KEY names) first.
"""

import asyncio
import os
from pathlib import Path

from gpcn_async import Client


def my_public_key() -> str:
    return Path(os.environ.get("SSH_PUBLIC_KEY", "~/.ssh/id_ed25519.pub")).expanduser().read_text()


async def main() -> None:
    async with Client() as gpcn:
        status = await gpcn.auth_check()  # a rejected key fails here, with the likely causes
        if status.credential is not None:
            print(f"API key {status.credential.name}, expires {status.credential.expires_at}")

        keys = await gpcn.ssh_keys.list()
        if keys:
            key = keys[0]
        else:  # an empty library: upload your public key once
            key = await gpcn.ssh_keys.create("laptop", public_key=my_public_key())
        print(f"SSH key {key.name} ({key.algorithm})")

        offer = next((await gpcn.gpu.inventory()).offers(gpu_count=1), None)
        if offer is None:
            print("nothing to order right now")
            return
        job = await gpcn.gpu.create(
            name="train-01",
            datacenter_id=offer.datacenter_id,
            series_id=offer.series_id,
            gpu_count=offer.gpu_count,
            sku_code=offer.sku_code,  # None (so not sent) where the inventory names no SKU
            ssh_key_id=key.id,
        )
        vm = await job
        print(f"{vm.name} is {vm.status} in {vm.datacenter_name}, with SSH key {key.name}")


asyncio.run(main())
