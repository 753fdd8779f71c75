"""Request bodies the SDK sends, as typed values (internal: not re-exported by the package).

A field left at ``UNSET`` is not sent at all; a field set to None is sent as JSON ``null``
(``GpuUpdateRequest.ssh_key_id=None`` clears the VM's SSH key). The wire names are the
converter's business (``gpcn_async._convert``).
"""

import enum
from typing import Final

import attrs

__all__ = ["UNSET", "GpuCreateRequest", "GpuUpdateRequest", "Unset"]


class Unset(enum.Enum):
    """The type of ``UNSET``; a one-member enum so that type checkers can narrow it away."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset.UNSET
"""Marks a request field the caller did not give: it is left out of the body."""


@attrs.frozen
class GpuCreateRequest:
    """The body of ``POST /resource/gpu``: order a GPU VM.

    Attributes:
        name: the VM's name.
        datacenter_id: the datacenter to place it in.
        series_id: the GPU series (an int in the guide, a UUID string in the reference).
        gpu_count: number of GPUs (1, 2, 4 or 8).
        team_id: the team to bill (guide).
        image_name: the OS image by name (the reference defaults to ``ubuntu-24.04``).
        image_id: the OS image by id.
        ssh_key_id: the SSH key to install (required by the reference).
        sku_code: the SKU to order (reference).
        resource_group_id: the resource group to put it in (reference).
        username: the login user name (reference).
    """

    name: str
    datacenter_id: str
    series_id: int | str
    gpu_count: int
    team_id: int | str | Unset = UNSET
    image_name: str | Unset = UNSET
    image_id: str | Unset = UNSET
    ssh_key_id: str | Unset = UNSET
    sku_code: str | Unset = UNSET
    resource_group_id: str | Unset = UNSET
    username: str | Unset = UNSET


@attrs.frozen
class GpuUpdateRequest:
    """The body of ``PUT /resource/gpu/{id}``: change a GPU VM; only given fields are sent.

    Attributes:
        name: the new name.
        team_id: the new team (guide).
        resource_group_id: the new resource group (reference).
        ssh_key_id: the new SSH key, or None to clear it (sent as ``null``; reference).
        username: the new login user name (reference).
    """

    name: str | Unset = UNSET
    team_id: int | str | Unset = UNSET
    resource_group_id: str | Unset = UNSET
    ssh_key_id: str | Unset | None = UNSET
    username: str | Unset = UNSET
