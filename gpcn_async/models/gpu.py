"""GPU models: the inventory (series, datacenters, offers), GPU VMs and their SSH keys.

These classes hold data only. How each wire dialect maps onto them lives in
``gpcn_async._convert``.
"""

from collections.abc import Iterator
from datetime import datetime

import attrs

from gpcn_async import _validate
from gpcn_async.models._common import Model, secret

__all__ = [
    "Datacenter",
    "DatacenterAvailability",
    "GpuCountOffer",
    "GpuSeries",
    "GpuSpecs",
    "GpuVm",
    "Inventory",
    "InventoryError",
    "Offer",
    "Sku",
    "SshKey",
]


@attrs.frozen
class Datacenter(Model):
    """A datacenter: where GPUs (and other resources) can be ordered.

    The same class serves the inventory's offers and ``gpcn.datacenters.list()``; a field the
    answer lacks is None (the inventory sends only id, name and code).

    Attributes:
        id: the datacenter's id (pass it as ``datacenter_id``).
        name: its display name, such as ``"US East 1"``.
        code: its short code, such as ``"KAN-1"``, when the server sends one.
        region: its region, such as ``"US Central"``, when the server sends one.
        country: its country's name, such as ``"United States"``.
        country_code: its country's two-letter code, such as ``"US"``.
        continent: its continent's name, such as ``"North America"``.
        gpu_enabled: whether GPUs can be ordered there.
        vpc_capable: whether it offers VPCs.
        l2_capable: whether it offers layer-2 networking.
        custom_images: whether it accepts custom images.
    """

    id: str
    name: str
    code: str | None = None
    region: str | None = None
    country: str | None = None
    country_code: str | None = None
    continent: str | None = None
    gpu_enabled: bool | None = None
    vpc_capable: bool | None = None
    l2_capable: bool | None = None
    custom_images: bool | None = None


@attrs.frozen
class GpuSpecs(Model):
    """The hardware that comes with a GPU configuration; each field is None when not sent.

    Attributes:
        gpu_description: the GPUs, such as ``"1x H100 SXM 80GB"``.
        vcpu: number of virtual CPUs.
        memory_gib: memory in GiB.
        storage_gb: local storage in GB.
    """

    gpu_description: str | None = None
    vcpu: int | None = None
    memory_gib: int | None = None
    storage_gb: int | None = None


@attrs.frozen
class Sku(Model):
    """A concrete orderable configuration (pass its code as ``sku_code``).

    Attributes:
        code: the SKU code, such as ``"h100-sxm-80gb-1x"``.
        description: a short description, when sent.
        specs: the SKU's hardware, when sent.
    """

    code: str
    description: str | None = None
    specs: GpuSpecs | None = None


@attrs.frozen
class GpuCountOffer(Model):
    """Availability of one GPU count of a series in one datacenter.

    Attributes:
        count: number of GPUs per VM (1, 2, 4 or 8).
        available: whether this count can be ordered now.
        specs: the hardware of this count, when the server sends it.
        skus: the SKUs that provide this count (empty when the server lists none).
    """

    count: int
    available: bool = True
    specs: GpuSpecs | None = None
    skus: list[Sku] = attrs.field(factory=list)


@attrs.frozen
class DatacenterAvailability(Model):
    """Which GPU counts of a series a datacenter offers.

    Attributes:
        datacenter: the datacenter.
        gpu_counts: one entry per GPU count the server reported, in the server's order.
    """

    datacenter: Datacenter
    gpu_counts: list[GpuCountOffer] = attrs.field(factory=list)


@attrs.frozen
class GpuSeries(Model):
    """A GPU series (a GPU model line, such as NVIDIA A100) and where it is available.

    Attributes:
        id: the series id (pass it as ``series_id``); an int or a string, as the server sends it.
        name: its display name, such as ``"NVIDIA A100"``.
        code: its code, such as ``"a100"`` (the inventory's ``code`` filter).
        description: a short description, when sent.
        availability: per datacenter, the GPU counts on offer.
    """

    id: int | str
    name: str
    code: str
    description: str | None = None
    availability: list[DatacenterAvailability] = attrs.field(factory=list)


@attrs.frozen
class InventoryError(Model):
    """A problem the server reported with the inventory, such as its GPU provider being down.

    Attributes:
        code: the server's code, such as ``"GPU_PROVIDER_UNAVAILABLE"``.
        message: the server's explanation.
    """

    code: str
    message: str


def _sku_rank(sku: Sku) -> tuple[tuple[bool, int], ...]:
    """Sort key ranking smaller SKUs first: vcpu, then memory, then storage; unknowns last."""
    specs = sku.specs
    values = (None,) * 3 if specs is None else (specs.vcpu, specs.memory_gib, specs.storage_gb)
    return tuple((value is None, value or 0) for value in values)


def _series_ref(series: GpuSeries) -> str:
    """Show a series by its code in an offer's repr (its whole availability would drown it)."""
    return f"<GpuSeries {series.code!r}>"


