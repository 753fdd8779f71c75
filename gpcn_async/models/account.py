"""Account models: the SSH-key library and what the auth check says about the API key.

These classes hold data only. How the wire maps onto them lives in ``gpcn_async._convert``.
"""

from datetime import datetime

import attrs

from gpcn_async.models._common import Model, secret

__all__ = [
    "AuthStatus",
    "Credential",
    "GeneratedSshKey",
    "Grants",
    "SshKeyAlgorithm",
    "SshKeyEntry",
]


@attrs.frozen
class SshKeyEntry(Model):
    """An SSH public key in the account's library (pass its id as ``ssh_key_id``).

    Attributes:
        id: the key's id, a UUID.
        name: its name in the library.
        public_key: the OpenSSH public key (``ssh-ed25519 AAAA... comment``), when sent.
        algorithm: its algorithm (``"ed25519"``, ``"rsa-4096"``...), when sent; a value this
            SDK does not know is kept as it is.
        created_at: when it was added.
        updated_at: when it last changed.
    """

    id: str
    name: str
    public_key: str | None = None
    algorithm: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@attrs.frozen
class GeneratedSshKey(Model):
    """A key pair the server generated: the library entry and its private key.

    The API shows the private key once, in the answer to the generation, and never again.
    It is a secret: ``repr()`` and ``str()`` show ``<redacted>`` in its place. Read
    ``private_key`` only to write it where it belongs (a file with mode 0600, an agent).

    Attributes:
        key: the new entry of the library.
        private_key: the OpenSSH private key, in PEM-like text form.
    """

    key: SshKeyEntry
    private_key: str = secret()


@attrs.frozen
class SshKeyAlgorithm(Model):
    """An algorithm the server can generate key pairs with.

    Attributes:
        code: what ``generate(algorithm=...)`` takes, such as ``"ed25519"``.
        display_name: its label, such as ``"ED25519"``, when sent.
        description: a short description, when sent.
    """

    code: str
    display_name: str | None = None
    description: str | None = None


@attrs.frozen
class Credential(Model):
    """The credential a request was made with, as the auth check describes it.

    Attributes:
        kind: ``"api_key"`` for an API key (``"session"`` for a browser session).
        id: the credential's id.
        name: the API key's name, when it has one.
        key_start: the first characters of the key (``"gpcn_abc"``), to tell keys apart.
        entity_id: the entity (tenant) the credential belongs to.
        expires_at: when the key expires; None when it does not.
    """

    kind: str
    id: str
    name: str | None = None
    key_start: str | None = None
    entity_id: str | None = None
    expires_at: datetime | None = None


@attrs.frozen
class Grants(Model):
    """What the credential may do, as the auth check describes it.

    A permission missing from ``permissions`` is a reliable refusal; one present may still be
    narrowed by a particular route.

    Attributes:
        source: where the grants come from, such as ``"api_key_role"``.
        entity_id: the entity (tenant) every call acts in.
        permissions: ``"<resource>:<action>"`` strings, such as ``"virtual-machine:read"``.
    """

    source: str | None = None
    entity_id: str | None = None
    permissions: tuple[str, ...] = ()


@attrs.frozen
class AuthStatus(Model):
    """What ``gpcn.auth_check()`` learnt about the API key.

    Attributes:
        authenticated: whether the server accepted the key.
        credential: the key's kind, name and lifetime, when the server describes them.
        grants: what the key may do, when the server describes it.
    """

    authenticated: bool
    credential: Credential | None = None
    grants: Grants | None = None
