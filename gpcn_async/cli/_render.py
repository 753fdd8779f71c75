"""What the command line prints: aligned tables for people, JSON documents for scripts.

Pure functions of the SDK's public models; nothing here does I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

import attrs

from gpcn_async import GPCNError, GpuVm, Inventory, JobStatus, Offer

__all__ = [
    "describe_status",
    "dump_json",
    "error_document",
    "inventory_document",
    "inventory_text",
    "offer_document",
    "one_line",
    "table",
    "vm_details",
    "vm_table",
]

MISSING = "-"
"""What a table shows for a value the server did not send."""


def one_line(text: str) -> str:
    """The text with every run of whitespace (newlines included) made one space."""
    return " ".join(text.split())


def _cell(value: object) -> str:
    if value is None:
        return MISSING
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return one_line(str(value))


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """An aligned plain-text table: a header line, then one line per row (None shows as ``-``)."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [list(headers), *cells]
    ]
    return "\n".join(lines)


def _model_dict(value: object) -> object:
    """``json.dumps``' fallback: an SDK model becomes its ``to_dict()`` (secrets left out)."""
    to_dict = getattr(value, "to_dict", None)
    if not callable(to_dict):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return to_dict()


def dump_json(document: object) -> str:
    """The one JSON document a command prints with ``--json`` (indented, keys in model order).

    SDK models in the document are written as their ``to_dict()``: field names of the SDK,
    timestamps in ISO 8601, enums as their values, no secret.
    """
    return json.dumps(document, indent=2, ensure_ascii=False, default=_model_dict)


def error_document(error: BaseException | None) -> dict[str, str] | None:
    """An error as JSON: its class name and its one-line message (None for no error)."""
    if error is None:
        return None
    return {"type": type(error).__name__, "message": one_line(str(error))}


def describe_status(status: JobStatus) -> str:
    """A job's state in a few words: ``running 40%``, ``pending``, ``failed: reason``."""
    text = str(status.state)
    if status.progress is not None and status.state == "running":
        text += f" {status.progress}%"
    if status.error and status.state in {"failed", "cancelled"}:
        text += f": {one_line(status.error)}"
    return text


def offer_document(offer: Offer) -> dict[str, object]:
    """One orderable offer as JSON, with the ids ``gpcn create`` takes."""
    return {
        "series_id": offer.series_id,
        "series_code": offer.series_code,
        "series_name": offer.series.name,
        "datacenter_id": offer.datacenter_id,
        "datacenter_name": offer.datacenter.name,
        "gpu_count": offer.gpu_count,
        "sku_code": offer.sku_code,
    }


def inventory_document(inventory: Inventory) -> dict[str, object]:
    """The inventory as JSON: the offers available now, every series, and the server's error."""
    return {
        "offers": [offer_document(offer) for offer in inventory.offers()],
        "series": [series.to_dict() for series in inventory.series],
        "error": None if inventory.error is None else inventory.error.to_dict(),
    }


def inventory_text(inventory: Inventory) -> str:
    """The offers available now as a table (a note first when the server reported a problem)."""
    lines = []
    if inventory.error is not None:
        lines.append(f"note: the server reports {inventory.error.code}: {inventory.error.message}")
    offers = list(inventory.offers())
    if not offers:
        lines.append("nothing is available now")
        return "\n".join(lines)
    lines.append(
        table(
            ["SERIES", "NAME", "SERIES ID", "DATACENTER", "DATACENTER ID", "GPUS", "SKU"],
            [
                [
                    offer.series_code,
                    offer.series.name,
                    offer.series_id,
                    offer.datacenter.name,
                    offer.datacenter_id,
                    offer.gpu_count,
                    offer.sku_code,
                ]
                for offer in offers
            ],
        )
    )
    return "\n".join(lines)


def vm_table(vms: Sequence[GpuVm]) -> str:
    """GPU VMs as a table, one line each."""
    if not vms:
        return "no GPU VMs"
    return table(
        ["ID", "NAME", "STATUS", "SERIES", "GPUS", "DATACENTER", "IP"],
        [
            [
                vm.id,
                vm.name,
                vm.status,
                vm.series_code or vm.series_name,
                vm.gpu_count,
                vm.datacenter_name or vm.datacenter_id,
                vm.ip,
            ]
            for vm in vms
        ],
    )


def vm_details(vm: GpuVm) -> str:
    """Every field of one GPU VM, one ``name: value`` line each (fields not sent are left out)."""
    fields = [(field.name, getattr(vm, field.name)) for field in attrs.fields(GpuVm)]
    shown = [(name, value) for name, value in fields if value is not None]
    width = max(len(name) for name, _ in shown)
    return "\n".join(f"{name.ljust(width)}  {_cell(value)}" for name, value in shown)


def error_text(error: GPCNError) -> str:
    """An SDK error as one line, as the command line prints it."""
    return one_line(str(error))
