"""Errors cross process boundaries: each one pickles and copies with its class and attributes."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Awaitable
from typing import Any

import pytest

from gpcn_async import errors
from gpcn_async.models import JobState, JobStatus
from gpcn_async.testing import FakeGPCN

STATUS = JobStatus(id="job-1", state=JobState.FAILED, error="no capacity")

# One instance of every error class, with every attribute it carries set to a telling value.
SAMPLES: list[errors.GPCNError] = [
    errors.GPCNError("base"),
    errors.ConfigurationError("no key"),
    errors.ClientStateError("closed"),
    errors.InvalidRequestError("gpu_count must be 1, 2, 4 or 8, got 3"),
    errors.TransportError("GET /resource/gpu: the connection was lost"),
    errors.OutcomeUnknownError("POST /resource/gpu: lost", vm_name="train-0"),
    errors.OutcomeUnknownError("DELETE /resource/gpu/a: lost", ids=["a", "b"]),
    errors.ResponseDecodeError("expected a JSON body", status=200, snippet="<html>"),
    errors.APIError("teapot", status=418, code="TEAPOT", details={"x": 1}, request_id="r-1"),
    errors.BadRequestError("bad", status=422, details=[{"field": "name"}], method="POST", path="/"),
    errors.AuthenticationError("Unauthorized", status=401, code="UNAUTHORIZED"),
    errors.PermissionDeniedError("GPU disabled", status=403),
    errors.NotFoundError("GPU VM not found", status=404, method="GET", path="/resource/gpu/x"),
    errors.ConflictError("claimed", status=409),
    errors.RateLimitError("slow down", retry_after=2.5, request_id="r-2"),
    errors.NotSupportedError("no reset", status=501),
    errors.ServerError("Bad Gateway", status=502),
    errors.JobError("ended", job_id="job-1", status=STATUS),
    errors.JobFailedError("failed: no capacity", job_id="job-1", status=STATUS),
    errors.JobCancelledError("cancelled", job_id="job-2"),
    errors.JobNotFoundError("gone", job_id="job-3"),
    errors.JobTimeoutError("still RUNNING", job_id="job-4", status=STATUS),
    errors.NoCapacityError("nothing", tried=["a100 x1 in dc-1 (409)"]),
    errors.BulkItemError("GPU VM not found", id="vm-9"),
]


def _same(first: BaseException, second: BaseException) -> None:
    assert type(second) is type(first)
    assert str(second) == str(first)
    assert second.args == first.args
    assert vars(second) == vars(first)


@pytest.mark.parametrize("error", SAMPLES, ids=lambda error: type(error).__name__)
def test_every_error_survives_a_pickle_round_trip(error: errors.GPCNError) -> None:
    """An error pickled and loaded again has the same class, message and attributes."""
    _same(error, pickle.loads(pickle.dumps(error)))  # noqa: S301 -- our own bytes


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy], ids=["copy", "deepcopy"])
@pytest.mark.parametrize("error", SAMPLES, ids=lambda error: type(error).__name__)
def test_every_error_survives_copy(error: errors.GPCNError, copier: Any) -> None:
    """copy.copy and copy.deepcopy give an error of the same class, message and attributes."""
    _same(error, copier(error))


def test_every_error_class_has_a_sample() -> None:
    """The samples above cover every error class the errors module exports."""
    classes = {
        getattr(errors, name)
        for name in errors.__all__
        if isinstance(getattr(errors, name), type) and getattr(errors, name) is not errors.BulkError
    }
    assert classes == {type(error) for error in SAMPLES}


def test_a_copy_keeps_notes_added_to_the_original() -> None:
    """Notes added with add_note() travel with the copy and the pickle."""
    error = errors.NotFoundError("GPU VM not found", status=404)
    error.add_note("id: vm-1")
    assert pickle.loads(pickle.dumps(error)).__notes__ == ["id: vm-1"]  # noqa: S301
    assert copy.copy(error).__notes__ == ["id: vm-1"]


def test_a_bulk_error_pickles_with_its_errors_by_id() -> None:
    """BulkError, an ExceptionGroup, comes back with its message and per-id errors."""
    group = errors.BulkError(
        "2 of 3 ids failed",
        {
            "a": errors.NotFoundError("GPU VM not found", status=404),
            "b": errors.OutcomeUnknownError("lost", ids=["b"]),
        },
    )
    for loaded in (pickle.loads(pickle.dumps(group)), copy.copy(group)):  # noqa: S301
        assert type(loaded) is errors.BulkError
        assert str(loaded) == str(group)
        assert list(loaded.errors_by_id) == ["a", "b"]
        assert loaded.errors_by_id["b"].ids == ("b",)  # type: ignore[attr-defined]
        assert [type(e) for e in loaded.exceptions] == [
            errors.NotFoundError,
            errors.OutcomeUnknownError,
        ]


async def raised(call: Awaitable[object]) -> errors.GPCNError:
    """The GPCNError a real call raises (the test fails if it raises none)."""
    try:
        await call
    except errors.GPCNError as error:
        return error
    raise AssertionError("the call raised nothing")


async def test_errors_raised_by_real_calls_pickle_and_copy(fake: FakeGPCN) -> None:
    """Errors met in real calls (with causes, notes and statuses) survive pickle and copy."""
    fake.set_availability(fake.series[0].code, fake.datacenters[0].id, 1, available=True)
    vm_id = fake.add_vm(name="vm-0")
    failed_job = fake.add_job(polls=1, outcome="failed", error="no capacity")
    fake.inject("POST", "/resource/gpu", disconnect=True, after_commit=True)
    fake.inject("GET", "/resource/gpu/inventory", status=429, headers={"Retry-After": "600"})
    series_id: int | str = fake.series[0].guide_id if fake.dialect == "guide" else fake.series[0].id
    found: list[errors.GPCNError] = []
    async with fake.client() as gpcn:
        found.append(await raised(gpcn.gpu.get("missing")))
        found.append(await raised(gpcn.jobs.attach(failed_job).wait()))
        found.append(await raised(gpcn.jobs.attach("gone").wait()))
        found.append(await raised(gpcn.jobs.attach(fake.add_job(polls=99)).wait(timeout=0.01)))
        found.append(
            await raised(
                gpcn.gpu.create(
                    name="lost",
                    datacenter_id=fake.datacenters[0].id,
                    series_id=series_id,
                    gpu_count=1,
                )
            )
        )
        found.append(await raised(gpcn.gpu.update(vm_id)))
        result = await gpcn.gpu.bulk_stop([vm_id, "missing"])
        try:
            result.raise_for_failures()
        except errors.BulkError as group:
            found.append(group)
            found.extend(error for error in group.exceptions if isinstance(error, errors.GPCNError))
        found.append(await raised(gpcn.gpu.inventory()))  # last: it pauses the client 600 s
    found.append(await raised(gpcn.gpu.get(vm_id)))  # closed
    kinds = {type(error) for error in found}
    assert {
        errors.NotFoundError,
        errors.JobFailedError,
        errors.JobNotFoundError,
        errors.JobTimeoutError,
        errors.RateLimitError,
        errors.OutcomeUnknownError,
        errors.InvalidRequestError,
        errors.BulkError,
        errors.ClientStateError,
    } <= kinds
    for error in found:
        for loaded in (pickle.loads(pickle.dumps(error)), copy.copy(error)):  # noqa: S301
            assert type(loaded) is type(error)
            assert str(loaded) == str(error)
            assert getattr(loaded, "__notes__", None) == getattr(error, "__notes__", None)
            if not isinstance(error, errors.BulkError):
                assert vars(loaded).keys() == vars(error).keys()
