"""The fake's catalog: GPU series, datacenters, availability and SKUs (plain data, no I/O).

Ids are deterministic (uuid5 of a fixed namespace and the name), so tests may rely on them across
runs. Availability is a set of ``(series_code, datacenter_id, gpu_count)`` keys that are orderable
right now; everything else is unavailable.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from gpcn_async.testing._checks import require_int, require_text

__all__ = [
    "GPU_COUNTS",
    "Catalog",
    "DatacenterSpec",
    "SeriesSpec",
    "SkuSpec",
    "fake_uuid",
    "require_gpu_count",
    "skus_for",
]

GPU_COUNTS: tuple[int, ...] = (1, 2, 4, 8)
"""The GPU counts the API accepts."""

_NAMESPACE = uuid.UUID("6f1d9c2e-7a3b-4c5d-8e9f-0a1b2c3d4e5f")


def fake_uuid(kind: str, name: str) -> str:
    """Return the deterministic id of a catalog entry.

    Args:
        kind: What the entry is ("series", "datacenter", "sku").
        name: The entry's unique name or code.

    Returns:
        A uuid5 string, the same on every run.
    """
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{name}"))


@dataclass(frozen=True)
class SeriesSpec:
    """A GPU series of the catalog.

    Attributes:
        guide_id: The integer id the guide dialect shows.
        id: The uuid string id the reference dialect shows.
        code: The series code, e.g. ``"nvidia-a100"``.
        name: The display name, e.g. ``"NVIDIA A100"``.
        description: A short description.
        gpu_model: The GPU model used in SKU descriptions, e.g. ``"A100 SXM 80GB"``.
        vcpu_per_gpu: vCPUs of a VM per GPU.
        memory_gib_per_gpu: Memory (GiB) of a VM per GPU.
        storage_gb_per_gpu: Disk (GB) of a VM per GPU.
    """

    guide_id: int
    id: str
    code: str
    name: str
    description: str = ""
    gpu_model: str = "GPU"
    vcpu_per_gpu: int = 16
    memory_gib_per_gpu: int = 120
    storage_gb_per_gpu: int = 1000


@dataclass(frozen=True)
class DatacenterSpec:
    """A datacenter of the catalog.

    Attributes:
        id: The datacenter's uuid string.
        name: The display name, e.g. ``"US East 1"``.
        code: The short code, e.g. ``"USE-1"``.
        region: The region, e.g. ``"US East"``.
        country_abbr: The ISO country code.
        country: The country's name.
    """

    id: str
    name: str
    code: str
    region: str
    country_abbr: str = "US"
    country: str = "United States"


@dataclass(frozen=True)
class SkuSpec:
    """An orderable SKU of a (series, GPU count) configuration.

    Attributes:
        code: The SKU code, e.g. ``"nvidia-h100-8x"``.
        description: A short description.
        gpu_description: E.g. ``"8x H100 SXM 80GB"``.
        vcpu: vCPUs of the VM.
        memory_gib: Memory of the VM in GiB.
        storage_gb: Disk of the VM in GB.
    """

    code: str
    description: str
    gpu_description: str
    vcpu: int
    memory_gib: int
    storage_gb: int

    @property
    def id(self) -> str:
        """The SKU's deterministic uuid."""
        return fake_uuid("sku", self.code)


def skus_for(series: SeriesSpec, gpu_count: int) -> list[SkuSpec]:
    """Return the SKUs of a configuration: one per count, a high-storage one from 4 GPUs up.

    Args:
        series: The series.
        gpu_count: The GPU count.

    Returns:
        The SKUs, the standard one first.
    """
    gpus = f"{gpu_count}x {series.gpu_model}"
    base = SkuSpec(
        code=f"{series.code}-{gpu_count}x",
        description=gpus,
        gpu_description=gpus,
        vcpu=series.vcpu_per_gpu * gpu_count,
        memory_gib=series.memory_gib_per_gpu * gpu_count,
        storage_gb=series.storage_gb_per_gpu * gpu_count,
    )
    if gpu_count < 4:
        return [base]
    large = SkuSpec(
        code=f"{base.code}-hs",
        description=f"{gpus}, high storage",
        gpu_description=gpus,
        vcpu=base.vcpu,
        memory_gib=base.memory_gib,
        storage_gb=base.storage_gb * 2,
    )
    return [base, large]


_SEED_SERIES = (
    ("nvidia-a100", "NVIDIA A100", "A100 SXM 80 GB", "A100 SXM 80GB", 12, 110, 1000),
    ("nvidia-h100", "NVIDIA H100 Series", "H100 SXM 80 GB", "H100 SXM 80GB", 26, 225, 2750),
    ("nvidia-l40s", "NVIDIA L40S", "L40S 48 GB", "L40S 48GB", 8, 62, 800),
)
_SEED_DATACENTERS = (
    ("US East 1", "USE-1", "US East", "US", "United States"),
    ("US West 2", "USW-2", "US West", "US", "United States"),
    ("EU Central 1", "EUC-1", "EU Central", "DE", "Germany"),
)
# series code -> datacenter index -> available counts; anything not listed is unavailable.
_SEED_AVAILABILITY: dict[str, dict[int, tuple[int, ...]]] = {
    "nvidia-a100": {0: (1, 2), 1: (4,), 2: (1, 8)},
    "nvidia-h100": {0: (1, 8), 2: (2, 4)},
    "nvidia-l40s": {0: (1, 2, 4), 1: (1, 2)},
}


