"""gpcn.ssh_keys over real HTTP, in both dialects: every call, checks, and lost answers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from gpcn_async import (
    Client,
    ConflictError,
    GeneratedSshKey,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    SshKeyAlgorithm,
)
from gpcn_async.testing import FakeGPCN

PUBLIC = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"
)
KEYS = "/resource/ssh-keys"


async def test_create_uploads_the_key_and_reads_it_back_when_needed(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """create() sends name, type and the stripped key; it GETs the key only after a bare id."""
    entry = await gpcn.ssh_keys.create("laptop", public_key=PUBLIC + "\n")
    [post] = fake.requests_to("POST", KEYS)
    assert post.json == {"name": "laptop", "type": "upload", "publicKey": PUBLIC}
    assert (entry.name, entry.public_key, entry.algorithm) == ("laptop", PUBLIC, "ed25519")
    assert entry.id in fake.ssh_keys
    assert entry.created_at is not None
    read_back = fake.count("GET", f"{KEYS}/{entry.id}")
    assert read_back == (1 if fake.dialect == "reference" else 0)


@pytest.mark.parametrize("algorithm", ["ed25519", "rsa-4096"])
async def test_generate_returns_the_entry_and_the_private_key_once(
    fake: FakeGPCN, gpcn: Client, algorithm: str
) -> None:
    """generate() returns the new entry and its private key; a passphrase is sent only if given."""
    plain = await gpcn.ssh_keys.generate("ci-runner", algorithm=algorithm)
    locked = await gpcn.ssh_keys.generate("locked", passphrase="hunter2")
    sent = [request.json for request in fake.requests_to("POST", KEYS)]
    assert sent == [
        {"name": "ci-runner", "type": "generate", "algorithm": algorithm},
        {"name": "locked", "type": "generate", "algorithm": "ed25519", "passphrase": "hunter2"},
    ]
    assert isinstance(plain, GeneratedSshKey)
    assert plain.private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    assert plain.private_key != locked.private_key
    assert plain.key.public_key == fake.ssh_keys[plain.key.id].public_key
    assert plain.key.algorithm == algorithm
    assert plain.private_key not in repr(plain) + str(plain)
    assert (await gpcn.ssh_keys.get(plain.key.id)) == plain.key


async def test_list_get_rename_delete_and_algorithms(fake: FakeGPCN, gpcn: Client) -> None:
    """The library lists in order, renames (re-read when the answer is bare) and deletes."""
    first = fake.add_ssh_key("laptop", PUBLIC)
    second = fake.add_ssh_key("desktop", algorithm="ecdsa-p256")
    listed = await gpcn.ssh_keys.list()
    assert [(key.id, key.name) for key in listed] == [(first, "laptop"), (second, "desktop")]
    assert listed[1].algorithm == "ecdsa-p256"
    renamed = await gpcn.ssh_keys.rename(first, name="laptop 2")
    assert (renamed.id, renamed.name) == (first, "laptop 2")
    assert fake.ssh_keys[first].name == "laptop 2"
    assert fake.count("GET", f"{KEYS}/{first}") == (1 if fake.dialect == "reference" else 0)
    await gpcn.ssh_keys.delete(second)
    assert second not in fake.ssh_keys
    with pytest.raises(NotFoundError):
        await gpcn.ssh_keys.get(second)
    with pytest.raises(NotFoundError):
        await gpcn.ssh_keys.delete(second)
    algorithms = await gpcn.ssh_keys.algorithms()
    assert algorithms[0] == SshKeyAlgorithm(
        "ed25519", "ED25519", "Modern elliptic curve; recommended"
    )
    assert [algorithm.code for algorithm in algorithms] == [
        "ed25519",
        "rsa-4096",
        "rsa-2048",
        "ecdsa-p256",
    ]


async def test_list_reads_every_page(fake: FakeGPCN, gpcn: Client) -> None:
    """105 keys come whole: two pages of 100 in the reference, one bare array in the guide."""
    ids = [fake.add_ssh_key(f"key-{n:03d}", PUBLIC) for n in range(105)]
    listed = await gpcn.ssh_keys.list()
    assert [key.id for key in listed] == ids
    requests = fake.requests_to("GET", KEYS)
    assert [request.query for request in requests][:1] == [{"page": "1", "limit": "100"}]
    assert len(requests) == (2 if fake.dialect == "reference" else 1)


async def test_a_taken_name_is_a_conflict(fake: FakeGPCN, gpcn: Client) -> None:
    """Upload, generation and rename to a name the library has raise ConflictError (409)."""
    fake.add_ssh_key("laptop", PUBLIC)
    other = fake.add_ssh_key("desktop")
    calls: list[Awaitable[Any]] = [
        gpcn.ssh_keys.create("laptop", public_key=PUBLIC),
        gpcn.ssh_keys.generate("laptop"),
        gpcn.ssh_keys.rename(other, "laptop"),
    ]
    for call in calls:
        with pytest.raises(ConflictError) as caught:
            await call
        assert caught.value.status == 409
    assert len(fake.ssh_keys) == 2


BAD_CALLS: dict[str, tuple[Callable[[Client], Awaitable[Any]], str]] = {
    "name-too-long": (lambda g: g.ssh_keys.create("a" * 31, public_key=PUBLIC), "name"),
    "name-outer-blank": (lambda g: g.ssh_keys.create(" laptop", public_key=PUBLIC), "name"),
    "name-accent": (lambda g: g.ssh_keys.generate("café"), "name"),
    "name-symbol-end": (lambda g: g.ssh_keys.rename("k-1", "laptop-"), "name"),
    "public-key-one-word": (
        lambda g: g.ssh_keys.create("k", public_key="ssh-ed25519"),
        "public_key",
    ),
    "public-key-two-lines": (
        lambda g: g.ssh_keys.create("k", public_key=PUBLIC + "\n" + PUBLIC),
        "public_key",
    ),
    "algorithm": (lambda g: g.ssh_keys.generate("k", algorithm="dsa"), "algorithm"),
    "passphrase": (lambda g: g.ssh_keys.generate("k", passphrase=""), "passphrase"),
    "key-id-route": (lambda g: g.ssh_keys.get("algorithms"), "key_id"),
    "key-id-path": (lambda g: g.ssh_keys.delete("a/../b"), "key_id"),
}


@pytest.mark.parametrize(("call", "field"), BAD_CALLS.values(), ids=BAD_CALLS.keys())
async def test_bad_arguments_raise_before_any_request(
    fake: FakeGPCN, gpcn: Client, call: Callable[[Client], Awaitable[Any]], field: str
) -> None:
    """A bad name, key, algorithm, passphrase or id raises InvalidRequestError naming it, unsent."""
    with pytest.raises(InvalidRequestError, match=rf"^{field} "):
        await call(gpcn)
    assert fake.count() == 0


async def test_a_generation_whose_read_back_fails_keeps_the_private_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When reading the new entry back fails, the private key is still returned, never logged."""
    caplog.set_level(logging.DEBUG)
    async with FakeGPCN(dialect="reference") as fake, fake.client() as gpcn:
        fake.inject("GET", f"{KEYS}/*", status=404)
        generated = await gpcn.ssh_keys.generate("ci-runner", algorithm="ecdsa-p256")
    assert generated.key.id in fake.ssh_keys
    assert (generated.key.name, generated.key.algorithm) == ("ci-runner", "ecdsa-p256")
    assert generated.key.public_key is None
    assert generated.private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert "could not be read back" in caplog.text
    for line in generated.private_key.splitlines()[1:-1]:
        assert line not in caplog.text


