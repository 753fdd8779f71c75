"""The SDK's data: frozen ``attrs`` classes, one per thing the API talks about.

Models hold data only; both wire dialects are mapped onto them by ``gpcn_async._convert``.
Request bodies live in the internal ``gpcn_async.models._requests``.
"""

from gpcn_async.models._common import Page, PageMeta, RateLimitSnapshot
from gpcn_async.models.account import (
    AuthStatus,
    Credential,
    GeneratedSshKey,
    Grants,
    SshKeyAlgorithm,
    SshKeyEntry,
)
from gpcn_async.models.gpu import (
    Datacenter,
    DatacenterAvailability,
    GpuCountOffer,
    GpuSeries,
    GpuSpecs,
    GpuVm,
    Inventory,
    InventoryError,
    Offer,
    Sku,
    SshKey,
)
from gpcn_async.models.jobs import JobState, JobStatus

__all__ = [
    "AuthStatus",
    "Credential",
    "Datacenter",
    "DatacenterAvailability",
    "GeneratedSshKey",
    "GpuCountOffer",
    "GpuSeries",
    "GpuSpecs",
    "GpuVm",
    "Grants",
    "Inventory",
    "InventoryError",
    "JobState",
    "JobStatus",
    "Offer",
    "Page",
    "PageMeta",
    "RateLimitSnapshot",
    "Sku",
    "SshKey",
    "SshKeyAlgorithm",
    "SshKeyEntry",
]
