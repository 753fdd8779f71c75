from __future__ import annotations

import time
import uuid

import pytest

from gpcn_async.testing import FakeGPCN
from tests.fake.fake_support import DIALECTS, running, sample

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("key", [None, "gpcn_wrong"])
async def test_missing_or_wrong_key_is_401_in_the_dialect_shape(
    dialect: str, key: str | None
) -> None:
    """A missing or wrong ``X-API-Key`` answers 401 with the dialect's auth error body."""
    async with running(dialect=dialect) as (_fake, wire):
        answer = await wire.call("GET", "/resource/gpu", key=key)
    assert answer.status == 401
    if dialect == "guide":
        assert answer.body == sample("guide", "error-401")
    else:
        assert answer.body == {
            "success": False,
            "message": "Missing or invalid API key",
            "error": {"code": "Authentication Failed", "statusCode": 401, "details": None},
        }


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("method", "url_path"),
    [
        ("GET", "/v1/resource/nothing"),
        ("PATCH", "/v1/resource/gpu"),
        ("GET", "/v1/resource/jobs"),
        ("GET", "/elsewhere"),
        ("GET", "/v2/resource/gpu"),
    ],
)
async def test_unknown_route_or_method_is_404_route_not_found(
    dialect: str, method: str, url_path: str
) -> None:
    """Unknown paths and methods, inside or outside /v1, answer 404 ``Route Not Found``."""
    async with running(dialect=dialect) as (fake, wire):
        origin = fake.url.removesuffix("/v1")
        answer = await wire.call(method, "", raw_url=origin + url_path)
    assert answer.status == 404
    assert answer.body == sample("reference", "error-404-route")


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_gpu_disabled_answers_403_but_jobs_still_work(dialect: str) -> None:
    """With GPU features off every /resource/gpu endpoint is 403 while /resource/jobs answers."""
    async with running(dialect=dialect, gpu_enabled=False) as (fake, wire):
        inventory = await wire.get("/resource/gpu/inventory")
        vm = await wire.get("/resource/gpu/some-id")
        jobs = await wire.post("/resource/jobs", {"jobIds": ["x"]})
        fake.gpu_enabled = True
        enabled = await wire.get("/resource/gpu")
    assert inventory.status == vm.status == 403
    assert jobs.status == 200
    assert enabled.status == 200
    if dialect == "guide":
        assert inventory.body == {
            "success": False,
            "error": "FORBIDDEN",
            "message": "GPU feature not enabled for this entity",
        }
    else:
        assert inventory.body == sample("reference", "error-403")


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_every_answer_carries_rate_limit_headers_and_a_fresh_request_id(
    dialect: str,
) -> None:
    """Successes, 401s and 404s all carry ``X-RateLimit-*`` and a new uuid4 ``X-Request-Id``."""
    async with running(dialect=dialect, rate_limit=50) as (_fake, wire):
        answers = [
            await wire.get("/resource/gpu"),
            await wire.call("GET", "/resource/gpu", key=None),
            await wire.get("/resource/nowhere"),
        ]
    ids = set()
    for remaining, answer in zip((49, 48, 47), answers, strict=True):
        assert all(name in answer.headers for name in RATE_HEADERS)
        assert answer.headers["X-RateLimit-Limit"] == "50"
        assert answer.headers["X-RateLimit-Remaining"] == str(remaining)
        reset = int(answer.headers["X-RateLimit-Reset"])
        assert time.time() < reset <= time.time() + 61
        request_id = uuid.UUID(answer.headers["X-Request-Id"])
        assert request_id.version == 4
        ids.add(request_id)
    assert len(ids) == 3


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_request_log_records_every_request_with_its_status(dialect: str) -> None:
    """The log keeps method, relative path, query, body, headers, answered status and time."""
    async with running(dialect=dialect) as (fake, wire):
        before = time.monotonic()
        await wire.get("/resource/gpu", page="2", limit="5")
        await wire.call("GET", "/resource/gpu", key=None)
        await wire.post("/resource/jobs", {"jobIds": ["a"]})
        await wire.get("/resource/gpu/abc")
        await wire.post("/resource/gpu/abc/start")
        records = fake.requests
    assert [(r.method, r.path, r.status) for r in records] == [
        ("GET", "/resource/gpu", 200),
        ("GET", "/resource/gpu", 401),
        ("POST", "/resource/jobs", 200),
        ("GET", "/resource/gpu/abc", 404),
        ("POST", "/resource/gpu/abc/start", 404),
    ]
    first, _, poll, *_ = records
    assert first.query == {"page": "2", "limit": "5"}
    assert first.json is None
    assert first.headers["x-api-key"] == fake.api_key  # lookups ignore case
    assert poll.json == {"jobIds": ["a"]}
    assert before <= first.time <= poll.time <= time.monotonic()


