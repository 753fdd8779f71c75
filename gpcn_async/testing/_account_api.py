"""The fake's account endpoints: the SSH-key library, the data-center list and the auth check.

Shapes follow gpcn-api-account.md. The reference dialect answers as the vendor's client reads
the API: an upload or generation answers only ``{id}`` (plus ``privateKey``), a rename no
``data``, data-center rows with ``regionName``/``countryName``/``countryAbbreviation``. The guide
dialect, which no source describes for these endpoints, applies its own conventions: whole
objects in answers (201 with the key), the SSH-key list as one bare array without ``meta``,
data-center rows with the names of the summary nested in VMs (``region``, ``country``,
``countryAbbr``), 400 for validation errors. Handlers are pure functions of the state, like
those of ``_api``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from gpcn_async.testing._account import (
    NAME_REQUIRED,
    Account,
    Capabilities,
    SshKeyRecord,
    js_trim,
    name_issue,
)
from gpcn_async.testing._api import Call, Handler, _bounded
from gpcn_async.testing._catalog import DatacenterSpec, fake_uuid
from gpcn_async.testing._keys import (
    ALGORITHMS,
    generate_key_pair,
    parse_public_key,
    public_key_algorithm,
)
from gpcn_async.testing._orders import Issues
from gpcn_async.testing._render import Reply, error_body, success_body, timestamp

__all__ = ["AccountApi"]

T = TypeVar("T")

_KEY_NOT_FOUND = "SSH key not found"
_TRUE_FALSE = {"true": True, "false": False}
# Continent of a datacenter by its country code (those of the seeds and common ones).
_CONTINENTS = {
    "US": ("NA", "North America"),
    "CA": ("NA", "North America"),
    "DE": ("EU", "Europe"),
    "NL": ("EU", "Europe"),
    "GB": ("EU", "Europe"),
    "FR": ("EU", "Europe"),
    "JP": ("AS", "Asia"),
    "SG": ("AS", "Asia"),
}


class AccountApi:
    """The handlers of the SSH-key, data-center and auth-check endpoints of one dialect."""

    def __init__(self, account: Account, dialect: str) -> None:
        self.account = account
        self.dialect = dialect

    def routes(self) -> list[tuple[str, str, Handler]]:
        """The route table entries (method, path pattern, handler); a trailing slash is fine."""
        keys = r"/resource/ssh-keys"
        return [
            ("GET", keys + "/?", self.list_keys),
            ("POST", keys + "/?", self.add_key),
            ("GET", keys + "/algorithms", self.algorithms),
            ("GET", keys + "/([^/]+)", self.get_key),
            ("PUT", keys + "/([^/]+)", self.rename_key),
            ("DELETE", keys + "/([^/]+)", self.delete_key),
            ("GET", r"/resource/data-centers/?", self.list_datacenters),
            ("GET", r"/auth/check", self.auth_check),
        ]

    # -- shared answers ----------------------------------------------------------------------

    def _ok(self, status: int, message: str, data: Any, meta: Any = None) -> Reply:
        return Reply.json(status, success_body(self.dialect, message, data, meta))

    def _error(self, status: int, message: str) -> Reply:
        return Reply.json(status, error_body(self.dialect, status, message=message))

    def _invalid(self, issues: Issues) -> Reply:
        """400 (guide) or 422 with ``details.issues`` (the vendor's validation fixture)."""
        text = "; ".join(f"{path}: {message}" for path, message in issues)
        if self.dialect == "guide":
            body = error_body("guide", 400, message=f"Validation failed: {text}")
            return Reply.json(400, body)
        details = {"issues": [{"path": path, "message": message} for path, message in issues]}
        body = error_body("reference", 422, message=f"Invalid Parameters: {text}", details=details)
        return Reply.json(422, body)

    def _key_body(self, record: SshKeyRecord) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": record.id,
            "name": record.name,
            "publicKey": record.public_key,
            "algorithm": record.algorithm,
            "createdAt": timestamp(record.created_at, self.dialect),
            "updatedAt": timestamp(record.updated_at, self.dialect),
        }
        if self.dialect == "reference":
            body["type"] = record.kind
        return body

    # -- SSH keys ----------------------------------------------------------------------------

    def list_keys(self, call: Call, _groups: tuple[str, ...]) -> Reply:
        """``GET /resource/ssh-keys``: pages with ``meta`` (reference), one bare array (guide)."""
        records = sorted(self.account.keys.values(), key=lambda record: record.created_at)
        if self.dialect == "guide":
            return self._ok(200, "", [self._key_body(record) for record in records])
        issues = Issues()
        page = _bounded(call.query, "page", default=1, low=1, high=None, issues=issues)
        limit = _bounded(call.query, "limit", default=10, low=1, high=100, issues=issues)
        if issues:
            return self._invalid(issues)
        items, meta = _paginate(records, page, limit)
        data = [self._key_body(record) for record in items]
        return self._ok(200, "SSH keys retrieved successfully", data, meta)

    def get_key(self, _call: Call, groups: tuple[str, ...]) -> Reply:
        """``GET /resource/ssh-keys/{id}`` (never with the private key)."""
        record = self.account.keys.get(groups[0])
        if record is None:
            return self._error(404, _KEY_NOT_FOUND)
        return self._ok(200, "SSH key retrieved successfully", self._key_body(record))

    def add_key(self, call: Call, _groups: tuple[str, ...]) -> Reply:
        """``POST /resource/ssh-keys``: upload (``type: upload``) or generate a key pair."""
        body = call.body
        if not isinstance(body, dict):
            return self._invalid([("body", "must be a JSON object")])
        issues = Issues()
        if (issue := name_issue(body.get("name"))) is not None:
            issues.append(("name", issue))
        kind = body.get("type")
        if kind == "upload":
            issues += _upload_issues(body)
        elif kind == "generate":
            issues += _generate_issues(body)
        else:
            issues.append(("type", "Type must be upload or generate"))
        if issues:
            return self._invalid(issues)
        name = js_trim(body["name"])
        if self.account.named(name) is not None:
            return self._error(409, f"An SSH key named {name!r} already exists")
        private_key = None
        if kind == "upload":
            public_key = js_trim(body["publicKey"])
            parsed = parse_public_key(public_key)
            algorithm = None if parsed is None else public_key_algorithm(*parsed)
        else:
            algorithm = body["algorithm"]
            encrypted = bool(body.get("passphrase"))
            public_key, private_key = generate_key_pair(algorithm, name, encrypted=encrypted)
        record = self.account.add_key(name, public_key, algorithm, kind=str(kind))
        # The vendor's client reads only the id (and private key), and GETs the rest.
        data = self._key_body(record) if self.dialect == "guide" else {"id": record.id}
        if private_key is not None:
            data["privateKey"] = private_key  # shown this once, and never stored
        return self._ok(201, "SSH key created successfully", data)

    def rename_key(self, call: Call, groups: tuple[str, ...]) -> Reply:
        """``PUT /resource/ssh-keys/{id}``: ``{"name"}``; the reference answers without data."""
        record = self.account.keys.get(groups[0])
        if record is None:
            return self._error(404, _KEY_NOT_FOUND)
        body = call.body
        name = body.get("name") if isinstance(body, dict) else None
        issue = name_issue(name)
        if issue is not None or not isinstance(name, str):
            return self._invalid([("name", issue or NAME_REQUIRED)])
        trimmed = js_trim(name)
        if self.account.named(trimmed, besides=record.id) is not None:
            return self._error(409, f"An SSH key named {trimmed!r} already exists")
        record.name, record.updated_at = trimmed, self.account.state.wall()
        if self.dialect == "reference":
            return Reply.json(200, success_body("reference", "SSH key updated successfully"))
        return self._ok(200, "SSH key updated successfully", self._key_body(record))

    def delete_key(self, _call: Call, groups: tuple[str, ...]) -> Reply:
        """``DELETE /resource/ssh-keys/{id}``: 204."""
        if self.account.keys.pop(groups[0], None) is None:
            return self._error(404, _KEY_NOT_FOUND)
        return Reply.empty(204)

    def algorithms(self, _call: Call, _groups: tuple[str, ...]) -> Reply:
        """``GET /resource/ssh-keys/algorithms``: what generation supports."""
        data = [
            {"code": code, "displayName": label, "description": description}
            for code, (_type, label, description) in ALGORITHMS.items()
        ]
        return self._ok(200, "SSH key algorithms retrieved successfully", data)

    # -- data centers ------------------------------------------------------------------------

    def list_datacenters(self, call: Call, _groups: tuple[str, ...]) -> Reply:
        """``GET /resource/data-centers``: filtered on the server, pages with ``meta``."""
        query, issues = call.query, Issues()
        page = _bounded(query, "page", default=1, low=1, high=None, issues=issues)
        limit = _bounded(query, "limit", default=10, low=1, high=100, issues=issues)
        wanted: dict[str, bool] = {}
        for flag in ("gpuEnabled", "vpcCapable", "l2Capable"):
            if flag in query:
                if query[flag] not in _TRUE_FALSE:
                    issues.append((flag, "must be true or false"))
                else:
                    wanted[flag] = _TRUE_FALSE[query[flag]]
        if issues:
            return self._invalid(issues)
        rows = [
            (spec, flags)
            for spec, flags in self.account.datacenters()
            if _matches(spec, flags, query, wanted)
        ]
        items, meta = _paginate(rows, page, limit)
        data = [self._datacenter_row(spec, flags) for spec, flags in items]
        return self._ok(200, "Data centers retrieved successfully", data, meta)

    def _datacenter_row(self, spec: DatacenterSpec, flags: Capabilities) -> dict[str, Any]:
        capabilities = {
            "gpuEnabled": flags.gpu_enabled,
            "vpcCapable": flags.vpc_capable,
            "l2Capable": flags.l2_capable,
            "customImages": flags.custom_images,
        }
        if self.dialect == "guide":
            place = {
                "region": spec.region,
                "country": spec.country,
                "countryAbbr": spec.country_abbr,
            }
            return {"id": spec.id, "name": spec.name, "code": spec.code, **place, **capabilities}
        continent_code, continent = _CONTINENTS.get(spec.country_abbr, (None, None))
        return {
            "id": spec.id,
            "name": spec.name,
            "code": spec.code,
            "regionId": _region_number(spec.region),
            "regionName": spec.region,
            "countryId": fake_uuid("country", spec.country_abbr),
            "countryName": spec.country,
            "countryAbbreviation": spec.country_abbr,
            "continentCode": continent_code,
            "continentName": continent,
            **capabilities,
        }

    # -- auth check --------------------------------------------------------------------------

    def auth_check(self, _call: Call, _groups: tuple[str, ...]) -> Reply:
        """``GET /auth/check``: the key the request came with (the pipeline checked it)."""
        account = self.account
        entity = fake_uuid("entity", "fake-entity")
        data = {
            "authenticated": True,
            "credential": {
                "kind": account.credential_kind,
                "id": account.credential_id,
                "name": account.credential_name,
                "keyStart": account.api_key[:8],
                "entityId": entity,
                "expiresAt": timestamp(account.expires_at, self.dialect),
            },
            "grants": {
                "source": "api_key_role",
                "entityId": entity,
                "permissions": list(account.permissions),
            },
        }
        return self._ok(200, "", data)


