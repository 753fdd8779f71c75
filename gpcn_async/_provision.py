"""The offer ranking and the 409 fallback loop behind ``gpcn.gpu.provision()``.

GPU capacity is contested: between reading the inventory and ordering, someone else may take the
configuration (409). ``provision()`` reads the inventory, orders the best offer, and on a 409
reads it again without the offers that failed, up to ``max_attempts`` orders. It takes the
inventory read and the order as functions, so it needs no resource module of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from gpcn_async import _validate
from gpcn_async.errors import ConflictError, InvalidRequestError, NoCapacityError
from gpcn_async.jobs import Job
from gpcn_async.models import GpuVm, Inventory, Offer

__all__ = ["provision", "rank_offers"]

logger = logging.getLogger("gpcn_async")

ReadInventory = Callable[..., Awaitable[Inventory]]
"""``gpu.inventory(code, gpu_count=)``."""
Order = Callable[..., Awaitable[Job[GpuVm]]]
"""``gpu.create(name=, datacenter_id=, series_id=, gpu_count=, ...)``."""


async def provision(
    *,
    name: str,
    code: str,
    gpu_count: int,
    datacenters: Iterable[str] | None,
    max_attempts: int,
    create_kwargs: Mapping[str, Any],
    read_inventory: ReadInventory,
    order: Order,
) -> Job[GpuVm]:
    """Order the best available offer, reading the inventory again after each 409.

    See ``GpuClient.provision`` for the arguments and what is raised.
    """
    name = _validate.text(name, "name")
    code = _validate.text(code, "code")
    gpu_count = _validate.gpu_count(gpu_count)
    preferred = None if datacenters is None else _validate.unique_ids(datacenters, "datacenters")
    max_attempts = _validate.positive_int(max_attempts, "max_attempts")
    reserved = sorted(_PROVISION_FIELDS & create_kwargs.keys())
    if reserved:
        raise InvalidRequestError(
            f"provision() chooses {', '.join(reserved)} itself; pass code= and datacenters="
        )
    tried: list[str] = []
    conflicts = 0
    claimed: set[tuple[int | str, str, int]] = set()
    for attempt in range(1, max_attempts + 1):
        inventory = await read_inventory(code, gpu_count=gpu_count)
        offers = rank_offers(inventory, code, gpu_count, preferred, claimed)
        if not offers:
            raise NoCapacityError(
                _nothing_available(inventory, code, gpu_count, preferred)
                + _tally(len(tried), conflicts),
                tried=tried,
            )
        offer = offers[0]
        kwargs = dict(create_kwargs)
        if offer.sku is not None:
            kwargs.setdefault("sku_code", offer.sku.code)
        logger.info(
            "provision %s: ordering %s x%d in %s (datacenter %s), SKU %s (attempt %d of %d)",
            name,
            *_described(offer),
            kwargs.get("sku_code") or "none",
            attempt,
            max_attempts,
        )
        try:
            return await order(
                name=name,
                datacenter_id=offer.datacenter.id,
                series_id=offer.series.id,
                gpu_count=gpu_count,
                **kwargs,
            )
        except ConflictError:
            conflicts += 1
            tried.append(f"{offer} (claimed meanwhile: 409)")
            claimed.add(_offer_key(offer))
            logger.info(
                "provision %s: %s x%d in %s (datacenter %s) was claimed meanwhile "
                "(409, attempt %d of %d); %s",
                name,
                *_described(offer),
                attempt,
                max_attempts,
                "re-checking the inventory for another offer"
                if attempt < max_attempts
                else "no attempts left",
            )
    raise NoCapacityError(
        f"no {code} x{gpu_count} order was accepted in {max_attempts} attempts"
        + _tally(len(tried), conflicts),
        tried=tried,
    )


_PROVISION_FIELDS = frozenset({"datacenter_id", "series_id"})


def _nothing_available(
    inventory: Inventory, code: str, gpu_count: int, preferred: list[str] | None
) -> str:
    """Why provision() found no offer: an unknown series code, or none in stock (and why)."""
    if inventory.error is not None:
        return f"no {code} x{gpu_count} offer is available: {inventory.error.message}"
    if not any(series.code == code for series in inventory.series):
        return f"no GPU series has the code {code!r} (gpcn.gpu.inventory() lists the codes)"
    where = "" if preferred is None else f" in datacenters {', '.join(preferred)}"
    return f"no {code} x{gpu_count} offer is available{where}"


def _tally(tried: int, conflicts: int) -> str:
    """What a NoCapacityError message adds about the orders sent: nothing when none was."""
    if not tried:
        return ""
    offers = "offer" if tried == 1 else "offers"
    return f"; {tried} {offers} tried, {conflicts} claimed meanwhile (409)"


def _described(offer: Offer) -> tuple[str, int, str, str]:
    """An offer for provision()'s log lines: series code, GPU count, datacenter name and id."""
    datacenter = offer.datacenter
    return (offer.series.code, offer.gpu_count, datacenter.name or datacenter.id, datacenter.id)


def _offer_key(offer: Offer) -> tuple[int | str, str, int]:
    return (offer.series.id, offer.datacenter.id, offer.gpu_count)


def rank_offers(
    inventory: Inventory,
    code: str,
    gpu_count: int,
    preferred: list[str] | None,
    claimed: set[tuple[int | str, str, int]],
) -> list[Offer]:
    """The offers provision() may order, best first: available, not claimed, in preference order.

    With ``preferred`` datacenter ids, only those datacenters, in that order; without, the
    inventory's order.
    """
    offers = [
        offer
        for offer in inventory.offers(code=code, gpu_count=gpu_count)
        if _offer_key(offer) not in claimed
    ]
    if preferred is None:
        return offers
    rank = {datacenter_id: index for index, datacenter_id in enumerate(preferred)}
    chosen = [offer for offer in offers if offer.datacenter.id in rank]
    return sorted(chosen, key=lambda offer: rank[offer.datacenter.id])
