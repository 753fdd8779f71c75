"""The two wire dialects: every JSON shape the fake sends, and the ``Reply`` that carries it.

``"guide"`` follows the published GPU guide (integer series ids, ``data.jobId``, job ``status``,
string error codes); ``"reference"`` follows the OpenAPI reference (uuid ids, ``data.jobs[]``, job
``stage`` and flags, error objects). Pure functions of the state: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any, Final

from gpcn_async.testing._catalog import DatacenterSpec, SeriesSpec, SkuSpec
from gpcn_async.testing._checks import require_int
from gpcn_async.testing._jobs import JobRecord
from gpcn_async.testing._state import State
from gpcn_async.testing._vms import VmRecord

__all__ = [
    "ABSENT",
    "DIALECTS",
    "ROUTE_NOT_FOUND",
    "Reply",
    "error_body",
    "gateway_page",
    "inventory_data",
    "job_body",
    "rate_limited_body",
    "ssh_private_key",
    "success_body",
    "timestamp",
    "vm_body",
]

DIALECTS: tuple[str, ...] = ("guide", "reference")
"""The dialect names, for validation."""

ABSENT: Final = object()
"""Marks a success envelope without ``data``."""

ROUTE_NOT_FOUND: Final = {"message": "Route Not Found"}
"""The body of a 404 for an unknown route, in both dialects."""

_ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("VALIDATION_ERROR", "Bad Request", "Bad request"),
    401: ("INVALID_CREDENTIALS", "Authentication Failed", "Missing or invalid API key"),
    403: ("FORBIDDEN", "Insufficient Permissions", "GPU feature not enabled for this entity"),
    404: ("NOT_FOUND", "Not Found", "Not found"),
    409: ("CONFLICT", "Conflict", "The requested GPU configuration is no longer available"),
    422: ("VALIDATION_ERROR", "Validation Error", "Request validation failed"),
    429: ("RATE_LIMIT_EXCEEDED", "Rate Limited", "Too many requests"),
    500: ("INTERNAL_ERROR", "Internal Server Error", "Internal server error"),
    501: ("NOT_IMPLEMENTED", "Not Implemented", "Not supported by the provider of this GPU VM"),
    502: ("BAD_GATEWAY", "Bad Gateway", "Bad gateway"),
    503: ("SERVICE_UNAVAILABLE", "Service Unavailable", "Service temporarily unavailable"),
    504: ("GATEWAY_TIMEOUT", "Gateway Timeout", "Gateway timeout"),
}


@dataclass(frozen=True)
class Reply:
    """An HTTP answer before it becomes an aiohttp response.

    Attributes:
        status: The HTTP status.
        payload: The body bytes (empty for no body).
        content_type: The body's media type, or None without a body.
        headers: Extra headers.
    """

    status: int
    payload: bytes = b""
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, body: Any, headers: Mapping[str, str] | None = None) -> Reply:
        """Return a JSON answer."""
        return cls(status, json.dumps(body).encode(), "application/json", dict(headers or {}))

    @classmethod
    def raw(cls, status: int, body: str | bytes) -> Reply:
        """Return a non-JSON answer (``text/html`` if it starts with ``<``, else ``text/plain``)."""
        payload = body.encode() if isinstance(body, str) else body
        html = payload.lstrip().startswith(b"<")
        return cls(status, payload, "text/html" if html else "text/plain")

    @classmethod
    def empty(cls, status: int) -> Reply:
        """Return an answer without a body (e.g. a 204)."""
        return cls(status)

    def with_headers(self, extra: Mapping[str, str]) -> Reply:
        """Return a copy with ``extra`` headers added (they win over existing ones)."""
        return Reply(self.status, self.payload, self.content_type, {**self.headers, **extra})


def timestamp(moment: datetime | None, dialect: str) -> str | None:
    """Format a UTC time: the reference with milliseconds, the guide without."""
    if moment is None:
        return None
    if dialect == "reference":
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def success_body(
    dialect: str, message: str, data: Any = ABSENT, meta: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Return a success envelope (the guide omits ``message`` when there is data, and null meta)."""
    body: dict[str, Any] = {"success": True}
    if dialect == "reference" or data is ABSENT:
        body["message"] = message
    if data is not ABSENT:
        body["data"] = data
        if dialect == "reference" or meta is not None:
            body["meta"] = meta
    return body


