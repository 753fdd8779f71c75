"""The fake's account endpoints on the wire: SSH keys, data centers and the auth check."""

from __future__ import annotations

import asyncio
import base64
import shutil
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gpcn_async.testing import FakeGPCN
from tests.fake.fake_support import DIALECTS, Answer, Wire, running

ED25519 = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"
)
KEYS = "/resource/ssh-keys"
DATACENTERS = "/resource/data-centers"
NAME_RULE = (
    "Name may contain only letters, numbers, spaces, periods, hyphens, and the symbols _ ( ) ' #, "
    "and must begin and end with a letter or number"
)


def issues(answer: Answer) -> list[str]:
    """The validation messages of an error answer in either dialect."""
    error = answer.body["error"]
    if isinstance(error, str):
        return [answer.body["message"]]
    return [issue["message"] for issue in error["details"]["issues"]]


async def upload(wire: Wire, name: str, key: str = ED25519) -> Answer:
    """``POST /resource/ssh-keys`` an upload."""
    return await wire.post(KEYS, {"name": name, "type": "upload", "publicKey": key})


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_upload_answers_201_with_the_id_only_in_the_reference(dialect: str) -> None:
    """An upload answers 201: the reference with ``{id}`` only, the guide with the whole key."""
    async with running(dialect=dialect) as (fake, wire):
        answer = await upload(wire, "laptop")
        got = await wire.get(f"{KEYS}/{answer.data['id']}")
    assert answer.status == 201
    key_id = answer.data["id"]
    if dialect == "reference":
        assert answer.data == {"id": key_id}
    else:
        assert answer.data["name"] == "laptop"
    assert got.status == 200
    assert got.data["publicKey"] == ED25519
    assert got.data["algorithm"] == "ed25519"
    assert ("type" in got.data) == (dialect == "reference")
    assert fake.ssh_keys[key_id].name == "laptop"


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_names_are_trimmed_then_checked_with_the_vendors_messages(dialect: str) -> None:
    """The server trims a name, then refuses it with the vendor's own texts (400 or 422)."""
    async with running(dialect=dialect) as (fake, wire):
        refused = [
            await upload(wire, "   "),
            await upload(wire, "a" * 31),
            await upload(wire, "-demo-key"),
            await upload(wire, "café"),
            await upload(wire, "\u0085key"),
        ]
        trimmed = await upload(wire, "\ufeff demo-key \t")
    status = 400 if dialect == "guide" else 422
    assert [answer.status for answer in refused] == [status] * 5
    expected = ["Name is required", "Name must be at most 30 characters", *[NAME_RULE] * 3]
    for answer, message in zip(refused, expected, strict=True):
        assert any(message in text for text in issues(answer)), answer.text
    assert trimmed.status == 201
    assert [key.name for key in fake.ssh_keys.values()] == ["demo-key"]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_taken_name_is_409_and_a_bad_body_is_refused(dialect: str) -> None:
    """A second key of the same name is 409; a bad public key or type is a validation error."""
    async with running(dialect=dialect) as (fake, wire):
        first = await upload(wire, "laptop")
        again = await upload(wire, "laptop")
        bad_key = await upload(wire, "other", "not a key!")
        bad_type = await wire.post(KEYS, {"name": "x", "type": "import", "publicKey": ED25519})
    assert first.status == 201
    assert again.status == 409
    assert "already exists" in again.body["message"]
    assert bad_key.status == bad_type.status == (400 if dialect == "guide" else 422)
    assert len(fake.ssh_keys) == 1


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("algorithm", ["ed25519", "ecdsa-p256", "rsa-2048", "rsa-4096"])
async def test_generate_returns_the_private_key_once(dialect: str, algorithm: str) -> None:
    """A generation answers the OpenSSH private key once; the library keeps the public key only."""
    async with running(dialect=dialect) as (fake, wire):
        answer = await wire.post(KEYS, {"name": "ci", "type": "generate", "algorithm": algorithm})
        key_id = answer.data["id"]
        got = await wire.get(f"{KEYS}/{key_id}")
        listed = await wire.get(KEYS)
    assert answer.status == 201
    private_key = answer.data["privateKey"]
    assert private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    assert private_key.endswith("\n-----END OPENSSH PRIVATE KEY-----\n")
    body = base64.b64decode("".join(private_key.splitlines()[1:-1]))
    assert body.startswith(b"openssh-key-v1\x00")
    assert "privateKey" not in got.data
    assert "privateKey" not in listed.text
    assert got.data["algorithm"] == algorithm
    assert fake.ssh_keys[key_id].public_key.endswith(" ci")


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen")
@pytest.mark.parametrize("algorithm", ["ed25519", "ecdsa-p256"])
async def test_a_generated_key_is_a_real_pair_for_ssh_keygen(
    algorithm: str, tmp_path: Path
) -> None:
    """ssh-keygen reads the generated private key and derives the library's public key from it."""
    async with running() as (fake, wire):
        answer = await wire.post(KEYS, {"name": "ci", "type": "generate", "algorithm": algorithm})
    path = tmp_path / "key"
    path.write_text(answer.data["privateKey"])
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    process = await asyncio.create_subprocess_exec(
        "ssh-keygen", "-y", "-f", str(path), stdout=asyncio.subprocess.PIPE
    )
    derived, _ = await asyncio.wait_for(process.communicate(), timeout=10)
    assert process.returncode == 0
    assert derived.decode().strip() == fake.ssh_keys[answer.data["id"]].public_key


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_generate_checks_its_fields(dialect: str) -> None:
    """Generation needs a known algorithm and no public key; an upload takes no algorithm."""
    async with running(dialect=dialect) as (fake, wire):
        answers = [
            await wire.post(KEYS, {"name": "a", "type": "generate", "algorithm": "dsa"}),
            await wire.post(KEYS, {"name": "b", "type": "generate"}),
            await wire.post(
                KEYS,
                {"name": "c", "type": "generate", "algorithm": "ed25519", "publicKey": ED25519},
            ),
            await wire.post(
                KEYS, {"name": "d", "type": "upload", "publicKey": ED25519, "algorithm": "ed25519"}
            ),
        ]
    assert {answer.status for answer in answers} == {400 if dialect == "guide" else 422}
    assert fake.ssh_keys == {}


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_rename_delete_and_unknown_keys(dialect: str) -> None:
    """PUT renames (no data in the reference), DELETE answers 204, an unknown id 404."""
    async with running(dialect=dialect) as (fake, wire):
        key_id = fake.add_ssh_key("laptop")
        other = fake.add_ssh_key("desktop")
        renamed = await wire.put(f"{KEYS}/{key_id}", {"name": "laptop 2"})
        same = await wire.put(f"{KEYS}/{key_id}", {"name": "laptop 2"})
        taken = await wire.put(f"{KEYS}/{key_id}", {"name": "desktop"})
        deleted = await wire.delete(f"{KEYS}/{other}")
        missing = [
            await wire.get(f"{KEYS}/nope"),
            await wire.put(f"{KEYS}/nope", {"name": "x"}),
            await wire.delete(f"{KEYS}/{other}"),
        ]
    assert renamed.status == same.status == 200
    assert ("data" in renamed.body) == (dialect == "guide")
    assert fake.ssh_keys[key_id].name == "laptop 2"
    assert taken.status == 409
    assert deleted.status == 204
    assert other not in fake.ssh_keys
    assert [answer.status for answer in missing] == [404] * 3
    assert all(answer.body["message"] == "SSH key not found" for answer in missing)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_the_key_list_pages_in_the_reference_and_is_one_array_in_the_guide(
    dialect: str,
) -> None:
    """The reference pages the library with ``meta``; the guide sends it whole, without meta."""
    async with running(dialect=dialect) as (fake, wire):
        ids = [fake.add_ssh_key(f"key-{n}") for n in range(3)]
        first = await wire.get(KEYS, page="1", limit="2")
        second = await wire.get(KEYS + "/", page="2", limit="2")
    if dialect == "guide":
        assert "meta" not in first.body
        assert [key["id"] for key in first.data] == ids
        return
    assert [key["id"] for key in first.data + second.data] == ids
    assert first.body["meta"]["hasNextPage"] is True
    assert second.body["meta"] == {
        "total": 3,
        "page": 2,
        "pageSize": 2,
        "totalPages": 2,
        "hasNextPage": False,
        "hasPreviousPage": True,
    }


