"""Walking a paginated list lazily, one page per request."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

from gpcn_async import _wire
from gpcn_async._transport import Transport
from gpcn_async._validate import MAX_PAGE_LIMIT
from gpcn_async.models import Page

T = TypeVar("T")


async def iterate_pages(
    fetch_page: Callable[[int], Awaitable[Page[T]]], key: Callable[[T], str]
) -> AsyncGenerator[T, None]:
    """Yield the items of page 1, 2, ... fetching each page only when the previous is used up.

    The API has no cursor: an item added while we walk shifts later items onto the next page,
    where they would come a second time. Items already yielded on the previous page are
    skipped, so nothing is yielded twice; only the previous page's ids are kept, so memory
    stays the same however long the list is. (An item removed meanwhile can shift an unseen
    item back onto a page already walked; no client of this API can see that one.)
    """
    previous: set[str] = set()
    number = 1
    while True:
        page = await fetch_page(number)
        current: set[str] = set()
        for item in page.items:
            item_key = key(item)
            current.add(item_key)
            if item_key not in previous:
                yield item
        if not page.meta.has_next_page or not page.items:
            return
        previous = current
        number += 1


async def fetch_all(
    transport: Transport,
    path: str,
    filters: Mapping[str, object],
    decode: Callable[[Any, Any], Page[T]],
    key: Callable[[T], str],
) -> list[T]:
    """Every item of a list endpoint, read page after page of the largest size (100).

    ``filters`` become query parameters (None left out, booleans as ``true``/``false``);
    ``decode`` turns an answer's ``data`` and ``meta`` into a page.
    """

    async def fetch(number: int) -> Page[T]:
        params = _wire.query_params({"page": number, "limit": MAX_PAGE_LIMIT, **filters})
        response = await transport.request("GET", path, params=params)
        return response.decode(decode, response.meta)

    return [item async for item in iterate_pages(fetch, key)]
