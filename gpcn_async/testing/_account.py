"""What the fake remembers about the account, and ``fake.account``, which scripts it.

The account is the SSH-key library, the datacenters without GPUs (the GPU ones are the
catalog's), what each datacenter offers, and what the auth check says about the API key.
Plain data and rules, no I/O; the endpoints are in ``_account_api``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gpcn_async.testing._catalog import Catalog, DatacenterSpec
from gpcn_async.testing._checks import require_text
from gpcn_async.testing._keys import (
    ALGORITHMS,
    generate_key_pair,
    parse_public_key,
    public_key_algorithm,
)
from gpcn_async.testing._state import State

__all__ = [
    "DEFAULT_PERMISSIONS",
    "NAME_CHARACTERS",
    "NAME_REQUIRED",
    "NAME_TOO_LONG",
    "Account",
    "AccountScripting",
    "Capabilities",
    "SshKeyRecord",
    "js_trim",
    "name_issue",
]

DEFAULT_PERMISSIONS: tuple[str, ...] = (
    "gpu:read",
    "gpu:create",
    "gpu:update",
    "gpu:delete",
    "ssh-key:read",
    "ssh-key:create",
    "ssh-key:update",
    "ssh-key:delete",
    "data-center:read",
)
"""What the fake's API key may do, unless ``set_credential`` says otherwise."""

# The server's messages, verbatim (the vendor's client says GPCN sends them as they are).
NAME_REQUIRED = "Name is required"
NAME_TOO_LONG = "Name must be at most 30 characters"
NAME_CHARACTERS = (
    "Name may contain only letters, numbers, spaces, periods, hyphens, and the symbols "
    "_ ( ) ' #, and must begin and end with a letter or number"
)
_NAME = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9 .\-_()'#]*[a-zA-Z0-9])?")
_MAX_NAME = 30
# What JavaScript's String.prototype.trim removes (the server trims names before checking).
_JS_BLANKS = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_SEED_OTHER_DATACENTERS = (
    ("Dallas 1", "DAL-1", "US Central", "US", "United States"),
    ("Amsterdam 1", "AMS-1", "EU West", "NL", "Netherlands"),
)


@dataclass
class SshKeyRecord:
    """An SSH key of the fake's library.

    Attributes:
        id: The key's uuid.
        name: Its name.
        public_key: The OpenSSH public key line.
        algorithm: Its algorithm code (``"ed25519"``...), or None when not recognised.
        kind: ``"upload"`` or ``"generate"``.
        created_at: When it was added (UTC).
        updated_at: When it last changed (UTC).
    """

    id: str
    name: str
    public_key: str
    algorithm: str | None
    kind: str
    created_at: datetime
    updated_at: datetime


@dataclass
class Capabilities:
    """What a datacenter offers, as the data-center list reports it.

    Attributes:
        gpu_enabled: GPUs can be ordered there.
        vpc_capable: It offers VPCs.
        l2_capable: It offers layer-2 networking.
        custom_images: It accepts custom images.
    """

    gpu_enabled: bool
    vpc_capable: bool = True
    l2_capable: bool = False
    custom_images: bool = False


@dataclass
class Account:
    """What the fake remembers about the account: keys, non-GPU datacenters, the credential.

    GPU datacenters are the catalog's own (``State.catalog``); ``other`` holds datacenters
    where GPUs cannot be ordered, which only the data-center list shows.
    """

    state: State
    api_key: str
    keys: dict[str, SshKeyRecord] = field(default_factory=dict)
    other: Catalog = field(default_factory=Catalog)
    capabilities: dict[str, Capabilities] = field(default_factory=dict)
    credential_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    credential_kind: str = "api_key"
    credential_name: str | None = "fake-key"
    expires_at: datetime | None = None
    permissions: tuple[str, ...] = DEFAULT_PERMISSIONS

    def seed(self) -> None:
        """Add the default non-GPU datacenters."""
        for name, code, region, abbr, country in _SEED_OTHER_DATACENTERS:
            self.add_datacenter(name, code=code, region=region, country_abbr=abbr, country=country)

    def add_datacenter(self, name: str, **place: Any) -> DatacenterSpec:
        """Add a datacenter without GPUs (``place``: as for ``Catalog.add_datacenter``).

        Raises:
            ValueError: An empty name, or one already used by any datacenter.
        """
        if any(spec.name == name for spec in self.state.catalog.datacenters):
            raise ValueError(f"datacenter {name!r} is already in the catalog")
        spec = self.other.add_datacenter(name, **place)
        self.capabilities[spec.id] = Capabilities(gpu_enabled=False)
        return spec

    def datacenters(self) -> list[tuple[DatacenterSpec, Capabilities]]:
        """Every datacenter with its capabilities: the catalog's (GPU) first, then the others."""
        rows = []
        for spec in [*self.state.catalog.datacenters, *self.other.datacenters]:
            default = Capabilities(gpu_enabled=True, l2_capable=True, custom_images=True)
            rows.append((spec, self.capabilities.get(spec.id, default)))
        return rows

    def add_key(
        self, name: str, public_key: str, algorithm: str | None, *, kind: str, id: str | None = None
    ) -> SshKeyRecord:
        """Put a key in the library."""
        now = self.state.wall()
        record = SshKeyRecord(
            id=id or str(uuid.uuid4()),
            name=name,
            public_key=public_key,
            algorithm=algorithm,
            kind=kind,
            created_at=now,
            updated_at=now,
        )
        self.keys[record.id] = record
        return record

    def named(self, name: str, *, besides: str | None = None) -> SshKeyRecord | None:
        """The key with this name other than ``besides``, if any."""
        for record in self.keys.values():
            if record.name == name and record.id != besides:
                return record
        return None