async def test_algorithms_lists_the_four_codes() -> None:
    """``GET /resource/ssh-keys/algorithms`` lists code, displayName and description."""
    async with running() as (_fake, wire):
        answer = await wire.get(KEYS + "/algorithms")
    assert [item["code"] for item in answer.data] == [
        "ed25519",
        "rsa-4096",
        "rsa-2048",
        "ecdsa-p256",
    ]
    assert set(answer.data[0]) == {"code", "displayName", "description"}


def test_add_ssh_key_checks_its_arguments() -> None:
    """``add_ssh_key`` refuses a duplicate name, a malformed key and an unknown algorithm."""
    fake = FakeGPCN()
    fake.add_ssh_key("laptop", ED25519)
    assert fake.ssh_keys[next(iter(fake.ssh_keys))].algorithm == "ed25519"
    with pytest.raises(ValueError, match="already"):
        fake.add_ssh_key("laptop")
    with pytest.raises(ValueError, match="public_key"):
        fake.add_ssh_key("other", "not-a-key")
    with pytest.raises(ValueError, match="algorithm"):
        fake.add_ssh_key("other", algorithm="dsa")


# -- data centers ----------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_datacenter_rows_use_each_dialects_names(dialect: str) -> None:
    """Rows carry the catalog's GPU datacenters and the others, named as the dialect names them."""
    async with running(dialect=dialect) as (fake, wire):
        answer = await wire.get(DATACENTERS, limit="100")
    rows = answer.data
    assert [row["name"] for row in rows] == [
        *(spec.name for spec in fake.datacenters),
        "Dallas 1",
        "Amsterdam 1",
    ]
    east = rows[0]
    assert (east["gpuEnabled"], rows[-1]["gpuEnabled"]) == (True, False)
    if dialect == "reference":
        assert (east["regionName"], east["countryAbbreviation"]) == ("US East", "US")
        assert (east["continentCode"], east["continentName"]) == ("NA", "North America")
        assert isinstance(east["regionId"], int)
    else:
        assert (east["region"], east["country"], east["countryAbbr"]) == (
            "US East",
            "United States",
            "US",
        )
    assert answer.body["meta"]["total"] == len(rows)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_datacenter_filters_apply_on_the_server(dialect: str) -> None:
    """Search, country, region and capability filters narrow the list; false means lacking."""
    async with running(dialect=dialect) as (fake, wire):
        fake.set_datacenter_capabilities(fake.datacenters[1].id, l2_capable=False)
        no_gpus = await wire.get(DATACENTERS, gpuEnabled="false")
        germany = await wire.get(DATACENTERS, countryName="germany")
        east = await wire.get(DATACENTERS, regionName="US East", search="east")
        no_l2 = await wire.get(DATACENTERS, l2Capable="false", gpuEnabled="true")
        bad = await wire.get(DATACENTERS, vpcCapable="yes")
    assert [row["name"] for row in no_gpus.data] == ["Dallas 1", "Amsterdam 1"]
    assert [row["name"] for row in germany.data] == ["EU Central 1"]
    assert [row["name"] for row in east.data] == ["US East 1"]
    assert [row["name"] for row in no_l2.data] == ["US West 2"]
    assert bad.status == (400 if dialect == "guide" else 422)


