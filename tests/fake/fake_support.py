"""Helpers for the fake server's tests: a running fake with a raw aiohttp session, and samples.

The fake is tested with plain ``aiohttp.ClientSession`` requests only, never with the SDK's client,
so these tests pin the wire contract on their own.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from gpcn_async.testing import FakeGPCN

DIALECTS = ("guide", "reference")
SAMPLES = Path(__file__).parent.parent / "wire_samples"


def sample(dialect: str, name: str) -> Any:
    """Return a wire sample (``tests/wire_samples/<dialect>/<name>.json``)."""
    return json.loads((SAMPLES / dialect / f"{name}.json").read_text())


def key_mismatches(actual: Any, expected: Any, where: str = "$") -> list[str]:
    """List where the object keys of ``actual`` differ from ``expected`` (recursively).

    Lists are compared by their first items; values that are not both objects or both non-empty
    lists are not compared (a null in one and an object in the other is fine).
    """
    problems: list[str] = []
    if isinstance(actual, dict) and isinstance(expected, dict):
        if set(actual) != set(expected):
            missing, extra = set(expected) - set(actual), set(actual) - set(expected)
            problems.append(f"{where}: missing {sorted(missing)}, extra {sorted(extra)}")
        for key in set(actual) & set(expected):
            problems += key_mismatches(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(actual, list) and isinstance(expected, list) and actual and expected:
        problems += key_mismatches(actual[0], expected[0], f"{where}[0]")
    return problems


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, headers, and the body parsed as JSON (None if not JSON)."""

    status: int
    headers: CIMultiDictProxy[str]
    text: str
    body: Any

    @property
    def data(self) -> Any:
        """The envelope's ``data``."""
        return self.body["data"]


class Wire:
    """Raw HTTP requests to a fake, with its API key unless told otherwise."""

    def __init__(self, session: aiohttp.ClientSession, fake: FakeGPCN) -> None:
        self.session = session
        self.fake = fake

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        key: str | None = "",
        raw_url: str | None = None,
    ) -> Answer:
        """Send a request to ``fake.url + path`` (``key=None``: no key; ``""``: the fake's)."""
        sent = dict(headers or {})
        if key is not None:
            sent["X-API-Key"] = key or self.fake.api_key
        url = raw_url or self.fake.url + path
        kwargs: dict[str, Any] = {"headers": sent, "params": params}
        if json_body is not None:
            kwargs["json"] = json_body
        async with self.session.request(method, url, **kwargs) as response:
            text = await response.text()
            try:
                body = json.loads(text) if text else None
            except ValueError:
                body = None
            return Answer(response.status, response.headers, text, body)

    async def get(self, path: str, **params: str) -> Answer:
        """``GET`` with query parameters."""
        return await self.call("GET", path, params=params or None)

    async def post(self, path: str, body: Any = None) -> Answer:
        """``POST`` a JSON body."""
        return await self.call("POST", path, json_body=body)

    async def put(self, path: str, body: Any) -> Answer:
        """``PUT`` a JSON body."""
        return await self.call("PUT", path, json_body=body)

    async def delete(self, path: str) -> Answer:
        """``DELETE``."""
        return await self.call("DELETE", path)

    async def poll(self, *job_ids: str) -> list[dict[str, Any]]:
        """Poll jobs and return the job objects (asserting a 200)."""
        answer = await self.post("/resource/jobs", {"jobIds": list(job_ids)})
        assert answer.status == 200, answer.text
        jobs: list[dict[str, Any]] = answer.data["jobs"]
        return jobs

    def series_id(self, index: int = 0) -> int | str:
        """The id of a catalog series as the fake's dialect shows it."""
        spec = self.fake.series[index]
        return spec.guide_id if self.fake.dialect == "guide" else spec.id

    async def create(self, **fields: Any) -> Answer:
        """``POST /resource/gpu`` with an available default configuration, ``fields`` overriding."""
        body: dict[str, Any] = {
            "name": "vm-under-test",
            "datacenterId": self.fake.datacenters[0].id,
            "seriesId": self.series_id(0),
            "gpuCount": 1,
        }
        body.update(fields)
        return await self.post("/resource/gpu", body)


def job_id_of(answer: Answer) -> str:
    """The job id of a 202 answer in either dialect (create, delete or action)."""
    data = answer.data
    if "jobs" in data:
        return str(data["jobs"][0]["jobId"])
    return str(data["jobId"])


def job_state(job: Mapping[str, Any]) -> str:
    """A job object's state in either dialect: its guide status or reference stage."""
    return str(job.get("status", job.get("stage")))


def job_progress(job: Mapping[str, Any]) -> int:
    """A job object's progress in either dialect."""
    return int(job.get("progress", job.get("progressPercentage", -1)))


@asynccontextmanager
async def running(**options: Any) -> AsyncIterator[tuple[FakeGPCN, Wire]]:
    """Run a fake (``FakeGPCN(**options)``) with a raw client session; close both after."""
    async with FakeGPCN(**options) as fake, aiohttp.ClientSession() as session:
        yield fake, Wire(session, fake)
