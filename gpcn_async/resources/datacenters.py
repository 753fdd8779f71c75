"""``gpcn.datacenters``: the datacenters the API key can see, with their capabilities."""

from __future__ import annotations

from gpcn_async import _convert, _validate
from gpcn_async._pagination import fetch_all
from gpcn_async._transport import Transport
from gpcn_async.errors import InvalidRequestError
from gpcn_async.models import Datacenter

__all__ = ["DatacentersClient"]

BASE = "/resource/data-centers"


class DatacentersClient:
    """Datacenters, reached as ``gpcn.datacenters``."""

    def __init__(self, transport: Transport) -> None:
        """Internal: made by ``Client``."""
        self._transport = transport

    async def list(
        self,
        search: str | None = None,
        *,
        country: str | None = None,
        region: str | None = None,
        gpu_enabled: bool | None = None,
        vpc_capable: bool | None = None,
        l2_capable: bool | None = None,
    ) -> list[Datacenter]:
        """Every datacenter the API key can see (all pages), filtered by the server.

        A filter left None is not sent. A boolean filter set to False keeps only the
        datacenters that lack the capability.

        Args:
            search: only datacenters whose name matches this text.
            country: only this country, by name (``"United States"``).
            region: only this region, by name (``"East"``).
            gpu_enabled: only datacenters where GPUs can (True) or cannot (False) be ordered.
            vpc_capable: only datacenters with (or without) VPCs.
            l2_capable: only datacenters with (or without) layer-2 networking.

        Raises:
            InvalidRequestError: a filter of the wrong type (before any request).
        """
        filters = {
            "search": _validate.optional_text(search, "search"),
            "countryName": _validate.optional_text(country, "country"),
            "regionName": _validate.optional_text(region, "region"),
            "gpuEnabled": _flag(gpu_enabled, "gpu_enabled"),
            "vpcCapable": _flag(vpc_capable, "vpc_capable"),
            "l2Capable": _flag(l2_capable, "l2_capable"),
        }
        return await fetch_all(
            self._transport, BASE, filters, _convert.structure_datacenter_page, key=_datacenter_id
        )


def _flag(value: object, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise InvalidRequestError(f"{name} must be True, False or None, got {value!r}")


def _datacenter_id(datacenter: Datacenter) -> str:
    return datacenter.id