def _default_code(name: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", name)
    if not words:
        return "DC"
    head = "".join(word[0] for word in words if not word.isdigit()).upper() or "DC"
    tail = words[-1] if words[-1].isdigit() else ""
    return f"{head}-{tail}" if tail else head


def _default_region(name: str) -> str:
    region = re.sub(r"\s*\d+$", "", name).strip()
    return region or name


@dataclass
class Catalog:
    """``fake.catalog``: the GPU series, the datacenters, what is available where, the SKUs.

    The fake's own state, scripted directly: a change shows in the next answers.

    Attributes:
        series: The GPU series, in catalog order (add one with ``add_series``).
        datacenters: The datacenters with GPUs, in catalog order (add one with
            ``add_datacenter``).
        available: The orderable ``(series_code, datacenter_id, gpu_count)`` keys.
        custom_skus: SKUs set for a ``(series_code, gpu_count)`` configuration, replacing the
            derived ones (see ``skus_for``).
    """

    series: list[SeriesSpec] = field(default_factory=list)
    datacenters: list[DatacenterSpec] = field(default_factory=list)
    available: set[tuple[str, str, int]] = field(default_factory=set)
    custom_skus: dict[tuple[str, int], tuple[SkuSpec, ...]] = field(default_factory=dict)

    @classmethod
    def seeded(cls) -> Catalog:
        """Return the default catalog: 3 series, 3 datacenters, a mix of availability."""
        catalog = cls()
        for code, name, description, model, vcpu, memory, storage in _SEED_SERIES:
            catalog.add_series(
                code,
                name,
                description=description,
                gpu_model=model,
                vcpu_per_gpu=vcpu,
                memory_gib_per_gpu=memory,
                storage_gb_per_gpu=storage,
            )
        for name, code, region, abbr, country in _SEED_DATACENTERS:
            catalog.add_datacenter(
                name, code=code, region=region, country_abbr=abbr, country=country
            )
        for code, by_dc in _SEED_AVAILABILITY.items():
            for index, counts in by_dc.items():
                for count in counts:
                    catalog.available.add((code, catalog.datacenters[index].id, count))
        return catalog

    def add_series(
        self,
        code: str,
        name: str,
        *,
        description: str = "",
        gpu_model: str | None = None,
        vcpu_per_gpu: int = 16,
        memory_gib_per_gpu: int = 120,
        storage_gb_per_gpu: int = 1000,
    ) -> SeriesSpec:
        """Add a GPU series (unavailable everywhere until ``set_availability``).

        Its SKUs are derived per GPU count from the per-GPU sizes (see ``skus``) unless
        ``set_skus`` replaces them. The guide dialect shows it with the next integer id.

        Args:
            code: The series code, e.g. ``"nvidia-b200"``.
            name: The display name.
            description: A short description.
            gpu_model: The GPU model in SKU descriptions (default: derived from ``name``).
            vcpu_per_gpu: vCPUs of a VM per GPU.
            memory_gib_per_gpu: Memory (GiB) of a VM per GPU.
            storage_gb_per_gpu: Disk (GB) of a VM per GPU.

        Returns:
            The new series, with its ids.

        Raises:
            ValueError: An empty code or name, a code already in the catalog, or a per-GPU size
                that is not an int >= 1.
        """
        require_text("series code", code)
        require_text("series name", name)
        if self.find_series(code) is not None:
            raise ValueError(f"series code {code!r} is already in the catalog")
        require_int("vcpu_per_gpu", vcpu_per_gpu, 1)
        require_int("memory_gib_per_gpu", memory_gib_per_gpu, 1)
        require_int("storage_gb_per_gpu", storage_gb_per_gpu, 1)
        spec = SeriesSpec(
            guide_id=max((s.guide_id for s in self.series), default=0) + 1,
            id=fake_uuid("series", code),
            code=code,
            name=name,
            description=description,
            gpu_model=gpu_model or name.removeprefix("NVIDIA ").removesuffix(" Series"),
            vcpu_per_gpu=vcpu_per_gpu,
            memory_gib_per_gpu=memory_gib_per_gpu,
            storage_gb_per_gpu=storage_gb_per_gpu,
        )
        self.series.append(spec)
        return spec

    def add_datacenter(
        self,
        name: str,
        *,
        code: str | None = None,
        region: str | None = None,
        country_abbr: str = "US",
        country: str = "United States",
    ) -> DatacenterSpec:
        """Add a datacenter (code and region derived from the name unless given).

        Returns:
            The new datacenter, with its id.

        Raises:
            ValueError: The name is empty or already in the catalog.
        """
        require_text("datacenter name", name)
        if any(dc.name == name for dc in self.datacenters):
            raise ValueError(f"datacenter {name!r} is already in the catalog")
        spec = DatacenterSpec(
            id=fake_uuid("datacenter", name),
            name=name,
            code=code or _default_code(name),
            region=region or _default_region(name),
            country_abbr=country_abbr,
            country=country,
        )
        self.datacenters.append(spec)
        return spec

    def find_series(self, key: object) -> SeriesSpec | None:
        """Find a series by code, uuid, or guide id (an int or a string of digits)."""
        for spec in self.series:
            if key in (spec.code, spec.id, spec.guide_id) or (
                isinstance(key, str) and key == str(spec.guide_id)
            ):
                return spec
        return None

    def find_datacenter(self, key: object) -> DatacenterSpec | None:
        """Find a datacenter by id."""
        for spec in self.datacenters:
            if key == spec.id:
                return spec
        return None

    def is_available(self, series_code: str, datacenter_id: str, gpu_count: int) -> bool:
        """Tell whether a configuration is orderable now."""
        return (series_code, datacenter_id, gpu_count) in self.available

    def set_availability(
        self, series_code: str, datacenter_id: str, gpu_count: int, available: bool = True
    ) -> None:
        """Mark a (series, datacenter, GPU count) configuration available or not.

        Raises:
            ValueError: Unknown series or datacenter, or a count not in 1, 2, 4, 8.
        """
        self.series_by_code(series_code)
        if self.find_datacenter(datacenter_id) is None:
            raise ValueError(f"unknown datacenter id {datacenter_id!r}")
        require_gpu_count(gpu_count)
        key = (series_code, datacenter_id, gpu_count)
        if bool(available):
            self.available.add(key)
        else:
            self.available.discard(key)

    def clear_availability(self) -> None:
        """Make every configuration unavailable."""
        self.available.clear()

    def series_by_code(self, series_code: str) -> SeriesSpec:
        """Return the series with this code.

        Raises:
            ValueError: No such series (the message lists the known codes).
        """
        for spec in self.series:
            if spec.code == series_code:
                return spec
        known = ", ".join(repr(spec.code) for spec in self.series) or "none"
        raise ValueError(f"unknown series code {series_code!r} (known: {known})")

    def skus_of(self, spec: SeriesSpec, gpu_count: int) -> list[SkuSpec]:
        """Return the SKUs of a configuration: those set by ``set_skus``, else the derived ones."""
        custom = self.custom_skus.get((spec.code, gpu_count))
        return list(custom) if custom is not None else skus_for(spec, gpu_count)

    def skus(self, series_code: str, gpu_count: int) -> list[SkuSpec]:
        """Return the SKUs of a configuration, the standard one first.

        By default a configuration has one SKU (``<code>-<n>x``), plus a high-storage one
        (``<code>-<n>x-hs``) from 4 GPUs up; ``set_skus`` replaces them.

        Raises:
            ValueError: An unknown series, or a count not in 1, 2, 4, 8.
        """
        spec = self.series_by_code(series_code)
        return self.skus_of(spec, require_gpu_count(gpu_count))

    def set_skus(self, series_code: str, gpu_count: int, skus: Sequence[SkuSpec] | None) -> None:
        """Replace the SKUs of a configuration (None: back to the derived ones).

        The inventory lists them (reference dialect), a create may name one as ``skuCode`` (an
        unknown one answers 400), and a VM created without one runs on the first.

        Raises:
            ValueError: Unknown series, a bad count, no SKU, an item that is not a ``SkuSpec``, or
                a SKU code given twice.
        """
        spec = self.series_by_code(series_code)
        require_gpu_count(gpu_count)
        if skus is None:
            self.custom_skus.pop((spec.code, gpu_count), None)
            return
        items: tuple[object, ...] = tuple(skus)
        if not items:
            raise ValueError(
                "a configuration needs at least one SKU; to make it unorderable use "
                "set_availability(..., available=False)"
            )
        strangers = [item for item in items if not isinstance(item, SkuSpec)]
        if strangers:
            raise ValueError(f"skus must be SkuSpec objects, got {strangers[0]!r}")
        codes = [item.code for item in items if isinstance(item, SkuSpec)]
        for code in codes:
            if not code or codes.count(code) > 1:
                raise ValueError(f"SKU codes must be non-empty and unique, got {codes!r}")
        self.custom_skus[spec.code, gpu_count] = tuple(skus)


def require_gpu_count(gpu_count: object) -> int:
    """Return ``gpu_count`` if it is 1, 2, 4 or 8 (an int, not a bool).

    Raises:
        ValueError: Naming the bad value.
    """
    if isinstance(gpu_count, bool) or not isinstance(gpu_count, int) or gpu_count not in GPU_COUNTS:
        raise ValueError(f"gpu_count must be one of 1, 2, 4, 8, got {gpu_count!r}")
    return gpu_count
