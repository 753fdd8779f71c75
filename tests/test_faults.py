"""The fault matrix: each endpoint kind meets each fault once, and ends as the table says.

Rows are endpoint kinds (read, create, state change, delete, reset, bulk, poll); columns are
faults. The outcome is either success (after the retries the fault calls for) or a typed error.
Whatever happens, an action that is never re-sent (create, delete, reset, bulk delete, bulk
reset) is sent once unless the server refused it with 429, and no second VM is made.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from gpcn_async import (
    Client,
    GPCNError,
    JobNotFoundError,
    OutcomeUnknownError,
    ResponseDecodeError,
)
from gpcn_async.testing import FakeGPCN

OK = "ok"
Outcome = str | type[GPCNError]
Action = Callable[[Client], Awaitable[None]]

HTML_502 = "<html><body><h1>502 Bad Gateway</h1></body></html>"
FAULTS: dict[str, dict[str, Any]] = {
    "500": {"status": 500},
    "502-html": {"status": 502, "body": HTML_502},
    "503-retry-after": {"status": 503, "headers": {"Retry-After": "0.01"}},
    "504": {"status": 504},
    "429-retry-after": {"status": 429, "headers": {"Retry-After": "0.01"}},
    "429-body-retry-after": {
        "status": 429,
        "body": {"success": False, "error": {"code": "Rate Limited", "retryAfter": 0.01}},
    },
    # No hint at all: the wait comes from X-RateLimit-Reset (the fake's window is 0.1 s).
    "429-no-hint": {
        "status": 429,
        "body": {"success": False, "error": "RATE_LIMIT_EXCEEDED", "message": "slow down"},
    },
    "dropped-before-acting": {"disconnect": True},
    "dropped-after-acting": {"disconnect": True, "after_commit": True},
    "slow-past-timeout": {"delay": 1.0},
    "malformed-json": {"status": 200, "body": "{not json", "after_commit": True},
    "wrong-shape": {
        "status": 200,
        "body": {"success": True, "data": [1, 2, 3]},
        "after_commit": True,
    },
    "empty-200": {"status": 200, "body": "", "after_commit": True},
    "poll-missing-id": {"status": 200, "body": {"success": True, "data": {"jobs": []}}},
}

RETRIED = dict.fromkeys(
    [
        "500",
        "502-html",
        "503-retry-after",
        "504",
        "429-retry-after",
        "429-body-retry-after",
        "429-no-hint",
        "dropped-before-acting",
        "dropped-after-acting",
        "slow-past-timeout",
    ],
    OK,
)
UNREADABLE = ["malformed-json", "wrong-shape", "empty-200"]

# Never re-sent once it may have arrived: every fault after sending leaves the outcome unknown,
# a 429 (the server did not act) is waited out and sent again.
NEVER_RESENT: dict[str, Outcome] = {
    **dict.fromkeys(RETRIED, OutcomeUnknownError),
    "429-retry-after": OK,
    "429-body-retry-after": OK,
    "429-no-hint": OK,
    **dict.fromkeys(UNREADABLE, OutcomeUnknownError),  # a 2xx: the action was taken
}
NEVER_RESENT_KINDS = ("create", "delete", "reset", "bulk-delete", "bulk-reset")

EXPECTED: dict[str, dict[str, Outcome]] = {
    "read": {**RETRIED, **dict.fromkeys(UNREADABLE, ResponseDecodeError)},
    "create": NEVER_RESENT,
    # A 200 (rather than a 202 with a job) means done: its data is not needed.
    "delete": {**NEVER_RESENT, "wrong-shape": OK, "empty-200": OK},
    "reset": {**NEVER_RESENT, "wrong-shape": OK, "empty-200": OK},
    "bulk-delete": NEVER_RESENT,
    "bulk-reset": NEVER_RESENT,
    "state-change": {
        **RETRIED,
        "malformed-json": ResponseDecodeError,
        "wrong-shape": OK,  # a 200 to stop means done; its data is not needed
        "empty-200": OK,
    },
    "bulk": {**RETRIED, **dict.fromkeys(UNREADABLE, ResponseDecodeError)},
    # A poll answer that cannot be read is one failed round: the next round succeeds.
    "poll": {**RETRIED, **dict.fromkeys(UNREADABLE, OK), "poll-missing-id": JobNotFoundError},
}

# Each request attempt's limit: short where the answer is slow on purpose (that it ends the
# attempt is the fault), else too long for a busy machine to end one (the suite runs in parallel).
SLOW_ANSWER_TIMEOUT = 0.5
TIMEOUT = 30.0

# A timeout or a header-timed wait reads no body, so the dialect cannot change its outcome: these
# faults meet each endpoint kind in one dialect; every other fault in both.
TIMING_ONLY = ("slow-past-timeout", "429-no-hint")

MATRIX = [
    pytest.param(dialect, kind, fault, outcome, id=f"{dialect}-{kind}-{fault}")
    for dialect in ("guide", "reference")
    for kind, row in EXPECTED.items()
    for fault, outcome in row.items()
    if dialect == "reference" or fault not in TIMING_ONLY
]


def prepare_read(fake: FakeGPCN) -> tuple[str, str, Action]:
    """A GET of one VM."""
    vm_id = fake.add_vm(name="read-me")

    async def read(gpcn: Client) -> None:
        assert (await gpcn.gpu.get(vm_id)).id == vm_id

    return "GET", f"/resource/gpu/{vm_id}", read


def prepare_create(fake: FakeGPCN) -> tuple[str, str, Action]:
    """An order of one VM named train-42."""
    series, datacenter = fake.series[0], fake.datacenters[0]
    fake.set_availability(series.code, datacenter.id, 1, available=True)
    series_id: int | str = series.guide_id if fake.dialect == "guide" else series.id

    async def create(gpcn: Client) -> None:
        job = await gpcn.gpu.create(
            name="train-42", datacenter_id=datacenter.id, series_id=series_id, gpu_count=1
        )
        assert job.id in fake.jobs

    return "POST", "/resource/gpu", create


def prepare_stop(fake: FakeGPCN) -> tuple[str, str, Action]:
    """A stop of one VM, a state change safe to send again."""
    vm_id = fake.add_vm(name="stop-me")

    async def stop(gpcn: Client) -> None:
        await (await gpcn.gpu.stop(vm_id))
        assert fake.vms[vm_id].status == "Stopped"

    return "POST", f"/resource/gpu/{vm_id}/stop", stop


def prepare_delete(fake: FakeGPCN) -> tuple[str, str, Action]:
    """A delete of one VM, awaited."""
    vm_id = fake.add_vm(name="delete-me")

    async def delete(gpcn: Client) -> None:
        await (await gpcn.gpu.delete(vm_id))
        assert vm_id not in fake.vms or fake.is_being_deleted(vm_id)

    return "DELETE", f"/resource/gpu/{vm_id}", delete


def prepare_reset(fake: FakeGPCN) -> tuple[str, str, Action]:
    """A hard reset of one VM."""
    vm_id = fake.add_vm(name="reset-me", status="Stopped")

    async def reset(gpcn: Client) -> None:
        await (await gpcn.gpu.reset(vm_id))

    return "POST", f"/resource/gpu/{vm_id}/reset", reset


def prepare_bulk_delete(fake: FakeGPCN) -> tuple[str, str, Action]:
    """A bulk delete of three VMs, awaited."""
    ids = [fake.add_vm(name=f"bulk-{n}") for n in range(3)]

    async def bulk_delete(gpcn: Client) -> None:
        group = await gpcn.gpu.bulk_delete(ids)
        for error in group.failed.values():
            raise error
        result = await group
        assert result.succeeded == ids
        assert not set(ids) & set(fake.vms)

    return "POST", "/resource/gpu/bulk/delete", bulk_delete


def prepare_bulk(action: str) -> Callable[[FakeGPCN], tuple[str, str, Action]]:
    """A bulk start/stop/reset of three VMs; the first per-id error is raised."""

    def prepare(fake: FakeGPCN) -> tuple[str, str, Action]:
        ids = [fake.add_vm(name=f"bulk-{n}") for n in range(3)]

        async def bulk(gpcn: Client) -> None:
            result = await getattr(gpcn.gpu, f"bulk_{action}")(ids)
            for item in result.items.values():
                if item.error is not None:
                    raise item.error
            assert result.succeeded == ids

        return "POST", f"/resource/gpu/bulk/{action}", bulk

    return prepare


def prepare_poll(fake: FakeGPCN) -> tuple[str, str, Action]:
    """A wait for one job that ends on its first poll."""
    job_id = fake.add_job(polls=1)

    async def poll(gpcn: Client) -> None:
        status = await gpcn.jobs.attach(job_id).wait(timeout=10)
        assert status.id == job_id

    return "POST", "/resource/jobs", poll


PREPARE: dict[str, Callable[[FakeGPCN], tuple[str, str, Action]]] = {
    "read": prepare_read,
    "create": prepare_create,
    "state-change": prepare_stop,
    "delete": prepare_delete,
    "reset": prepare_reset,
    "bulk": prepare_bulk("stop"),
    "bulk-delete": prepare_bulk_delete,
    "bulk-reset": prepare_bulk("reset"),
    "poll": prepare_poll,
}


@pytest.mark.parametrize(("dialect", "kind", "fault", "outcome"), MATRIX)
async def test_fault_matrix(dialect: str, kind: str, fault: str, outcome: Outcome) -> None:
    """The endpoint kind meets the fault once and ends as the matrix says, never with 2 VMs."""
    async with FakeGPCN(dialect=dialect, rate_window=0.1) as fake:
        method, path, action = PREPARE[kind](fake)
        fake.inject(method, path, **FAULTS[fault])
        timeout = SLOW_ANSWER_TIMEOUT if fault == "slow-past-timeout" else TIMEOUT
        async with fake.client(timeout=timeout) as gpcn:
            if outcome == OK:
                await action(gpcn)
            else:
                assert isinstance(outcome, type)
                with pytest.raises(outcome) as caught:
                    await action(gpcn)
                if isinstance(caught.value, OutcomeUnknownError):
                    assert_names_its_subject(kind, caught.value, method, path)
        assert fake.created_vm_count <= 1
        if kind in NEVER_RESENT_KINDS:
            assert fake.count(method, path) == (2 if fault.startswith("429") else 1)
        if kind == "create" and outcome == OK:
            assert fake.created_vm_count == 1
        assert fake.rate_limited_count == 0


def assert_names_its_subject(kind: str, error: OutcomeUnknownError, method: str, path: str) -> None:
    """An unknown outcome names what may have happened: the VM name, or the ids acted on."""
    if kind == "create":
        assert error.vm_name == "train-42"
        assert "train-42" in str(error)
    elif kind.startswith("bulk"):
        assert len(error.ids) == 3
        assert all(vm_id in str(error) for vm_id in error.ids)
    else:
        assert error.ids == (path.split("/")[3],)
    assert f"{method} {path}" in str(error)
