"""Decoding the account endpoints' bodies, and the argument checks of SSH keys (pure, no server)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gpcn_async import InvalidRequestError, ResponseDecodeError
from gpcn_async._convert import (
    structure_auth_status,
    structure_created_ssh_key,
    structure_datacenter_page,
    structure_inventory,
    structure_ssh_key_algorithms,
    structure_ssh_key_entry,
    structure_ssh_key_page,
)
from gpcn_async._validate import passphrase, public_key, ssh_key_algorithm, ssh_key_name
from gpcn_async.models import (
    AuthStatus,
    Credential,
    Datacenter,
    GeneratedSshKey,
    Grants,
    PageMeta,
    SshKeyAlgorithm,
    SshKeyEntry,
)

KEY_ID = "8974f992-b7e1-415e-9dba-7a3a5f664c4a"
PUBLIC = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"
)
PRIVATE = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nU0VDUkVULU1BVEVSSUFM\n-----END OPENSSH PRIVATE KEY-----\n"
)
T0 = datetime(2026, 3, 18, 12, 0, tzinfo=UTC)
META = {
    "total": 1,
    "page": 1,
    "pageSize": 100,
    "totalPages": 1,
    "hasNextPage": False,
    "hasPreviousPage": False,
}

# gpcn-api-account.md §4.1: the vendor's data-center fixture, verbatim.
LIST_ROW = {
    "id": "dc-1",
    "name": "Chicago",
    "code": "dc-1",
    "regionId": 1,
    "regionName": "alpharegion",
    "countryId": "11111111-1111-1111-1111-111111111111",
    "countryName": "United States",
    "countryAbbreviation": "US",
    "continentCode": "NA",
    "continentName": "North America",
    "gpuEnabled": True,
    "vpcCapable": True,
    "customImages": True,
    "l2Capable": True,
}
CHICAGO = Datacenter(
    id="dc-1",
    name="Chicago",
    code="dc-1",
    region="alpharegion",
    country="United States",
    country_code="US",
    continent="North America",
    gpu_enabled=True,
    vpc_capable=True,
    l2_capable=True,
    custom_images=True,
)


def test_a_data_center_list_row_decodes_every_field() -> None:
    """The vendor's list row fills every Datacenter field; its meta is the page's meta."""
    page = structure_datacenter_page([LIST_ROW], META)
    assert page.items == [CHICAGO]
    assert page.meta == PageMeta(1, 1, 100, 1, has_next_page=False, has_previous_page=False)


def test_the_vm_summary_names_map_to_the_same_fields() -> None:
    """``region``, ``country``, ``countryAbbr`` (the summary in VMs) are the list's fields too."""
    row = {"id": "dc-1", "name": "Chicago", "region": "East", "country": "USA", "countryAbbr": "US"}
    [datacenter] = structure_datacenter_page([row], None).items
    assert (datacenter.region, datacenter.country, datacenter.country_code) == ("East", "USA", "US")
    assert datacenter.gpu_enabled is None
    assert datacenter.continent is None


def test_an_inventory_datacenter_is_the_same_class_with_the_rest_none() -> None:
    """Offers carry a Datacenter with id, name and code; the list's fields are None."""
    inventory = structure_inventory(
        [
            {
                "seriesId": 1,
                "seriesName": "A100",
                "seriesCode": "a100",
                "availability": [
                    {"datacenterId": "dc-1", "datacenterName": "Chicago", "gpuCounts": {"1": {}}}
                ],
            }
        ]
    )
    [offer] = inventory.offers()
    assert offer.datacenter == Datacenter(id="dc-1", name="Chicago")