async def test_datacenters_page_and_scripted_ones_show() -> None:
    """The list pages with ``meta``; a datacenter added without GPUs shows as such."""
    async with running() as (fake, wire):
        added = fake.add_non_gpu_datacenter("Tokyo 1", country_abbr="JP", country="Japan")
        pages = [await wire.get(DATACENTERS, page=str(n), limit="2") for n in (1, 2, 3)]
    names = [row["name"] for page in pages for row in page.data]
    assert len(names) == 6
    assert names[-1] == "Tokyo 1"
    assert pages[2].body["meta"]["hasNextPage"] is False
    assert pages[2].data[-1]["id"] == added.id
    assert pages[2].data[-1]["continentName"] == "Asia"
    with pytest.raises(ValueError, match="unknown datacenter"):
        fake.set_datacenter_capabilities("nowhere", gpu_enabled=True)


# -- auth check ------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_auth_check_describes_the_key_it_accepts(dialect: str) -> None:
    """``GET /auth/check`` describes the fake's key; another key gets the dialect's 401."""
    async with running(dialect=dialect) as (fake, wire):
        expiry = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
        fake.set_credential(name="ci", expires_at=expiry, permissions=["gpu:read"])
        answer = await wire.get("/auth/check")
        rejected = await wire.call("GET", "/auth/check", key="gpcn_someone_else")
    data = answer.data
    assert data["authenticated"] is True
    credential = data["credential"]
    assert (credential["kind"], credential["name"]) == ("api_key", "ci")
    assert credential["keyStart"] == fake.api_key[:8]
    assert credential["expiresAt"].startswith("2030-01-02T03:04:05")
    assert data["grants"] == {
        "source": "api_key_role",
        "entityId": credential["entityId"],
        "permissions": ["gpu:read"],
    }
    assert rejected.status == 401
    assert fake.api_key not in answer.text.replace(fake.api_key[:8], "")


def test_set_credential_checks_its_arguments() -> None:
    """``set_credential`` refuses a naive expiry and an empty permission."""
    fake = FakeGPCN()
    with pytest.raises(ValueError, match="timezone-aware"):
        fake.set_credential(expires_at=datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="permission"):
        fake.set_credential(permissions=["gpu:read", ""])