async def test_log_helpers_match_method_and_path_globs() -> None:
    """``count``/``requests_to`` filter by method and path glob; ``clear_requests`` empties."""
    async with running() as (fake, wire):
        await wire.post("/resource/gpu/a/start")
        await wire.post("/resource/gpu/b/start")
        await wire.post("/resource/gpu/b/stop")
        await wire.get("/resource/gpu/b")
        assert fake.count() == 4
        assert fake.count("POST", "/resource/gpu/*/start") == 2
        assert fake.count("post", "/resource/gpu/b*") == 2
        assert fake.count(path="/resource/gpu/b") == 1
        assert [r.path for r in fake.requests_to("*", "*/stop")] == ["/resource/gpu/b/stop"]
        assert fake.requests_to("DELETE") == []
        fake.clear_requests()
        assert fake.requests == []
        assert fake.count() == 0


async def test_a_capped_log_keeps_the_newest_requests_and_counts_them_all() -> None:
    """With ``log_cap=2`` the log keeps the 2 newest requests; ``count`` still counts all 4."""
    async with running(log_cap=2) as (fake, wire):
        await wire.post("/resource/gpu/a/start")
        await wire.post("/resource/gpu/b/start")
        await wire.get("/resource/gpu/b")
        await wire.get("/resource/gpu/c")
        assert [r.path for r in fake.requests] == ["/resource/gpu/b", "/resource/gpu/c"]
        assert [r.status for r in fake.requests] == [404, 404]
        assert fake.log.cap == 2
        assert fake.count() == 4
        assert fake.count("POST", "/resource/gpu/*/start", status=404) == 2
        assert fake.count(status=0) == 0  # every answer went out, also those no longer kept
        assert fake.requests_to("POST") == []
        fake.clear_requests()
        assert (fake.requests, fake.count()) == ([], 0)


def test_a_negative_log_cap_is_refused() -> None:
    """``FakeGPCN(log_cap=-1)`` raises ``ValueError`` naming ``log_cap``."""
    with pytest.raises(ValueError, match="log_cap"):
        FakeGPCN(log_cap=-1)


async def test_short_forms_are_the_groups_members() -> None:
    """Each short form reads, calls and sets its group's member: one fake, one state."""
    async with running() as (fake, wire):
        vm_id = fake.add_vm(name="short")
        assert fake.vms[vm_id] is fake.vms[vm_id]
        assert fake.jobs.add(operation="stop", resource_id=vm_id) in fake.jobs
        fault = fake.faults.inject("GET", "/resource/gpu", status=503)
        assert fake.faults == [fault]
        assert (await wire.get("/resource/gpu")).status == 503
        assert fake.log.count("GET", "/resource/gpu", status=503) == fake.count() == 1
        fake.provider_outage = True
        assert fake.faults.provider_outage is True
        fake.rate_limiter.set(5, 1.0)
        assert (fake.rate_limit, fake.rate_window) == (5, 1.0)
        assert fake.series == fake.catalog.series
        fake.gpu_enabled = False
        assert fake.account.gpu_enabled is False
        with pytest.raises(AttributeError):
            fake.rate_limited_count = 3  # read-only in its group too
