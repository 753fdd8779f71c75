"""What every model shares (``to_dict()``, secret fields), rate-limit snapshots and pages."""

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

import attrs

__all__ = ["Model", "Page", "PageMeta", "RateLimitSnapshot", "secret"]

T = TypeVar("T")

_SECRET = "gpcn_async.secret"  # noqa: S105 -- a metadata key, not a password
"""The metadata key of a field that holds a secret."""


def _redacted(_: object) -> str:
    return "<redacted>"


def secret() -> Any:
    """An attrs field holding a secret: ``<redacted>`` in ``repr``, left out of ``to_dict()``."""
    return attrs.field(repr=_redacted, metadata={_SECRET: True})


class Model:
    """The base of every model: data only, plus a JSON-ready view of it."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """This model as a JSON-ready dict, keyed by the SDK's field names (not the wire's).

        Nested models become dicts too, lists and tuples lists, datetimes ISO 8601 strings and
        enums their values, so ``json.dumps(model.to_dict())`` always works. Secrets (such as
        ``SshKey.private_key``) are left out.

        Returns:
            A new dict, in the order of the class's fields.
        """
        fields = attrs.fields(cast("type[attrs.AttrsInstance]", type(self)))
        return {
            field.name: _jsonable(getattr(self, field.name))
            for field in fields
            if not field.metadata.get(_SECRET)
        }


def _jsonable(value: object) -> object:
    if isinstance(value, Model):
        return value.to_dict()
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(item) for item in value]
    return value


@attrs.frozen
class RateLimitSnapshot(Model):
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
class PageMeta(Model):
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
class Page(Model, Generic[T]):
    """One page of a paginated list.

    Items may be added or removed on the server between page fetches, so pages fetched one after
    the other can skip or repeat an item.

    Attributes:
        items: the items of this page, in the server's order.
        meta: the page's position in the whole list.
    """

    items: list[T]
    meta: PageMeta
