"""What a create (``POST /resource/gpu``) asks for: its body checked and turned into an ``Order``.

Pure: the catalog says which series and datacenters exist; the issues found are the answer's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpcn_async.testing._catalog import GPU_COUNTS, Catalog, SeriesSpec

__all__ = ["Issues", "Order", "parse_order"]

Issues = list[tuple[str, str]]
"""Validation issues: (field path, message) pairs, as the reference dialect's ``details``."""

_OPTIONAL_STRINGS = ("imageName", "imageId", "sshKeyId", "skuCode", "resourceGroupId", "username")


@dataclass(frozen=True)
class Order:
    """A validated create body."""

    name: str
    datacenter_id: str
    series: SeriesSpec
    gpu_count: int
    team_id: int | str | None
    extras: dict[str, str]


def _find_series(catalog: Catalog, key: object) -> SeriesSpec | None:
    """The series a create names: its uuid, or its guide id as an int or a string of digits."""
    for spec in catalog.series:
        if key == spec.id or (not isinstance(key, bool) and key == spec.guide_id):
            return spec
        if isinstance(key, str) and key == str(spec.guide_id):
            return spec
    return None


def parse_order(catalog: Catalog, body: Any) -> tuple[Order | None, Issues]:
    """Validate a create body; return the order, or None and the issues."""
    if not isinstance(body, dict):
        return None, [("body", "must be a JSON object")]
    issues = Issues()
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        issues.append(("name", "must be a non-empty string"))
    datacenter = catalog.find_datacenter(body.get("datacenterId"))
    if datacenter is None:
        issues.append(("datacenterId", "must be the id of a known datacenter"))
    series = _find_series(catalog, body.get("seriesId"))
    if series is None:
        issues.append(("seriesId", "must be the id of a known GPU series"))
    count = body.get("gpuCount")
    if not isinstance(count, int) or isinstance(count, bool) or count not in GPU_COUNTS:
        issues.append(("gpuCount", "must be one of 1, 2, 4, 8"))
    team = body.get("teamId")
    if team is not None and (isinstance(team, bool) or not isinstance(team, int | str)):
        issues.append(("teamId", "must be an integer or a string"))
    issues.extend(
        (key, "must be a string")
        for key in _OPTIONAL_STRINGS
        if body.get(key) is not None and not isinstance(body[key], str)
    )
    if (
        issues
        or datacenter is None
        or series is None
        or not isinstance(name, str)
        or not isinstance(count, int)
    ):
        return None, issues
    extras = {key: body[key] for key in _OPTIONAL_STRINGS if body.get(key) is not None}
    return Order(name, datacenter.id, series, count, team, extras), []