def _upload_issues(body: dict[str, Any]) -> Issues:
    key = body.get("publicKey")
    issues = Issues()
    if not isinstance(key, str) or not js_trim(key):
        issues.append(("publicKey", "Public key is required"))
    elif parse_public_key(js_trim(key)) is None:
        issues.append(("publicKey", "Public key must be an OpenSSH public key"))
    issues.extend(
        (field_name, f"{field_name} is not allowed when uploading a public key")
        for field_name in ("algorithm", "passphrase")
        if body.get(field_name) is not None
    )
    return issues


def _generate_issues(body: dict[str, Any]) -> Issues:
    issues = Issues()
    if body.get("algorithm") not in ALGORITHMS:
        issues.append(("algorithm", f"Algorithm must be one of {', '.join(sorted(ALGORITHMS))}"))
    passphrase = body.get("passphrase")
    if passphrase is not None and not isinstance(passphrase, str):
        issues.append(("passphrase", "Passphrase must be a string"))
    if body.get("publicKey") is not None:
        issues.append(("publicKey", "publicKey is not allowed when generating a key pair"))
    return issues


def _matches(
    spec: DatacenterSpec, flags: Capabilities, query: Mapping[str, str], wanted: dict[str, bool]
) -> bool:
    """Whether a datacenter passes the list's filters (texts compared case-insensitively)."""
    if (search := query.get("search")) and search.casefold() not in spec.name.casefold():
        return False
    for key, value in (("countryName", spec.country), ("regionName", spec.region)):
        if key in query and query[key].casefold() != value.casefold():
            return False
    actual = {
        "gpuEnabled": flags.gpu_enabled,
        "vpcCapable": flags.vpc_capable,
        "l2Capable": flags.l2_capable,
    }
    return all(actual[key] == value for key, value in wanted.items())


def _paginate(items: Sequence[T], page: int, limit: int) -> tuple[Sequence[T], dict[str, Any]]:
    """One page of ``items`` and its ``meta``."""
    total = len(items)
    total_pages = math.ceil(total / limit)
    meta = {
        "total": total,
        "page": page,
        "pageSize": limit,
        "totalPages": total_pages,
        "hasNextPage": page < total_pages,
        "hasPreviousPage": page > 1,
    }
    return items[(page - 1) * limit : page * limit], meta


def _region_number(region: str) -> int:
    """A stable integer id for a region name (the list's ``regionId``)."""
    return uuid.UUID(fake_uuid("region", region)).int % 1000 + 1
