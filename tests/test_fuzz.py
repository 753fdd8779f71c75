"""Fuzzing the decoders: whatever a server sends, only the SDK's typed errors come out."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpcn_async import _convert, _wire
from gpcn_async.errors import APIError, GPCNError, ResponseDecodeError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
# Keys the decoders look for, so that fuzzed objects often reach the deeper paths.
wire_keys = st.sampled_from(
    [
        "success", "data", "meta", "message", "error", "code", "details", "retryAfter", "jobs",
        "jobId", "id", "status", "stage", "isCompleted", "hasFailed", "isTerminal", "progress",
        "results", "series", "availability", "gpuCounts", "privateKey", "resourceId",
    ]
)  # fmt: skip
wire_objects = st.recursive(
    json_values,
    lambda children: (
        st.dictionaries(wire_keys, children, max_size=6) | st.lists(children, max_size=3)
    ),
    max_leaves=25,
)
header_values = st.text(max_size=30)
headers = st.fixed_dictionaries(
    {},
    optional={
        "X-RateLimit-Limit": header_values,
        "X-RateLimit-Remaining": header_values,
        "X-RateLimit-Reset": header_values,
        "Retry-After": header_values,
        "X-Request-Id": header_values,
    },
)
bodies = st.binary(max_size=300) | wire_objects.map(lambda v: json.dumps(v).encode())

STRUCTURE: list[Any] = [
    _convert.structure_vm,
    _convert.structure_inventory,
    _convert.structure_job,
    _convert.structure_jobs_response,
    _convert.structure_accepted_jobs,
    _convert.structure_bulk_outcomes,
    _convert.structure_page_meta,
    lambda data: _convert.structure_vm_page(data, data),
    lambda data: _convert.structure_ssh_key("vm-1", data),
]


@FUZZ
@given(status=st.integers(200, 299), body=bodies)
def test_any_success_body_decodes_or_raises_a_typed_error(status: int, body: bytes) -> None:
    """A 2xx body of any bytes gives an envelope, ResponseDecodeError or APIError, nothing else."""
    try:
        envelope = _wire.decode_success(status, body)
    except (ResponseDecodeError, APIError):
        return
    assert isinstance(envelope, _wire.Envelope)


@FUZZ
@given(status=st.integers(400, 599), body=bodies, given_headers=headers)
def test_any_error_body_maps_to_an_api_error(
    status: int, body: bytes, given_headers: dict[str, str]
) -> None:
    """An error answer of any body and headers becomes an APIError of that status."""
    error = _wire.error_from_response(status, body, given_headers, now=1_790_000_000.0)
    assert isinstance(error, APIError)
    assert error.status == status
    assert isinstance(str(error), str)
    assert isinstance(repr(error), str)


@FUZZ
@given(given_headers=headers)
def test_any_headers_parse_or_are_ignored(given_headers: dict[str, str]) -> None:
    """Rate-limit and Retry-After headers of any text parse to numbers or to None."""
    rate = _wire.parse_rate_limit(given_headers)
    assert rate is None or rate.limit >= 1
    wait = _wire.parse_retry_after(given_headers.get("Retry-After"), now=1_790_000_000.0)
    assert wait is None or wait >= 0


@FUZZ
@given(data=wire_objects)
def test_any_json_data_structures_or_raises_response_decode_error(data: Any) -> None:
    """Every decoder either succeeds or raises ResponseDecodeError on arbitrary JSON data."""
    for structure in STRUCTURE:
        try:
            structure(data)
        except ResponseDecodeError:
            continue


@FUZZ
@given(body=bodies)
def test_any_body_through_the_whole_decode_path_gives_only_typed_errors(body: bytes) -> None:
    """Bytes decoded as an envelope and then as each model raise only GPCNError subclasses."""
    try:
        envelope = _wire.decode_success(200, body)
        for structure in STRUCTURE:
            try:
                structure(envelope.data)
            except ResponseDecodeError:
                continue
    except GPCNError:
        return