def error_body(
    dialect: str,
    status: int,
    *,
    message: str | None = None,
    code: str | None = None,
    details: Any = None,
) -> dict[str, Any]:
    """Return the dialect's error body for a status (``code`` overrides the table's code)."""
    known = _ERRORS.get(status)
    if known is None:
        phrase = _phrase(status)
        code_text = re.sub(r"[^A-Z0-9]+", "_", phrase.upper().replace("'", "")).strip("_")
        known = (code_text, phrase, phrase)
    guide_code, reference_code, default_message = known
    text = message or default_message
    if dialect == "guide":
        return {"success": False, "error": code or guide_code, "message": text}
    return {
        "success": False,
        "message": text,
        "error": {"code": code or reference_code, "statusCode": status, "details": details},
    }


def rate_limited_body(dialect: str, retry_after: int) -> dict[str, Any]:
    """Return a 429 body: the guide shape, or the reference's rate-limiter shape."""
    if dialect == "guide":
        return {
            "success": False,
            "error": "RATE_LIMIT_EXCEEDED",
            "message": "You have exceeded the rate limit. Please wait before making more requests.",
        }
    return {
        "success": False,
        "error": {
            "code": "Rate Limited",
            "message": f"Too many requests, try again in {retry_after} seconds.",
            "retryAfter": retry_after,
        },
    }


def gateway_page(status: int = 502) -> str:
    """Return the HTML error page a gateway in front of the API sends, e.g. for a 502.

    Use it as a fault's body: ``fake.inject("*", "/resource/*", status=502,
    body=gateway_page(502))``. The fake sends a body starting with ``<`` as ``text/html``.

    Args:
        status: The HTTP status the page is about (400 to 599).

    Raises:
        ValueError: A status outside 400 to 599.
    """
    require_int("status", status, 400, 599)
    title = f"{status} {_phrase(status)}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def vm_body(state: State, vm: VmRecord, dialect: str) -> dict[str, Any]:
    """Return a VM in the dialect's shape (see ``wire-samples/*/gpu-get.json``)."""
    series = state.series_of(vm)
    datacenter = state.catalog.find_datacenter(vm.datacenter_id)
    dc_name = datacenter.name if datacenter is not None else None
    ip = None if vm.status == "Provisioning" else vm.ip
    jupyter = None if ip is None else f"https://{ip}:8888"
    if dialect == "guide":
        return {
            "id": vm.id,
            "name": vm.name,
            "status": vm.status,
            "publicIp": ip,
            "jupyterLabUrl": jupyter,
            "series": {"id": series.guide_id, "name": series.name, "code": series.code},
            "gpuCount": vm.gpu_count,
            "datacenter": {"id": vm.datacenter_id, "name": dc_name},
            "teamId": vm.team_id,
            "createdAt": timestamp(vm.created_at, dialect),
        }
    sku = state.sku_of(vm)
    return {
        "id": vm.id,
        "name": vm.name,
        "status": vm.status,
        "ip": ip,
        "jupyterUrl": jupyter,
        "configuration": {
            "code": series.code,
            "name": series.name,
            "gpuCount": vm.gpu_count,
            "cpu": sku.vcpu,
            "ram": sku.memory_gib,
            "disk": sku.storage_gb,
            "skuCode": sku.code,
            "skuId": sku.id,
        },
        "datacenter": {
            "id": vm.datacenter_id,
            "name": dc_name,
            "region": datacenter.region if datacenter is not None else None,
            "countryAbbr": datacenter.country_abbr if datacenter is not None else None,
            "country": datacenter.country if datacenter is not None else None,
        },
        "image": vm.image,
        "username": vm.username,
        "sshKeyId": vm.ssh_key_id,
        "sshKeyName": vm.ssh_key_name,
        "resourceGroupId": vm.resource_group_id,
        "resourceGroupName": (
            None if vm.resource_group_id is None else f"group-{vm.resource_group_id[:8]}"
        ),
        "hasStoredCredentials": False,
        "createdAt": timestamp(vm.created_at, dialect),
        "updatedAt": timestamp(vm.updated_at, dialect),
        "deletedAt": None,
    }


def _guide_status(job: JobRecord) -> str:
    if job.state == "succeeded":
        return "completed"
    if job.terminal:
        return "failed"
    return "pending" if job.progress == 0 else "in_progress"


def _stage(job: JobRecord) -> str:
    if job.state == "succeeded":
        return "completed"
    if job.terminal:
        return job.state
    if job.progress == 0:
        return "initializing"
    return "provisioning" if job.progress < 60 else "configuring"


_STAGE_MESSAGES = {
    "initializing": "Queued",
    "provisioning": "In progress",
    "configuring": "Configuring",
    "completed": "Done",
    "failed": "Failed",
    "cancelled": "Cancelled by the platform",
}


