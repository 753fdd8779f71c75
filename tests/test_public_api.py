"""The public surface: names the contract promises are importable, and __all__ stays sorted."""

from __future__ import annotations

import importlib

import pytest

import gpcn_async

PUBLIC_MODULES = [
    "gpcn_async",
    "gpcn_async.errors",
    "gpcn_async.fleet",
    "gpcn_async.models",
    "gpcn_async.testing",
]

# Names that code outside this repo imports from gpcn_async (sdk-contract.md).
CONTRACT_NAMES = [
    "Client",
    "PollPolicy",
    "RetryPolicy",
    "GPCNError",
    "ConfigurationError",
    "ClientStateError",
    "InvalidRequestError",
    "TransportError",
    "OutcomeUnknownError",
    "ResponseDecodeError",
    "APIError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "RateLimitError",
    "NotSupportedError",
    "ServerError",
    "JobError",
    "JobFailedError",
    "JobCancelledError",
    "JobNotFoundError",
    "JobTimeoutError",
    "NoCapacityError",
    "BulkError",
    "Job",
    "JobState",
    "JobStatus",
    "GpuVm",
    "GpuSeries",
    "Datacenter",
    "Inventory",
    "Offer",
    "Sku",
    "Page",
    "PageMeta",
    "SshKey",
    "RateLimitSnapshot",
    "SshKeyEntry",
    "GeneratedSshKey",
    "SshKeyAlgorithm",
    "AuthStatus",
    "Credential",
    "Grants",
]


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_all_is_sorted_and_every_name_exists(module_name: str) -> None:
    """Each public module's __all__ is sorted, without repeats, and names real attributes."""
    module = importlib.import_module(module_name)
    names = list(module.__all__)
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    assert all(hasattr(module, name) for name in names)


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_contract_names_are_importable_from_the_package(name: str) -> None:
    """Every public name of the contract is importable from gpcn_async itself."""
    assert name in gpcn_async.__all__
    assert getattr(gpcn_async, name) is not None


@pytest.mark.parametrize("name", [n for n in gpcn_async.__all__ if not n.startswith("__")])
def test_every_public_name_is_documented(name: str) -> None:
    """Every exported class has a docstring."""
    assert getattr(gpcn_async, name).__doc__


def test_invalid_request_error_is_a_value_error() -> None:
    """InvalidRequestError is caught by code that handles ValueError."""
    assert issubclass(gpcn_async.InvalidRequestError, ValueError)


def test_bulk_error_is_an_exception_group_of_gpcn_errors() -> None:
    """BulkError is both a GPCNError and an ExceptionGroup, and split() keeps the id mapping."""
    error = gpcn_async.BulkError(
        "2 of 2 failed",
        {
            "vm-1": gpcn_async.NotFoundError("vm-1: not found", status=404),
            "vm-2": gpcn_async.ServerError("vm-2: boom", status=500),
        },
    )
    assert isinstance(error, gpcn_async.GPCNError)
    assert isinstance(error, ExceptionGroup)
    not_found, rest = error.split(gpcn_async.NotFoundError)
    assert isinstance(not_found, gpcn_async.BulkError)
    assert list(not_found.errors_by_id) == ["vm-1"]
    assert isinstance(rest, gpcn_async.BulkError)
    assert list(rest.errors_by_id) == ["vm-2"]
