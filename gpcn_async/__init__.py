"""gpcn_async: the asyncio-first Python SDK for the GPCN cloud's GPU API.

Every public name is importable from here:

```python
from gpcn_async import Client

async with Client() as gpcn:  # API key from GPCN_API_KEY
    inventory = await gpcn.gpu.inventory()
```
"""

from gpcn_async._version import __version__
from gpcn_async.bulk import BulkItem, BulkResult, JobGroup
from gpcn_async.client import Client
from gpcn_async.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    BulkError,
    BulkItemError,
    ClientStateError,
    ConfigurationError,
    ConflictError,
    GPCNError,
    InvalidRequestError,
    JobCancelledError,
    JobError,
    JobFailedError,
    JobNotFoundError,
    JobTimeoutError,
    NoCapacityError,
    NotFoundError,
    NotSupportedError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    TransportError,
)
from gpcn_async.jobs import Job
from gpcn_async.models import (
    AuthStatus,
    Credential,
    Datacenter,
    DatacenterAvailability,
    GeneratedSshKey,
    GpuCountOffer,
    GpuSeries,
    GpuSpecs,
    GpuVm,
    Grants,
    Inventory,
    InventoryError,
    JobState,
    JobStatus,
    Offer,
    Page,
    PageMeta,
    RateLimitSnapshot,
    Sku,
    SshKey,
    SshKeyAlgorithm,
    SshKeyEntry,
)
from gpcn_async.policies import PollPolicy, RetryPolicy
from gpcn_async.resources.datacenters import DatacentersClient
from gpcn_async.resources.gpu import GpuClient
from gpcn_async.resources.jobs import JobsClient
from gpcn_async.resources.ssh_keys import SshKeysClient

__all__ = [
    "APIError",
    "AuthStatus",
    "AuthenticationError",
    "BadRequestError",
    "BulkError",
    "BulkItem",
    "BulkItemError",
    "BulkResult",
    "Client",
    "ClientStateError",
    "ConfigurationError",
    "ConflictError",
    "Credential",
    "Datacenter",
    "DatacenterAvailability",
    "DatacentersClient",
    "GPCNError",
    "GeneratedSshKey",
    "GpuClient",
    "GpuCountOffer",
    "GpuSeries",
    "GpuSpecs",
    "GpuVm",
    "Grants",
    "InvalidRequestError",
    "Inventory",
    "InventoryError",
    "Job",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "JobGroup",
    "JobNotFoundError",
    "JobState",
    "JobStatus",
    "JobTimeoutError",
    "JobsClient",
    "NoCapacityError",
    "NotFoundError",
    "NotSupportedError",
    "Offer",
    "OutcomeUnknownError",
    "Page",
    "PageMeta",
    "PermissionDeniedError",
    "PollPolicy",
    "RateLimitError",
    "RateLimitSnapshot",
    "ResponseDecodeError",
    "RetryPolicy",
    "ServerError",
    "Sku",
    "SshKey",
    "SshKeyAlgorithm",
    "SshKeyEntry",
    "SshKeysClient",
    "TransportError",
    "__version__",
]