def job_body(job: JobRecord, dialect: str, now: datetime) -> dict[str, Any]:
    """Return a job object in the dialect's shape (see ``wire-samples/*/jobs-poll*.json``)."""
    if dialect == "guide":
        return {
            "id": job.id,
            "status": _guide_status(job),
            "progress": job.progress,
            "resourceType": "gpu",
            "resourceId": job.resource_id if job.state == "succeeded" else None,
            "error": job.error,
            "createdAt": timestamp(job.created_at, dialect),
            "updatedAt": timestamp(job.updated_at, dialect),
            "completedAt": timestamp(job.completed_at, dialect),
        }
    stage = _stage(job)
    message = _STAGE_MESSAGES[stage]
    if stage == "provisioning" and job.operation == "create":
        message = "Allocating GPU host"
    if stage == "cancelled" and job.error:
        message = job.error
    estimated = job.created_at + timedelta(seconds=job.expected_end())
    remaining = 0 if job.terminal else max(0, math.ceil((estimated - now).total_seconds()))
    body: dict[str, Any] = {
        "jobId": job.id,
        "resourceType": "virtual_machine",
        "resourceDisplayName": "GPU VM",
        "operation": job.operation,
        "stage": stage,
        "progressPercentage": job.progress,
        "message": message,
        "errorMessage": job.error if job.state == "failed" else None,
        "estimatedCompletion": timestamp(estimated, dialect),
        "timeRemaining": f"{remaining} seconds",
        "canRetry": job.state == "failed",
        "isCompleted": job.state == "succeeded",
        "hasFailed": job.state == "failed",
        "resourceId": job.resource_id,
        "resourceName": job.resource_name,
        "createdAt": timestamp(job.created_at, dialect),
        "updatedAt": timestamp(job.updated_at, dialect),
    }
    if job.terminal:
        body["isTerminal"] = True
    return body


def inventory_data(
    state: State,
    dialect: str,
    series: Sequence[SeriesSpec],
    datacenters: Sequence[DatacenterSpec],
    counts: Sequence[int],
) -> Any:
    """Return the inventory's ``data`` for the selected series, datacenters and GPU counts.

    The guide lists every selected datacenter with a boolean per count; the reference lists only
    available counts (with their SKUs) and only datacenters that have one. On a provider outage the
    reference keeps the catalog, empties availability and adds ``error``.
    """
    catalog = state.catalog
    if dialect == "guide":
        return [
            {
                "seriesId": spec.guide_id,
                "seriesName": spec.name,
                "seriesCode": spec.code,
                "availability": [
                    {
                        "datacenterId": dc.id,
                        "datacenterName": dc.name,
                        "gpuCounts": {
                            str(count): {"available": catalog.is_available(spec.code, dc.id, count)}
                            for count in counts
                        },
                    }
                    for dc in datacenters
                ],
            }
            for spec in series
        ]
    outage = state.provider_outage
    items = []
    for spec in series:
        availability = []
        for dc in [] if outage else datacenters:
            gpu_counts = []
            for count in counts:
                if not catalog.is_available(spec.code, dc.id, count):
                    continue
                skus = catalog.skus_of(spec, count)
                gpu_counts.append(
                    {
                        "count": count,
                        "specs": _specs(skus[0]),
                        "availableSkus": [
                            {
                                "skuCode": sku.code,
                                "description": sku.description,
                                "specs": _specs(sku),
                            }
                            for sku in skus
                        ],
                    }
                )
            if gpu_counts:
                availability.append(
                    {
                        "datacenterId": dc.id,
                        "datacenterName": dc.name,
                        "datacenterCode": dc.code,
                        "gpuCounts": gpu_counts,
                    }
                )
        items.append(
            {
                "id": spec.id,
                "name": spec.name,
                "code": spec.code,
                "description": spec.description,
                "availability": availability,
            }
        )
    data: dict[str, Any] = {"series": items}
    if outage:
        data["error"] = {
            "code": "GPU_PROVIDER_UNAVAILABLE",
            "message": "The GPU provider could not be reached; availability is unknown.",
        }
    return data


def _specs(sku: SkuSpec) -> dict[str, Any]:
    return {
        "gpuDescription": sku.gpu_description,
        "vcpu": sku.vcpu,
        "memoryGiB": sku.memory_gib,
        "storageGB": sku.storage_gb,
    }


def ssh_private_key(vm_id: str) -> str:
    """Return a deterministic, obviously fake OpenSSH private key for a VM."""
    digest = hashlib.sha256(vm_id.encode()).digest()
    material = b"openssh-key-v1\x00FAKE-KEY-FOR-TESTS-ONLY\x00" + digest * 6
    text = base64.b64encode(material).decode()
    lines = [text[i : i + 70] for i in range(0, len(text), 70)]
    return (
        "-----BEGIN OPENSSH PRIVATE KEY-----\n"
        + "\n".join(lines)
        + "\n-----END OPENSSH PRIVATE KEY-----\n"
    )
