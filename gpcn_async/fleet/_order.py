"""The order ``ensure()`` places for each member: ``provision()``'s arguments, checked up front.

They are checked before the journal is touched or anything is sent: a mistake found only when
the first member is ordered would leave an intent behind for nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, Final

from gpcn_async import Client, InvalidRequestError

__all__ = ["check_order"]

GPU_COUNTS: Final = (1, 2, 4, 8)
# provision() names the member (the fleet does) and picks the offer's datacenter and series.
_CHOSEN_FOR_YOU: Final = frozenset({"name", "datacenter_id", "series_id"})
_REQUIRED: Final = ("code", "gpu_count")
_INTEGER_IDS: Final = frozenset({"team_id"})
"""Fields whose ids the guide shows as integers; every other field is a string."""


def _known_fields(gpcn: Client) -> set[str]:
    """The keyword arguments ``provision()`` takes, its own and those it passes to ``create()``."""
    fields: set[str] = set()
    for method in (gpcn.gpu.provision, gpcn.gpu.create):
        for parameter in inspect.signature(method).parameters.values():
            if parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD):
                fields.add(parameter.name)
    return fields - _CHOSEN_FOR_YOU


def check_order(gpcn: Client, order: Mapping[str, Any]) -> dict[str, Any]:
    """The order's arguments, checked; those left None are dropped.

    Raises:
        InvalidRequestError: ``name=`` (the fleet names members), an argument ``provision()``
            does not take, ``code`` or ``gpu_count`` missing, or a value of the wrong kind.
    """
    if "name" in order:
        raise InvalidRequestError("ensure() names the members itself (<fleet>-000, ...): no name=")
    known = _known_fields(gpcn)
    unknown = sorted(set(order) - known)
    if unknown:
        raise InvalidRequestError(
            f"ensure() takes provision()'s arguments; unknown: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(known))})"
        )
    missing = [field for field in _REQUIRED if order.get(field) is None]
    if missing:
        raise InvalidRequestError(f"ensure() needs {' and '.join(f'{m}=' for m in missing)}")
    checked: dict[str, Any] = {}
    for field, value in order.items():
        if value is not None:
            checked[field] = _checked(field, value)
    return checked


def _checked(field: str, value: object) -> object:
    if field == "gpu_count":
        if isinstance(value, bool) or value not in GPU_COUNTS:
            raise InvalidRequestError(f"gpu_count must be one of 1, 2, 4, 8, got {value!r}")
        return value
    if field == "max_attempts":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidRequestError(f"max_attempts must be an int >= 1, got {value!r}")
        return value
    if field == "datacenters":
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise InvalidRequestError(f"datacenters must be a list of ids, got {value!r}")
        return [_text(f"each of {field}", item) for item in value]
    if field in _INTEGER_IDS and isinstance(value, int) and not isinstance(value, bool):
        return value
    return _text(field, value)


def _text(field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequestError(f"{field} must be a non-empty string, got {value!r}")
    return value
