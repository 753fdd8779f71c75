"""A test of your own code against FakeGPCN: real HTTP, a scripted fault, no mocks."""

from gpcn_async.testing import FakeGPCN


async def test_my_fleet_code() -> None:
    """A read that fails once with 503 is retried and succeeds."""
    async with FakeGPCN(dialect="reference") as fake, fake.client() as gpcn:
        vm_id = fake.add_vm(name="train-01")
        fake.inject("GET", f"/resource/gpu/{vm_id}", status=503)  # one failure, then success
        vm = await gpcn.gpu.get(vm_id)
        assert vm.name == "train-01"
        assert fake.count("GET", f"/resource/gpu/{vm_id}") == 2
