"""``gpcn ssh-keys``, ``gpcn datacenters`` and ``gpcn auth status``, run in-process by ``main()``.

``main()`` runs its own event loop, so it runs in a worker thread while the fake serves in the
test's loop; stdout and stderr are captured by pytest. One test runs a real process.
"""

from __future__ import annotations

import asyncio
import json
import stat
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gpcn_async.cli import main
from gpcn_async.testing import FakeGPCN
from tests.test_cli import Run

PUBLIC = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"
)


@pytest.fixture
def gpcn(
    fake: FakeGPCN, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Any:
    """Run ``gpcn ARGS`` against the fake, in-process; returns a coroutine function."""
    monkeypatch.delenv("GPCN_API_KEY", raising=False)
    monkeypatch.delenv("GPCN_BASE_URL", raising=False)

    async def run(*args: str, api_key: str | None = None) -> Run:
        argv = ["--api-key", api_key or fake.api_key, "--base-url", fake.url, *args]
        code = await asyncio.to_thread(main, argv)
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


async def test_ssh_keys_list_create_rename_delete(
    fake: FakeGPCN, gpcn: Any, tmp_path: Path
) -> None:
    """A key is uploaded from a .pub file, listed, renamed and deleted, each as JSON or a table."""
    pub = tmp_path / "id_ed25519.pub"
    pub.write_text(PUBLIC + "\n")
    created = await gpcn("ssh-keys", "create", "laptop", "--public-key-file", str(pub), "--json")
    assert created.code == 0, created.err
    key = created.json()
    assert (key["name"], key["public_key"], key["algorithm"]) == ("laptop", PUBLIC, "ed25519")
    assert key["id"] in fake.ssh_keys
    listed = await gpcn("ssh-keys", "list")
    assert listed.code == 0
    assert listed.out.splitlines()[0].split() == ["ID", "NAME", "ALGORITHM", "CREATED"]
    assert f"{key['id']}  laptop" in listed.out
    renamed = await gpcn("--json", "ssh-keys", "rename", key["id"], "laptop 2")
    assert renamed.json()["name"] == "laptop 2"
    deleted = await gpcn("ssh-keys", "delete", key["id"], "--json")
    assert deleted.json() == {"id": key["id"], "deleted": True}
    assert fake.ssh_keys == {}
    empty = await gpcn("ssh-keys", "list", "--json")
    assert empty.json() == []


async def test_generate_writes_a_new_0600_file_and_never_shows_the_key(
    fake: FakeGPCN, gpcn: Any, tmp_path: Path
) -> None:
    """Generate writes the private key to a new 0600 file only; an existing file stops it unsent."""
    target = tmp_path / "ci.pem"
    done = await gpcn("ssh-keys", "generate", "ci", "--private-key-file", str(target), "--json")
    assert done.code == 0, done.err
    private_key = target.read_text()
    assert private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    document = done.json()
    assert document["path"] == str(target)
    assert document["mode"] == "0600"
    assert document["key"]["algorithm"] == "ed25519"
    assert document["key"]["public_key"] == fake.ssh_keys[document["key"]["id"]].public_key
    requests = fake.count()
    again = await gpcn("ssh-keys", "generate", "ci-2", "--private-key-file", str(target))
    assert again.code == 1
    assert "already exists" in again.err
    assert fake.count() == requests  # refused before any request
    assert target.read_text() == private_key
    # No full line of an ed25519 key file lies within its public part alone.
    shown = done.out + done.err + again.out + again.err
    for line in private_key.splitlines()[1:-1]:
        assert line not in shown
    rsa = await gpcn(
        "ssh-keys", "generate", "big", "--algorithm", "rsa-4096", "--private-key-file",
        str(tmp_path / "big.pem"), "--json",
    )  # fmt: skip
    assert rsa.json()["key"]["algorithm"] == "rsa-4096"
    assert fake.requests_to("POST", "/resource/ssh-keys")[-1].json["algorithm"] == "rsa-4096"


async def test_bad_ssh_key_input_is_a_usage_error_before_any_request(
    fake: FakeGPCN, gpcn: Any, tmp_path: Path
) -> None:
    """A bad name, a private key given as the public one, a missing file: exit 2 or 1, unsent."""
    secret = tmp_path / "id_ed25519"
    secret.write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nU0VDUkVU\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    bad_name = await gpcn("ssh-keys", "create", "laptop-", "--public-key-file", str(secret))
    private = await gpcn("ssh-keys", "create", "laptop", "--public-key-file", str(secret))
    missing = await gpcn("ssh-keys", "create", "laptop", "--public-key-file", str(tmp_path / "no"))
    assert (bad_name.code, private.code, missing.code) == (2, 2, 1)
    assert "name may contain only" in bad_name.err
    assert "private key" in private.err
    assert "U0VDUkVU" not in private.err + private.out
    assert "cannot read" in missing.err
    assert fake.count() == 0


async def test_ssh_key_api_errors_exit_1(fake: FakeGPCN, gpcn: Any) -> None:
    """A taken name (409) and an unknown key (404) exit 1 with one error line."""
    fake.add_ssh_key("laptop", PUBLIC)
    taken = await gpcn("ssh-keys", "generate", "laptop", "--private-key-file", "/nonexistent/x")
    assert taken.code == 1  # the folder is checked before anything is sent
    assert "is not a folder" in taken.err
    missing = await gpcn("ssh-keys", "delete", "00000000-0000-4000-8000-00000000dead")
    assert missing.code == 1
    assert missing.err.startswith("gpcn: error: HTTP 404")
    assert fake.count("POST", "/resource/ssh-keys") == 0


async def test_datacenters_lists_them_all_or_only_gpu_ones(fake: FakeGPCN, gpcn: Any) -> None:
    """`datacenters` shows every one as a table; `--gpu --json` only those with GPUs."""
    everything = await gpcn("datacenters")
    assert everything.code == 0
    header, *rows = everything.out.splitlines()
    assert header.split() == ["ID", "NAME", "CODE", "REGION", "COUNTRY", "GPU", "VPC", "L2"]
    assert len(rows) == len(fake.datacenters) + 2
    gpus = await gpcn("datacenters", "--gpu", "--json")
    assert [dc["id"] for dc in gpus.json()] == [spec.id for spec in fake.datacenters]
    assert all(dc["gpu_enabled"] for dc in gpus.json())
    assert fake.requests[-1].query["gpuEnabled"] == "true"


async def test_auth_status_shows_the_key_and_exits_0(fake: FakeGPCN, gpcn: Any) -> None:
    """`auth status` prints kind, name, expiry and permissions; a near expiry gets a note."""
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    fake.set_credential(name="ci", expires_at=soon, permissions=["gpu:read", "ssh-key:read"])
    shown = await gpcn("auth", "status")
    assert shown.code == 0, shown.err
    lines = dict(line.split(None, 1) for line in shown.out.splitlines())
    assert lines["kind"] == "api_key"
    assert lines["name"] == "ci"
    assert lines["expires"] == soon.isoformat()
    assert lines["permissions"] == "gpu:read, ssh-key:read"
    assert "expires soon" in shown.err
    as_json = await gpcn("auth", "status", "--json")
    assert as_json.json()["credential"]["expires_at"] == soon.isoformat()
    assert as_json.json()["grants"]["permissions"] == ["gpu:read", "ssh-key:read"]
    assert fake.api_key not in shown.out + shown.err + as_json.out


async def test_auth_status_exits_1_with_the_causes_for_a_rejected_key(gpcn: Any) -> None:
    """A rejected key exits 1 with one error line listing the likely causes, never the key."""
    rejected = await gpcn("auth", "status", api_key="gpcn_revoked_key_0123456789")
    assert rejected.code == 1
    assert rejected.out == ""
    [line] = rejected.err.splitlines()
    assert line.startswith("gpcn: error: HTTP 401")
    assert "likely causes: the key was revoked, has expired or is disabled" in line
    assert "revoked_key_0123456789" not in line


@pytest.mark.parametrize("dialect", ["reference"])
async def test_auth_status_runs_as_a_real_process(fake: FakeGPCN) -> None:
    """`python -m gpcn_async --json auth status` in a process of its own prints the status."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gpcn_async", "--json", "auth", "status",
        env={"GPCN_API_KEY": fake.api_key, "GPCN_BASE_URL": fake.url, "PATH": ""},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, err.decode()
    assert json.loads(out)["credential"]["kind"] == "api_key"
