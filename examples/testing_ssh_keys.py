"""A test that orders carry the account's SSH key, against FakeGPCN's key library."""

from gpcn_async.testing import FakeGPCN


async def test_orders_carry_my_key() -> None:
    """The order sends the id of the key the library holds."""
    async with FakeGPCN(dialect="reference") as fake, fake.client() as gpcn:
        key_id = fake.add_ssh_key("laptop")  # a fresh ed25519 pair's public key
        offer = next((await gpcn.gpu.inventory()).offers(gpu_count=1))
        job = await gpcn.gpu.create(
            name="train-01",
            datacenter_id=offer.datacenter_id,
            series_id=offer.series_id,
            gpu_count=offer.gpu_count,
            sku_code=offer.sku_code,
            ssh_key_id=key_id,
        )
        vm = await job
        assert vm.ssh_key_id == key_id
        assert fake.requests_to("POST", "/resource/gpu")[0].json["sshKeyId"] == key_id
