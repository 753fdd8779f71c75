"""The two wire dialects in tables: where each field may be found, and what a job's state is.

Pure: dicts in, dicts out. The *canonical* form of an object is the reference dialect's flat
camelCase (the live service follows the reference); a table per model says where the other
dialect puts each value, and ``canonical()`` copies the object into that form. The
converter (``_convert``) then maps canonical keys onto model fields.

Everything that decides a job's state lives in one ordered table, ``JOB_STATES`` (as h11 keeps
its state machine in one place).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gpcn_async.models import JobState

__all__ = [
    "AVAILABILITY_DATACENTER",
    "DATACENTER_PLACES",
    "JOB_PLACES",
    "JOB_STATES",
    "SERIES_PLACES",
    "VM_PLACES",
    "Places",
    "ShapeError",
    "canonical",
    "canonical_availability",
    "canonical_bulk_result",
    "canonical_job",
    "gpu_counts_as_list",
    "job_state",
    "kind",
]

Places = Mapping[str, str | Mapping[str, str]]
"""Where the other dialect puts a value -> its canonical key. A nested table stands for a
nested object: each of its keys -> the canonical key it gives."""

VM_PLACES: Final[Places] = {
    "publicIp": "ip",
    "jupyterLabUrl": "jupyterUrl",
    "series": {"id": "seriesId", "code": "seriesCode", "name": "seriesName"},
    "configuration": {
        "gpuCount": "gpuCount",
        "code": "seriesCode",
        "name": "seriesName",
        "skuCode": "skuCode",
    },
    "datacenter": {"id": "datacenterId", "name": "datacenterName"},
}
"""GPU VM. Guide: publicIp, jupyterLabUrl, series{id,name,code}; reference: configuration{...},
datacenter{id,name}. The series' code and name come before the configuration's."""

SERIES_PLACES: Final[Places] = {
    "seriesId": "id",
    "seriesName": "name",
    "seriesCode": "code",
}
"""Inventory series. Guide: seriesId, seriesName, seriesCode; reference: id, name, code."""

AVAILABILITY_DATACENTER: Final[Mapping[str, str]] = {
    "datacenterId": "id",
    "datacenterName": "name",
    "datacenterCode": "code",
}
"""Inventory availability (both dialects): flat keys of its datacenter -> their keys in the
canonical form's ``datacenter`` object."""

DATACENTER_PLACES: Final[Places] = {
    "region": "regionName",
    "country": "countryName",
    "countryAbbr": "countryAbbreviation",
}
"""Datacenter. The data-center list's rows say regionName, countryName, countryAbbreviation;
the summary nested in GPU VMs says region, country, countryAbbr (gpcn-api-account.md §4.2)."""

JOB_PLACES: Final[Places] = {
    "id": "jobId",
    "progress": "progressPercentage",
    "error": "errorMessage",
    "status": "stage",
}
"""Job. Guide: id, progress, error, status; reference: jobId, progressPercentage, ..., stage."""

JOB_STATES: Final[tuple[tuple[str, object, JobState], ...]] = (
    # Reference flags, first, in the order the vendor's client applies them.
    ("hasFailed", True, JobState.FAILED),
    ("isCompleted", True, JobState.SUCCEEDED),
    ("stage", "cancelled", JobState.CANCELLED),
    ("isTerminal", True, JobState.FAILED),  # terminal without either flag
    # Reference stage names.
    ("stage", "initializing", JobState.PENDING),
    ("stage", "queued", JobState.PENDING),
    ("stage", "pending", JobState.PENDING),
    ("stage", "completed", JobState.SUCCEEDED),
    ("stage", "failed", JobState.FAILED),
    # Guide status names.
    ("status", "pending", JobState.PENDING),
    ("status", "in_progress", JobState.RUNNING),
    ("status", "completed", JobState.SUCCEEDED),
    ("status", "failed", JobState.FAILED),
)
"""Every rule mapping a job object of either dialect to its ``JobState``, in order: the first
row whose field has that value (texts compared case-insensitively; a flag must be JSON true)
wins. When no row matches, an unknown ``stage``/``status`` text means the job still runs
(RUNNING), and a job that states nothing at all (a bare ``{"jobId": ...}`` in a 202 answer) was
just accepted (PENDING)."""


class ShapeError(ValueError):
    """A part of a body has the wrong shape; the message says what was expected."""


_JSON_KINDS: Final[Mapping[type, str]] = {
    type(None): "null",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
}


