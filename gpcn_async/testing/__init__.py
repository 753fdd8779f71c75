"""Testing support: ``FakeGPCN``, a fake GPCN API served over real HTTP on 127.0.0.1.

The fake speaks either wire dialect (``"guide"`` or ``"reference"``), keeps a catalog, VMs, jobs
and an SSH-key library in memory, scripts job progress and outcomes, enforces a rate limit, logs
every request and injects faults:

```python
from gpcn_async.testing import FakeGPCN

async with FakeGPCN(dialect="guide") as fake:
    fake.inject("POST", "/resource/gpu", status=503)
    async with fake.client() as gpcn:
        ...
```

Three ways to use it:

- in code: ``async with FakeGPCN(...) as fake`` (see ``FakeGPCN`` for what a test can script:
  ``fake.catalog``, ``fake.vms``, ``fake.jobs``, ``fake.faults``, ``fake.rate_limiter``,
  ``fake.log``, ``fake.account``);
- with pytest: the plugin ``gpcn_async.testing.pytest_plugin`` (registered through the
  ``pytest11`` entry point) gives the fixtures ``gpcn_fake`` and ``gpcn_client`` and the markers
  ``gpcn_dialect`` and ``gpcn_fake``;
- standalone: ``python -m gpcn_async.testing --port 8080`` serves it for curl or any client.

It is built on ``aiohttp.web`` and the standard library only: it never uses the SDK's models or
converters, so it checks the wire contract independently of the client code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gpcn_async.testing._account import AccountScripting, SshKeyRecord
    from gpcn_async.testing._catalog import Catalog, DatacenterSpec, SeriesSpec, SkuSpec
    from gpcn_async.testing._faults import Fault, Faults, RandomFaults
    from gpcn_async.testing._job_scripting import Jobs, ScriptArgs
    from gpcn_async.testing._jobs import JobRecord, JobScript
    from gpcn_async.testing._log import RecordedRequest, RequestLog
    from gpcn_async.testing._ratelimit import RateLimiter
    from gpcn_async.testing._render import gateway_page
    from gpcn_async.testing._server import FakeGPCN
    from gpcn_async.testing._short_forms import ShortForms
    from gpcn_async.testing._vms import VmRecord, Vms

__all__ = [
    "AccountScripting",
    "Catalog",
    "DatacenterSpec",
    "FakeGPCN",
    "Fault",
    "Faults",
    "JobRecord",
    "JobScript",
    "Jobs",
    "RandomFaults",
    "RateLimiter",
    "RecordedRequest",
    "RequestLog",
    "ScriptArgs",
    "SeriesSpec",
    "ShortForms",
    "SkuSpec",
    "SshKeyRecord",
    "VmRecord",
    "Vms",
    "gateway_page",
]

# Each public name's module, imported on first use: Python imports this package before any of
# its modules, so the pytest plugin (loaded by every pytest run) would otherwise load the whole
# fake and aiohttp.web with it.
_MODULES = {
    "AccountScripting": "_account",
    "Catalog": "_catalog",
    "DatacenterSpec": "_catalog",
    "FakeGPCN": "_server",
    "Fault": "_faults",
    "Faults": "_faults",
    "JobRecord": "_jobs",
    "JobScript": "_jobs",
    "Jobs": "_job_scripting",
    "RandomFaults": "_faults",
    "RateLimiter": "_ratelimit",
    "RecordedRequest": "_log",
    "RequestLog": "_log",
    "ScriptArgs": "_job_scripting",
    "SeriesSpec": "_catalog",
    "ShortForms": "_short_forms",
    "SkuSpec": "_catalog",
    "SshKeyRecord": "_account",
    "VmRecord": "_vms",
    "Vms": "_vms",
    "gateway_page": "_render",
}


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562)."""
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups find it directly
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
