"""The SSH-key order example runs against FakeGPCN over real HTTP, in both dialects at once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gpcn_async.testing import FakeGPCN
from tests.test_examples import ROOT, in_each_dialect, load_example, run_example

EXAMPLE = "examples/order_with_ssh_key.py"
PUBLIC = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"
)


async def test_the_example_orders_with_a_key_of_the_library() -> None:
    """With a key in the library, the example orders one VM that carries that key."""

    async def check(dialect: str) -> None:
        async with FakeGPCN(dialect=dialect, job_polls=1) as fake:
            key_id = fake.add_ssh_key("workstation", PUBLIC)
            output = await run_example(EXAMPLE, fake)
            [order] = fake.requests_to("POST", "/resource/gpu")
        assert "API key fake-key" in output
        assert "SSH key workstation (ed25519)" in output
        assert "train-01 is Running in" in output
        assert order.json["sshKeyId"] == key_id
        assert fake.created_vm_count == 1
        assert ("skuCode" in order.json) == (dialect == "reference")

    await in_each_dialect(check)


async def test_the_example_uploads_a_key_into_an_empty_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an empty library, the example uploads the public key file, then orders with it."""
    public_key_file = tmp_path / "id_ed25519.pub"
    public_key_file.write_text(PUBLIC + "\n")
    monkeypatch.setenv("SSH_PUBLIC_KEY", str(public_key_file))

    async def check(dialect: str) -> None:
        async with FakeGPCN(dialect=dialect, job_polls=1) as fake:
            output = await run_example(EXAMPLE, fake)
            [key] = fake.ssh_keys.values()
            [order] = fake.requests_to("POST", "/resource/gpu")
        assert (key.name, key.public_key) == ("laptop", PUBLIC)
        assert order.json["sshKeyId"] == key.id
        assert "train-01 is Running in" in output

    await in_each_dialect(check)


GUIDE = (ROOT / "docs" / "guides" / "account.md").read_text()


def test_the_guide_includes_the_example_files() -> None:
    """docs/guides/account.md shows the two example files the tests run, included whole."""
    included = set(re.findall(r'^--8<-- "(examples/[^"]+)"$', GUIDE, re.M))
    assert included == {EXAMPLE, "examples/testing_ssh_keys.py"}


async def test_the_fake_testing_example_passes() -> None:
    """The guide's test of orders carrying an SSH key passes when run."""
    await load_example("testing_ssh_keys").test_orders_carry_my_key()