def js_trim(text: str) -> str:
    """Trim as JavaScript's ``String.prototype.trim`` does (the server's own trim)."""
    return text.strip(_JS_BLANKS)


def name_issue(name: object) -> str | None:
    """The server's message for a bad key name (after trimming), or None when it is fine."""
    if not isinstance(name, str) or not js_trim(name):
        return NAME_REQUIRED
    trimmed = js_trim(name)
    if len(trimmed) > _MAX_NAME:
        return NAME_TOO_LONG
    return None if _NAME.fullmatch(trimmed) else NAME_CHARACTERS


class AccountScripting:
    """``fake.account``: the SSH-key library, the datacenters without GPUs, the API key's grants.

    Args:
        account: What the fake remembers about the account.
    """

    def __init__(self, account: Account) -> None:
        self._account = account

    @property
    def gpu_enabled(self) -> bool:
        """When False, the account has no GPU features: every ``/resource/gpu...`` answers 403."""
        return self._account.state.gpu_enabled

    @gpu_enabled.setter
    def gpu_enabled(self, value: bool) -> None:
        self._account.state.gpu_enabled = bool(value)

    @property
    def ssh_keys(self) -> dict[str, SshKeyRecord]:
        """The SSH-key library by id (the live dict: changes show in the next answers)."""
        return self._account.keys

    def add_ssh_key(
        self,
        name: str,
        public_key: str | None = None,
        *,
        algorithm: str = "ed25519",
        id: str | None = None,
    ) -> str:
        """Put a key in the library directly and return its id.

        Without ``public_key`` a fresh pair of ``algorithm`` is made (its private key is not
        kept). The name is taken as given, even one the server's rules would refuse.

        Raises:
            ValueError: An empty or duplicate name or id, a public key that is not of the
                OpenSSH form ``<type> <base64> [comment]``, or an unknown algorithm.
        """
        require_text("SSH key name", name)
        account = self._account
        if account.named(name) is not None:
            raise ValueError(f"an SSH key named {name!r} is already in the library")
        if id is not None and (not id or id in account.keys):
            raise ValueError(f"SSH key id {id!r} is empty or already used")
        if public_key is None:
            if algorithm not in ALGORITHMS:
                raise ValueError(
                    f"algorithm must be one of {sorted(ALGORITHMS)}, got {algorithm!r}"
                )
            public_key, _ = generate_key_pair(algorithm, name)
            return account.add_key(name, public_key, algorithm, kind="generate", id=id).id
        parsed = parse_public_key(public_key)
        if parsed is None:
            raise ValueError(f"public_key must be '<type> <base64> [comment]', got {public_key!r}")
        detected = public_key_algorithm(*parsed)
        return account.add_key(name, public_key.strip(), detected, kind="upload", id=id).id

    def add_non_gpu_datacenter(
        self,
        name: str,
        *,
        code: str | None = None,
        region: str | None = None,
        country_abbr: str = "US",
        country: str = "United States",
    ) -> DatacenterSpec:
        """Add a datacenter where GPUs cannot be ordered (only the data-center list shows it).

        Set its other capabilities with ``set_datacenter_capabilities``.

        Raises:
            ValueError: An empty name, or one any datacenter already has.
        """
        return self._account.add_datacenter(
            name, code=code, region=region, country_abbr=country_abbr, country=country
        )

    def set_datacenter_capabilities(
        self,
        datacenter_id: str,
        *,
        gpu_enabled: bool | None = None,
        vpc_capable: bool | None = None,
        l2_capable: bool | None = None,
        custom_images: bool | None = None,
    ) -> None:
        """Change what the data-center list says a datacenter offers (None: unchanged).

        By default the catalog's datacenters offer GPUs, VPCs, layer 2 and custom images;
        the others only VPCs. The list only reports them: ``gpu_enabled=False`` does not stop
        the inventory offering GPUs there.

        Raises:
            ValueError: An unknown datacenter id.
        """
        rows = {spec.id: flags for spec, flags in self._account.datacenters()}
        if datacenter_id not in rows:
            raise ValueError(f"unknown datacenter id {datacenter_id!r}")
        flags = rows[datacenter_id]
        changes = {
            "gpu_enabled": gpu_enabled,
            "vpc_capable": vpc_capable,
            "l2_capable": l2_capable,
            "custom_images": custom_images,
        }
        for name, value in changes.items():
            if value is not None:
                setattr(flags, name, bool(value))
        self._account.capabilities[datacenter_id] = flags

    def set_credential(
        self,
        *,
        name: str | None = "fake-key",
        kind: str = "api_key",
        expires_at: datetime | None = None,
        permissions: Sequence[str] = DEFAULT_PERMISSIONS,
    ) -> None:
        """Set what the auth check says about the fake's API key.

        Args:
            name: The key's name (None: a key without a name).
            kind: ``"api_key"`` or another credential kind, such as ``"session"``.
            expires_at: When the key expires (timezone-aware), or None for never.
            permissions: ``"<resource>:<action>"`` strings.

        Raises:
            ValueError: An empty kind, a naive ``expires_at``, or a permission that is not a
                non-empty string.
        """
        require_text("kind", kind)
        if expires_at is not None and expires_at.tzinfo is None:
            raise ValueError(f"expires_at must be timezone-aware, got {expires_at!r}")
        granted = tuple(permissions)
        for permission in granted:
            require_text("each permission", permission)
        account = self._account
        account.credential_name, account.credential_kind = name, kind
        account.expires_at, account.permissions = expires_at, granted