def test_a_list_without_meta_is_one_whole_page() -> None:
    """A bare array (no ``meta``) is taken as the whole list: one page, no next page."""
    page = structure_ssh_key_page([{"id": KEY_ID, "name": "laptop"}], None)
    assert page.items == [SshKeyEntry(KEY_ID, "laptop")]
    assert page.meta.has_next_page is False
    assert page.meta.total == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {
                "id": KEY_ID,
                "name": "laptop-ed25519",
                "publicKey": PUBLIC,
                "algorithm": "ed25519",
                "type": "upload",
                "createdAt": "2026-03-18T12:00:00Z",
                "updatedAt": "2026-03-18T12:00:00.000Z",
            },
            SshKeyEntry(KEY_ID, "laptop-ed25519", PUBLIC, "ed25519", T0, T0),
            id="generate-era",
        ),
        pytest.param(
            {"id": KEY_ID, "name": "k", "publicKey": PUBLIC, "createdAt": "2026-03-18T12:00:00Z"},
            SshKeyEntry(KEY_ID, "k", PUBLIC, created_at=T0),
            id="upload-only",
        ),
        pytest.param(
            {"id": KEY_ID, "name": "k", "algorithm": "rsa-8192", "type": "generate"},
            SshKeyEntry(KEY_ID, "k", algorithm="rsa-8192"),
            id="no-public-key-unknown-algorithm",
        ),
    ],
)
def test_ssh_key_entries_of_every_vendor_era_decode(body: dict[str, Any], expected: Any) -> None:
    """Each vendor era's key decodes; absent fields are None, unknown algorithms kept."""
    assert structure_ssh_key_entry(body) == expected


def test_a_created_key_answer_gives_the_id_and_says_whether_to_read_back() -> None:
    """``{id}`` alone has no name (read it back); a whole key has one; generate needs privateKey."""
    bare = structure_created_ssh_key({"id": KEY_ID}, generated=False)
    assert (bare.id, bare.name, bare.private_key) == (KEY_ID, None, "")
    whole = structure_created_ssh_key({"id": KEY_ID, "name": "k"}, generated=False)
    assert whole.name == "k"
    generated = structure_created_ssh_key({"id": KEY_ID, "privateKey": PRIVATE}, generated=True)
    assert generated.private_key == PRIVATE
    assert PRIVATE not in repr(generated)
    with pytest.raises(ResponseDecodeError, match="private_key"):
        structure_created_ssh_key({"id": KEY_ID}, generated=True)


@pytest.mark.parametrize(
    "body",
    [
        {"privateKey": PRIVATE},
        {"id": 7, "privateKey": PRIVATE},
        {"id": KEY_ID, "privateKey": ["-----BEGIN OPENSSH PRIVATE KEY-----\nU0VDUkVU"]},
        {"id": KEY_ID, "name": 5, "privateKey": PRIVATE},
    ],
)
def test_an_unreadable_generate_answer_never_shows_the_private_key(body: dict[str, Any]) -> None:
    """A bad answer to a generation raises an error that shows nothing of the body."""
    with pytest.raises(ResponseDecodeError) as caught:
        structure_created_ssh_key(body, generated=True)
    error = caught.value
    assert caught.value.__cause__ is None
    for text in (str(error), repr(error), error.snippet):
        assert "U0VDUkVU" not in text


def test_generated_ssh_key_hides_its_private_key() -> None:
    """GeneratedSshKey's repr and str show ``<redacted>``, never the key."""
    generated = GeneratedSshKey(SshKeyEntry(KEY_ID, "k"), PRIVATE)
    for text in (repr(generated), str(generated), f"{generated}"):
        assert "<redacted>" in text
        assert "U0VDUkVU" not in text


def test_algorithms_decode() -> None:
    """The algorithms route decodes code, displayName and description."""
    data = [{"code": "ed25519", "displayName": "ED25519", "description": "recommended"}]
    assert structure_ssh_key_algorithms(data) == [
        SshKeyAlgorithm("ed25519", "ED25519", "recommended")
    ]
    with pytest.raises(ResponseDecodeError):
        structure_ssh_key_algorithms({"code": "ed25519"})


