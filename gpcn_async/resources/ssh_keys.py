"""``gpcn.ssh_keys``: the account's library of SSH public keys.

A GPU create in the reference dialect (the live API) needs ``ssh_key_id``, the id of an entry
of this library: list the library, upload a public key, or have the server generate a pair.
"""

from __future__ import annotations

import builtins
import logging
from typing import Any

from gpcn_async import _convert, _validate
from gpcn_async._pagination import fetch_all
from gpcn_async._transport import Transport
from gpcn_async.errors import (
    GPCNError,
    InvalidRequestError,
    OutcomeUnknownError,
)
from gpcn_async.models import GeneratedSshKey, SshKeyAlgorithm, SshKeyEntry
from gpcn_async.models._created import CreatedSshKey

__all__ = ["SshKeysClient"]

logger = logging.getLogger("gpcn_async")

BASE = "/resource/ssh-keys"


class SshKeysClient:
    """The SSH-key library, reached as ``gpcn.ssh_keys``.

    Names and public keys are checked before anything is sent. An upload, a generation and a
    deletion are never sent twice: when one may have reached the server but no answer came,
    ``OutcomeUnknownError`` says so (naming the key) instead.
    """

    def __init__(self, transport: Transport) -> None:
        """Internal: made by ``Client``."""
        self._transport = transport

    async def list(self) -> list[SshKeyEntry]:
        """Every key of the library (all pages)."""
        return await fetch_all(
            self._transport, BASE, {}, _convert.structure_ssh_key_page, key=_entry_id
        )

    async def get(self, key_id: str) -> SshKeyEntry:
        """One key of the library by id.

        Raises:
            NotFoundError: no such key.
        """
        key_id = _key_id(key_id)
        response = await self._transport.request("GET", f"{BASE}/{key_id}")
        return response.decode(_convert.structure_ssh_key_entry)

    async def create(self, name: str, *, public_key: str) -> SshKeyEntry:
        """Upload an OpenSSH public key to the library under ``name``.

        The server detects the algorithm from the key. When its answer carries only the new
        key's id, the key is read back with one GET.

        Args:
            name: 1 to 30 characters: letters, digits, space and ``. - _ ( ) ' #``, beginning
                and ending with a letter or a digit.
            public_key: one line, ``<type> <base64> [comment]``, as in a ``.pub`` file (its
                final newline is dropped).

        Raises:
            InvalidRequestError: a bad name or public key (before any request).
            ConflictError: the name is taken (409).
            OutcomeUnknownError: the upload may or may not have happened; it was not sent
                again (look for ``name`` in ``list()``).
        """
        name = _validate.ssh_key_name(name)
        body = {"name": name, "type": "upload", "publicKey": _validate.public_key(public_key)}
        created, entry = await self._add(name, body, generated=False)
        return entry if entry is not None else await self.get(created.id)

    async def generate(
        self, name: str, *, algorithm: str = "ed25519", passphrase: str | None = None
    ) -> GeneratedSshKey:
        """Have the server generate a key pair, keep its public key, and return its private key.

        The private key is in this answer only: the API never shows it again. It is a secret
        (``repr``/``str`` show ``<redacted>``); write it to a file with mode 0600 at once.
        When the answer carries only the id, the entry is read back with one GET; should that
        read fail, the entry holds what is known (id, name, algorithm) rather than lose the
        private key.

        Args:
            name: the key's name (rules as for ``create``).
            algorithm: ``ed25519`` (recommended), ``rsa-2048``, ``rsa-4096`` or ``ecdsa-p256``.
            passphrase: encrypts the private key, when given.

        Raises:
            InvalidRequestError: a bad name, algorithm or passphrase (before any request).
            ConflictError: the name is taken (409).
            OutcomeUnknownError: the generation may or may not have happened; it was not sent
                again (look for ``name`` in ``list()``).
        """
        name = _validate.ssh_key_name(name)
        algorithm = _validate.ssh_key_algorithm(algorithm)
        body = {"name": name, "type": "generate", "algorithm": algorithm}
        secret = _validate.passphrase(passphrase)
        if secret is not None:
            body["passphrase"] = secret
        created, entry = await self._add(name, body, generated=True)
        if entry is None:
            try:
                entry = await self.get(created.id)
            except GPCNError as error:
                # The private key is shown once: a failed read must not make the caller lose it.
                logger.warning(
                    "generated SSH key %s (%r) could not be read back: %s", created.id, name, error
                )
                entry = SshKeyEntry(id=created.id, name=name, algorithm=algorithm)
        return GeneratedSshKey(key=entry, private_key=created.private_key)

    async def _add(
        self, name: str, body: dict[str, Any], *, generated: bool
    ) -> tuple[CreatedSshKey, SshKeyEntry | None]:
        """Send an upload or generation once: the answer's id (and key, when it has one)."""
        try:
            response = await self._transport.request("POST", BASE, json=body)
            created = response.decode(_convert.structure_created_ssh_key, generated=generated)
            if created.name is None:
                return created, None
            return created, response.decode(_convert.structure_ssh_key_entry)
        except OutcomeUnknownError as error:
            # Lost, or a 2xx without what the caller needs: the key may well exist.
            raise OutcomeUnknownError(
                f"{error.message}; it would have made the SSH key {name!r}: look for it with "
                "gpcn.ssh_keys.list() before trying again",
                ids=error.ids,
            ) from error

    async def rename(self, key_id: str, name: str) -> SshKeyEntry:
        """Give a key of the library another name; return the key as it is now.

        When the answer carries no key, it is read back with one GET.

        Raises:
            InvalidRequestError: a bad id or name (before any request).
            NotFoundError: no such key.
            ConflictError: the name is taken (409).
        """
        key_id = _key_id(key_id)
        name = _validate.ssh_key_name(name)
        response = await self._transport.request("PUT", f"{BASE}/{key_id}", json={"name": name})
        if isinstance(response.data, dict) and response.data:
            return response.decode(_convert.structure_ssh_key_entry)
        return await self.get(key_id)

    async def delete(self, key_id: str) -> None:
        """Remove a key from the library. It is never sent twice.

        Raises:
            NotFoundError: no such key (also when it was deleted already).
            OutcomeUnknownError: the deletion may or may not have happened (``.ids`` names
                the key).
        """
        key_id = _key_id(key_id)
        await self._transport.request("DELETE", f"{BASE}/{key_id}")

    async def algorithms(self) -> builtins.list[SshKeyAlgorithm]:
        """The algorithms the server can generate key pairs with."""
        response = await self._transport.request("GET", f"{BASE}/algorithms")
        return response.decode(_convert.structure_ssh_key_algorithms)


def _key_id(value: object) -> str:
    """A key id for a path; ``algorithms`` is the sibling route, never a key (ids are UUIDs)."""
    key_id = _validate.path_id(value, "key_id")
    if key_id == "algorithms":
        raise InvalidRequestError("key_id must be a key's id, got 'algorithms' (a route name)")
    return key_id


def _entry_id(entry: SshKeyEntry) -> str:
    return entry.id