def kind(value: Any) -> str:
    """Name the JSON type of ``value`` (``"an array"``, ``"null"``...), never the value."""
    return _JSON_KINDS.get(type(value), type(value).__name__)


def _matches(value: object, expected: object) -> bool:
    """Whether a field's value is a table row's: same JSON type, texts without case."""
    if isinstance(expected, str):
        return isinstance(value, str) and value.lower() == expected
    return type(value) is type(expected) and value == expected


def job_state(job: Mapping[str, Any]) -> JobState:
    """The state of a job object of either dialect, by the first matching row of the table."""
    for field, expected, state in JOB_STATES:
        if _matches(job.get(field), expected):
            return state
    stated = job.get("stage") is not None or job.get("status") is not None
    return JobState.RUNNING if stated else JobState.PENDING


def canonical(obj: Any, places: Places, what: str) -> dict[str, Any]:
    """Check that ``obj`` is a JSON object; return a copy in the canonical form ``places`` say.

    A canonical key the object has (not null) is kept; otherwise the first place, in the
    table's order, that holds a value gives it. ``obj`` itself is never changed.
    """
    if not isinstance(obj, dict):
        raise ShapeError(f"expected {what} as an object, got {kind(obj)}")
    result = dict(obj)
    for place, key in places.items():
        value = obj.get(place)
        if value is None:
            continue
        if isinstance(key, str):
            if result.get(key) is None:
                result[key] = value
            continue
        # A nested object is looked into only for the keys still missing.
        for inner, inner_key in key.items():
            if result.get(inner_key) is not None:
                continue
            if not isinstance(value, dict):  # JSON objects are dicts: no need for Mapping's ABC
                raise ShapeError(f"expected {place} to be an object, got {kind(value)}")
            found = value.get(inner)
            if found is not None:
                result[inner_key] = found
    return result


def canonical_availability(obj: Any) -> dict[str, Any]:
    """An inventory availability entry in canonical form: its datacenter as one object.

    The datacenter's keys come flat (``AVAILABILITY_DATACENTER``); a key the ``datacenter``
    object has (not null) is kept. Neither ``obj`` nor its ``datacenter`` is changed.
    """
    entry = canonical(obj, {}, "a datacenter's availability")
    given = entry.get("datacenter")
    if given is not None and not isinstance(given, dict):
        raise ShapeError(f"expected datacenter to be an object, got {kind(given)}")
    datacenter = dict(given or {})
    for place, key in AVAILABILITY_DATACENTER.items():
        if datacenter.get(key) is None and entry.get(place) is not None:
            datacenter[key] = entry[place]
    if datacenter or given is not None:
        entry["datacenter"] = datacenter
    return entry


_ERROR_FROM_MESSAGE: Final = frozenset({JobState.FAILED, JobState.CANCELLED})
"""States whose error falls back to the job's ``message`` when the server sent no error."""


def canonical_job(obj: Any) -> dict[str, Any]:
    """A job object of either dialect in canonical form, with its ``state`` decided.

    ``errorMessage`` falls back to the job's ``message`` for a failed or cancelled job.
    """
    job = canonical(obj, JOB_PLACES, "a job")
    if job.get("jobId") is None:
        raise ShapeError("expected a job id (jobId or id), found none")
    state = job["state"] = job_state(obj)
    if job.get("errorMessage") is None and state in _ERROR_FROM_MESSAGE:
        job["errorMessage"] = job.get("message")
    return job


def canonical_bulk_result(obj: Any) -> dict[str, Any]:
    """One ``data.results`` entry of a bulk answer; an error object is reduced to its message."""
    entry = canonical(obj, {}, "a bulk result")
    error = entry.get("error")
    if isinstance(error, dict):
        text = error.get("message") or error.get("code")
        entry["error"] = text if isinstance(text, str) else None
    return entry


def gpu_counts_as_list(value: Any) -> Any:
    """``gpuCounts`` in the reference's form: the guide's map by count becomes an array."""
    if not isinstance(value, dict):
        return value  # the reference's array (or a wrong shape, for the converter to name)
    entries = []
    for count, entry in value.items():
        if not (isinstance(count, str) and count.isascii() and count.isdigit()):
            raise ShapeError("expected the keys of gpuCounts to be GPU counts such as '1'")
        if not isinstance(entry, dict):
            raise ShapeError(f"expected each gpuCounts entry to be an object, got {kind(entry)}")
        entries.append({**entry, "count": int(count)})
    return entries