def test_the_vendors_auth_check_answer_decodes() -> None:
    """Credential and grants (gpcn-api-account.md §5) decode with their nullable fields."""
    data = {
        "authenticated": True,
        "credential": {
            "kind": "api_key",
            "id": "key-1",
            "name": "terraform",
            "keyStart": "gpcn_abc",
            "entityId": "entity-on-the-credential",
            "expiresAt": None,
        },
        "grants": {
            "source": "api_key_role",
            "entityId": "entity-on-the-grants",
            "permissions": ["virtual-machine:read", "virtual-machine:create"],
        },
    }
    assert structure_auth_status(data) == AuthStatus(
        authenticated=True,
        credential=Credential(
            "api_key", "key-1", "terraform", "gpcn_abc", "entity-on-the-credential"
        ),
        grants=Grants(
            "api_key_role",
            "entity-on-the-grants",
            ("virtual-machine:read", "virtual-machine:create"),
        ),
    )


def test_the_hubs_session_shape_decodes_without_credential_or_grants() -> None:
    """The hub's answer (``authenticated`` and ``user``) decodes, credential and grants None."""
    data = {"authenticated": True, "user": {"id": "u-1", "email": "a@example.com"}}
    assert structure_auth_status(data) == AuthStatus(authenticated=True)


@pytest.mark.parametrize(
    "data",
    [
        {"authenticated": "yes"},
        {"authenticated": True, "grants": {"permissions": "gpu:read"}},
        {"authenticated": True, "credential": {"kind": "api_key", "id": "k", "expiresAt": "soon"}},
    ],
)
def test_a_malformed_auth_check_answer_is_a_decode_error(data: dict[str, Any]) -> None:
    """A wrong type anywhere (a string for the permissions array too) is ResponseDecodeError."""
    with pytest.raises(ResponseDecodeError):
        structure_auth_status(data)


# -- argument checks -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["terraform-demo-key", "key_(one)'s #1", "a" * 30, "x", "A 1"])
def test_ssh_key_names_the_server_accepts_pass(name: str) -> None:
    """The vendor's accepted examples pass unchanged."""
    assert ssh_key_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "-demo-key",
        "demo-key-",
        "a" * 31,
        " demo-key",
        "demo-key ",
        "",
        "café",
        "café-key",
        "\ufeffdemo-key",
        "\u0085demo-key",
        "demo\nkey",
        None,
        5,
    ],
)
def test_ssh_key_names_the_server_refuses_are_invalid(name: object) -> None:
    """The vendor's refused examples (and non-strings) raise InvalidRequestError naming name."""
    with pytest.raises(InvalidRequestError, match=r"^name "):
        ssh_key_name(name)


def test_a_public_key_is_one_openssh_line_without_its_final_newline() -> None:
    """A .pub file's text is accepted without its final newline."""
    assert public_key(PUBLIC + "\n") == PUBLIC
    assert public_key("ecdsa-sha2-nistp256 AAAAE2VjZHNh") == "ecdsa-sha2-nistp256 AAAAE2VjZHNh"


@pytest.mark.parametrize(
    "value", ["", "ssh-ed25519", "ssh-ed25519 not-base64!", PUBLIC + "\n" + PUBLIC, "AAAA", 7]
)
def test_a_malformed_public_key_is_invalid(value: object) -> None:
    """A key that is not ``<type> <base64> [comment]`` on one line raises naming public_key."""
    with pytest.raises(InvalidRequestError, match=r"^public_key "):
        public_key(value)


def test_a_private_key_given_as_public_key_is_refused_unquoted() -> None:
    """A private key passed by mistake is refused, and the message does not quote it."""
    with pytest.raises(InvalidRequestError, match="private key") as caught:
        public_key(PRIVATE)
    assert "U0VDUkVU" not in str(caught.value)


def test_algorithms_and_passphrases_are_checked() -> None:
    """Only the four algorithms pass; a bad passphrase is refused without being shown."""
    assert [ssh_key_algorithm(a) for a in ("ed25519", "rsa-2048", "rsa-4096", "ecdsa-p256")]
    with pytest.raises(InvalidRequestError, match="algorithm must be one of"):
        ssh_key_algorithm("dsa")
    assert passphrase(None) is None
    assert passphrase("hunter2") == "hunter2"
    for bad in ("", b"hunter2"):
        with pytest.raises(InvalidRequestError, match="passphrase") as caught:
            passphrase(bad)
        assert "hunter2" not in str(caught.value)
