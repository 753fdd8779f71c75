"""gpcn.datacenters and gpcn.auth_check() over real HTTP, in both dialects."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gpcn_async import (
    AuthenticationError,
    Client,
    Credential,
    Datacenter,
    Grants,
    InvalidRequestError,
    NotFoundError,
)
from gpcn_async.testing import FakeGPCN

DATACENTERS = "/resource/data-centers"


async def test_datacenters_list_every_one_with_its_capabilities(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """The list holds the catalog's GPU datacenters and the others, with place and flags."""
    datacenters = await gpcn.datacenters.list()
    assert [dc.id for dc in datacenters][:3] == [spec.id for spec in fake.datacenters]
    east = datacenters[0]
    assert (east.name, east.code, east.region) == ("US East 1", "USE-1", "US East")
    assert (east.country, east.country_code) == ("United States", "US")
    assert (east.gpu_enabled, east.vpc_capable) == (True, True)
    assert east.continent == ("North America" if fake.dialect == "reference" else None)
    assert [dc.name for dc in datacenters if not dc.gpu_enabled] == ["Dallas 1", "Amsterdam 1"]
    assert fake.requests[-1].query == {"page": "1", "limit": "100"}


async def test_datacenter_filters_are_sent_only_when_given(fake: FakeGPCN, gpcn: Client) -> None:
    """Filters become the API's query names; None is not sent; False keeps those lacking it."""
    without_gpus = await gpcn.datacenters.list(gpu_enabled=False)
    assert fake.requests[-1].query == {"page": "1", "limit": "100", "gpuEnabled": "false"}
    assert [dc.name for dc in without_gpus] == ["Dallas 1", "Amsterdam 1"]
    germany = await gpcn.datacenters.list(
        "central", country="Germany", region="EU Central", vpc_capable=True, l2_capable=True
    )
    assert fake.requests[-1].query == {
        "page": "1",
        "limit": "100",
        "search": "central",
        "countryName": "Germany",
        "regionName": "EU Central",
        "vpcCapable": "true",
        "l2Capable": "true",
    }
    assert [dc.name for dc in germany] == ["EU Central 1"]


async def test_datacenters_read_every_page(fake: FakeGPCN, gpcn: Client) -> None:
    """More than 100 datacenters come whole, over two pages."""
    for n in range(100):
        fake.add_non_gpu_datacenter(f"Edge {n}")
    datacenters = await gpcn.datacenters.list()
    assert len(datacenters) == 105
    assert len({dc.id for dc in datacenters}) == 105
    assert fake.count("GET", DATACENTERS) == 2


async def test_a_bad_datacenter_filter_raises_before_any_request(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """A flag that is not a bool, or an empty text, raises InvalidRequestError naming it."""
    with pytest.raises(InvalidRequestError, match=r"^gpu_enabled "):
        await gpcn.datacenters.list(gpu_enabled="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match=r"^country "):
        await gpcn.datacenters.list(country="")
    assert fake.count() == 0


async def test_a_listed_datacenter_is_orderable_by_its_id(fake: FakeGPCN, gpcn: Client) -> None:
    """A GPU datacenter from the list is the one the inventory offers, by id."""
    listed = {dc.id: dc for dc in await gpcn.datacenters.list(gpu_enabled=True)}
    offer = next((await gpcn.gpu.inventory()).offers())
    assert isinstance(offer.datacenter, Datacenter)
    assert listed[offer.datacenter_id].name == offer.datacenter.name


# -- auth check --------------------------------------------------------------------------------


async def test_auth_check_describes_the_key(fake: FakeGPCN, gpcn: Client) -> None:
    """auth_check() returns the key's kind, name, start, expiry and permissions."""
    expiry = datetime(2030, 6, 1, 12, tzinfo=UTC)
    fake.set_credential(name="ci", expires_at=expiry, permissions=["gpu:read", "gpu:create"])
    status = await gpcn.auth_check()
    assert status.authenticated is True
    assert isinstance(status.credential, Credential)
    credential = status.credential
    assert (credential.kind, credential.name, credential.expires_at) == ("api_key", "ci", expiry)
    assert credential.key_start == fake.api_key[:8]
    assert status.grants == Grants("api_key_role", credential.entity_id, ("gpu:read", "gpu:create"))
    assert fake.requests[-1].path == "/auth/check"


async def test_a_rejected_key_lists_the_likely_causes(fake: FakeGPCN) -> None:
    """A 401 is AuthenticationError naming the causes, keeping status and code, never the key."""
    stranger = "gpcn_not_the_right_key_0123456789"
    async with Client(stranger, base_url=fake.url) as gpcn:
        with pytest.raises(AuthenticationError) as caught:
            await gpcn.auth_check()
    error = caught.value
    assert error.status == 401
    assert error.code is not None
    text = str(error)
    for cause in ("revoked", "expired", "disabled", "never bound to an entity", "deactivated"):
        assert cause in text
    assert "not_the_right_key" not in text + repr(error)
    assert isinstance(error.__cause__, AuthenticationError)


async def test_a_missing_auth_route_hints_at_the_base_url(fake: FakeGPCN, gpcn: Client) -> None:
    """A 404 ``Route Not Found`` on the auth check is NotFoundError asking about the base URL."""
    fake.inject("GET", "/auth/check", status=404, body={"message": "Route Not Found"})
    with pytest.raises(NotFoundError, match="Route Not Found: is the base URL") as caught:
        await gpcn.auth_check()
    assert caught.value.status == 404