async def test_no_private_key_in_logs_or_reprs_while_generating(
    dialect: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Generating with retried reads at DEBUG logs and shows nothing of the private key."""
    caplog.set_level(logging.DEBUG)
    async with FakeGPCN(dialect=dialect) as fake, fake.client() as gpcn:
        fake.inject("GET", f"{KEYS}/*", status=503)
        fake.inject("GET", KEYS, status=503)
        generated = await gpcn.ssh_keys.generate("ci-runner")
        listed = await gpcn.ssh_keys.list()
    shown = "\n".join([caplog.text, repr(generated), str(generated), repr(listed)])
    assert "retrying" in caplog.text  # the faults were met and logged: the check is not vacuous
    for line in generated.private_key.splitlines()[1:-1]:
        assert line not in shown


@pytest.mark.parametrize(
    ("body", "generated"),
    [
        pytest.param({"success": True, "data": {"name": "no id"}}, False, id="create-no-id"),
        pytest.param({"success": True, "data": {"id": "k-1"}}, True, id="generate-no-private-key"),
    ],
)
async def test_an_unreadable_answer_to_an_accepted_key_is_an_unknown_outcome(
    dialect: str, body: dict[str, Any], *, generated: bool
) -> None:
    """A 2xx that lacks what the caller needs raises OutcomeUnknownError naming the key."""
    async with FakeGPCN(dialect=dialect) as fake, fake.client() as gpcn:
        fake.inject("POST", KEYS, status=201, body=body, after_commit=True)
        call = (
            gpcn.ssh_keys.generate("ci")
            if generated
            else gpcn.ssh_keys.create("ci", public_key=PUBLIC)
        )
        with pytest.raises(OutcomeUnknownError, match=r"accepted it.*the SSH key 'ci'"):
            await call
        assert fake.count("POST", KEYS) == 1
        assert len(fake.ssh_keys) == 1


# -- never sent twice --------------------------------------------------------------------------

LOST: dict[str, dict[str, Any]] = {
    "dropped-before-acting": {"disconnect": True},
    "dropped-after-acting": {"disconnect": True, "after_commit": True},
    "500-after-acting": {"status": 500, "after_commit": True},
    "502": {"status": 502},
    "slow-past-timeout": {"delay": 0.3},
}


def never_resent(fake: FakeGPCN) -> dict[str, tuple[str, str, Callable[[Client], Awaitable[Any]]]]:
    """Each call that is never re-sent: the method and path to fault, and the call."""
    key_id = fake.add_ssh_key("old-key", PUBLIC)
    return {
        "create": ("POST", KEYS, lambda g: g.ssh_keys.create("laptop", public_key=PUBLIC)),
        "generate": ("POST", KEYS, lambda g: g.ssh_keys.generate("laptop")),
        "delete": ("DELETE", f"{KEYS}/{key_id}", lambda g: g.ssh_keys.delete(key_id)),
    }


@pytest.mark.parametrize("call", ["create", "generate", "delete"])
@pytest.mark.parametrize("fault", LOST)
async def test_a_lost_answer_is_an_unknown_outcome_sent_once(
    dialect: str, call: str, fault: str
) -> None:
    """Upload, generation and deletion meet a lost answer once: OutcomeUnknownError, one request."""
    async with FakeGPCN(dialect=dialect) as fake:
        method, path, action = never_resent(fake)[call]
        key_id = next(iter(fake.ssh_keys))
        fake.inject(method, path, **LOST[fault])
        async with fake.client(timeout=0.1) as gpcn:
            with pytest.raises(OutcomeUnknownError) as caught:
                await action(gpcn)
        assert fake.count(method, path) == 1
    error = caught.value
    if call == "delete":
        assert error.ids == (key_id,)
        assert key_id in str(error)
    else:
        assert "'laptop'" in str(error)
        assert "gpcn.ssh_keys.list()" in str(error)
        assert isinstance(error.__cause__, OutcomeUnknownError)


@pytest.mark.parametrize("call", ["create", "generate", "delete"])
async def test_a_429_is_sent_again_because_the_server_did_not_act(dialect: str, call: str) -> None:
    """A 429 means nothing happened: the call is sent again and succeeds."""
    async with FakeGPCN(dialect=dialect) as fake:
        method, path, action = never_resent(fake)[call]
        fake.inject(method, path, status=429, headers={"Retry-After": "0.01"})
        async with fake.client() as gpcn:
            await action(gpcn)
        assert fake.count(method, path) == 2
        assert len(fake.ssh_keys) == (0 if call == "delete" else 2)