@attrs.frozen
class Offer(Model):
    """Something that can be ordered now: a GPU count of a series in a datacenter.

    Attributes:
        series: the GPU series.
        datacenter: the datacenter.
        gpu_count: number of GPUs per VM.
        sku: the suggested SKU for this count, or None when the server lists no SKUs.
    """

    series: GpuSeries = attrs.field(repr=_series_ref)
    datacenter: Datacenter
    gpu_count: int
    sku: Sku | None = None

    @property
    def series_id(self) -> int | str:
        """The series id, as ``create(series_id=...)`` takes it."""
        return self.series.id

    @property
    def series_code(self) -> str:
        """The series code."""
        return self.series.code

    @property
    def datacenter_id(self) -> str:
        """The datacenter id, as ``create(datacenter_id=...)`` takes it."""
        return self.datacenter.id

    @property
    def sku_code(self) -> str | None:
        """The suggested SKU's code, as ``create(sku_code=...)`` takes it, or None."""
        return None if self.sku is None else self.sku.code

    def __str__(self) -> str:
        return f"{self.series.name} x{self.gpu_count} in {self.datacenter.name}"


@attrs.frozen
class Inventory(Model):
    """The GPU catalog and what is available now.

    Attributes:
        series: every series in the catalog, in the server's order.
        error: a problem the server reported (for example its provider being unreachable, in
            which case availability is unknown and empty), or None.
    """

    series: list[GpuSeries]
    error: InventoryError | None = None

    def offers(self, code: str | None = None, gpu_count: int | None = None) -> Iterator[Offer]:
        """Iterate over what can be ordered now, one ``Offer`` per series, datacenter and count.

        Offers come in series order, then datacenter order, then by GPU count ascending.

        Each offer's ``sku`` is the cheapest SKU the server listed for that count. The wire
        carries no prices, so SKUs are ranked by their specs instead, as a proxy for price:
        fewest vCPUs first, then least memory, then least storage; a SKU with unknown specs
        ranks after the known ones, and ties keep the server's order. ``sku`` is None when the
        server lists no SKUs (the guide's inventory never does).

        Args:
            code: only offers of the series with this code (``GpuSeries.code``).
            gpu_count: only offers of this many GPUs.

        Yields:
            The matching offers that are available now.

        Raises:
            InvalidRequestError: ``code`` is not a non-empty string or ``gpu_count`` is not
                one of 1, 2, 4, 8 (raised at the call, before iterating).
        """
        code = _validate.optional_text(code, "code")
        gpu_count = None if gpu_count is None else _validate.gpu_count(gpu_count)
        return self._offers(code, gpu_count)

    def _offers(self, code: str | None, gpu_count: int | None) -> Iterator[Offer]:
        for series in self.series:
            if code is not None and series.code != code:
                continue
            for place in series.availability:
                for count in sorted(place.gpu_counts, key=lambda offer: offer.count):
                    if not count.available:
                        continue
                    if gpu_count is not None and count.count != gpu_count:
                        continue
                    yield Offer(
                        series=series,
                        datacenter=place.datacenter,
                        gpu_count=count.count,
                        sku=min(count.skus, key=_sku_rank, default=None),
                    )


@attrs.frozen
class GpuVm(Model):
    """A GPU virtual machine.

    Both wire dialects decode into this class; a field the server's dialect lacks is None.

    Attributes:
        id: the VM's id.
        name: its name.
        status: the server's status text as sent (``"Provisioning"``, ``"Running"``, ...);
            values this SDK does not know, such as ``"Stopped"``, are kept as they are.
        ip: its public IP address, once it has one.
        jupyter_url: the URL of its JupyterLab, once it has one.
        gpu_count: number of GPUs.
        series_code: the code of its GPU series (reference dialect: the configuration's code).
        series_name: the name of its GPU series.
        datacenter_id: the id of its datacenter.
        datacenter_name: the name of its datacenter.
        team_id: its team (guide dialect).
        resource_group_id: its resource group (reference dialect).
        created_at: when it was created.
        updated_at: when it last changed.
        series_id: the id of its GPU series (guide dialect).
        sku_code: the code of its SKU (reference dialect).
        image: the OS image it runs (reference dialect).
        username: the login user name (reference dialect).
        ssh_key_id: the id of its SSH key (reference dialect).
    """

    id: str
    name: str
    status: str
    ip: str | None = None
    jupyter_url: str | None = None
    gpu_count: int | None = None
    series_code: str | None = None
    series_name: str | None = None
    datacenter_id: str | None = None
    datacenter_name: str | None = None
    team_id: int | str | None = None
    resource_group_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    series_id: int | str | None = None
    sku_code: str | None = None
    image: str | None = None
    username: str | None = None
    ssh_key_id: str | None = None


@attrs.frozen
class SshKey(Model):
    """The SSH private key of a GPU VM.

    The key is a secret: ``repr()`` and ``str()`` show ``<redacted>`` in its place. Read
    ``private_key`` only to write it where it belongs (a file with mode 0600, an agent).

    Attributes:
        vm_id: the VM the key opens.
        private_key: the OpenSSH private key, in PEM-like text form.
    """

    vm_id: str
    private_key: str = secret()
