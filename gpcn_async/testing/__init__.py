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

- in code: ``async with FakeGPCN(...) as fake`` (see ``FakeGPCN`` for what a test can script);
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
    from gpcn_async.testing._account import SshKeyRecord
    from gpcn_async.testing._catalog import DatacenterSpec, SeriesSpec, Sku
    from gpcn_async.testing._faults import Fault, RandomFaults
    from gpcn_async.testing._jobs import JobRecord, JobScript
    from gpcn_async.testing._log import RecordedRequest
    from gpcn_async.testing._render import gateway_page
    from gpcn_async.testing._server import FakeGPCN
    from gpcn_async.testing._state import VmRecord

__all__ = [
    "DatacenterSpec",
    "FakeGPCN",
    "Fault",
    "JobRecord",
    "JobScript",
    "RandomFaults",
    "RecordedRequest",
    "SeriesSpec",
    "Sku",
    "SshKeyRecord",
    "VmRecord",
    "gateway_page",
]

# Each public name's module, imported on first use: Python imports this package before any of
# its modules, so the pytest plugin (loaded by every pytest run) would otherwise load the whole
# fake and aiohttp.web with it.
_MODULES = {
    "DatacenterSpec": "_catalog",
    "FakeGPCN": "_server",
    "Fault": "_faults",
    "JobRecord": "_jobs",
    "JobScript": "_jobs",
    "RandomFaults": "_faults",
    "RecordedRequest": "_log",
    "SeriesSpec": "_catalog",
    "Sku": "_catalog",
    "SshKeyRecord": "_account",
    "VmRecord": "_state",
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
