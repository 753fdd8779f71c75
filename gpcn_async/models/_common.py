"""Models shared by every resource: rate-limit snapshots and pages of a list."""

from datetime import datetime
from typing import Generic, TypeVar

import attrs

__all__ = ["Page", "PageMeta", "RateLimitSnapshot"]

T = TypeVar("T")


@attrs.frozen
class RateLimitSnapshot:
    """The rate-limit budget as the latest response's ``X-RateLimit-*`` headers reported it.

    Attributes:
        limit: requests allowed per window (``X-RateLimit-Limit``).
        remaining: requests left in the current window (``X-RateLimit-Remaining``).
        reset_at: when the window resets (``X-RateLimit-Reset``), timezone-aware.
    """

    limit: int
    remaining: int
    reset_at: datetime


@attrs.frozen
class PageMeta:
    """Where a page sits in a paginated list (the envelope's ``meta``).

    Attributes:
        total: number of items in the whole list, on all pages.
        page: this page's number, 1-based.
        page_size: the largest number of items a page holds.
        total_pages: number of pages.
        has_next_page: whether a page follows this one.
        has_previous_page: whether a page comes before this one.
    """

    total: int
    page: int
    page_size: int
    total_pages: int
    has_next_page: bool
    has_previous_page: bool


@attrs.frozen
class Page(Generic[T]):
    """One page of a paginated list.

    Items may be added or removed on the server between page fetches, so pages fetched one after
    the other can skip or repeat an item.

    Attributes:
        items: the items of this page, in the server's order.
        meta: the page's position in the whole list.
    """

    items: list[T]
    meta: PageMeta
