"""Client configuration: defaults from the environment and clear errors before any request."""

from __future__ import annotations

import re
from typing import Any

import pytest

from gpcn_async import Client, PollPolicy, RetryPolicy
from gpcn_async.errors import ConfigurationError, InvalidRequestError
from gpcn_async.testing import FakeGPCN


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here sees the developer's own GPCN settings."""
    monkeypatch.delenv("GPCN_API_KEY", raising=False)
    monkeypatch.delenv("GPCN_BASE_URL", raising=False)


@pytest.mark.parametrize("key", [None, ""])
def test_missing_api_key_is_a_configuration_error(key: str | None) -> None:
    """Without a key (argument or environment), the client cannot be made."""
    with pytest.raises(ConfigurationError, match="GPCN_API_KEY"):
        Client(key)


def test_key_and_base_url_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """GPCN_API_KEY and GPCN_BASE_URL are the defaults."""
    monkeypatch.setenv("GPCN_API_KEY", "gpcn_from_env")
    monkeypatch.setenv("GPCN_BASE_URL", "http://127.0.0.1:9999/v1/")
    client = Client()
    assert client.base_url == "http://127.0.0.1:9999/v1"


def test_default_base_url_is_the_public_api() -> None:
    """Without a base URL anywhere, the client talks to https://api.gpcn.com/v1."""
    assert Client("gpcn_x").base_url == "https://api.gpcn.com/v1"


def test_clear_text_to_a_remote_host_is_refused() -> None:
    """http:// to a non-loopback host would expose the key, so it is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match=re.escape("http://api.gpcn.com/v1")):
        Client("gpcn_x", base_url="http://api.gpcn.com/v1")


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": "30"}, "timeout"),
        ({"max_connections": 0}, "max_connections"),
        ({"max_connections": True}, "max_connections"),
        ({"retry": {"max_retries": 3}}, "retry"),
        ({"poll": RetryPolicy()}, "poll"),
        ({"session": object()}, "session"),
    ],
)
def test_bad_settings_are_configuration_errors_naming_the_setting(
    kwargs: dict[str, Any], named: str
) -> None:
    """Each invalid setting raises ConfigurationError that names it."""
    with pytest.raises(ConfigurationError, match=named):
        Client("gpcn_x", **kwargs)


@pytest.mark.parametrize(
    ("factory", "named"),
    [
        (lambda: RetryPolicy(max_retries=-1), "max_retries"),
        (lambda: RetryPolicy(base_delay=-0.1), "base_delay"),
        (lambda: PollPolicy(interval=0), "interval"),
        (lambda: PollPolicy(interval=2.0, max_interval=1.0), "max_interval"),
        (lambda: PollPolicy(multiplier=0.5), "multiplier"),
        (lambda: PollPolicy(timeout=float("inf")), "timeout"),
    ],
)
def test_bad_policies_are_configuration_errors(factory: Any, named: str) -> None:
    """Impossible policy values are rejected when the policy is made."""
    with pytest.raises(ConfigurationError, match=named):
        factory()


def test_repr_shows_only_the_key_prefix() -> None:
    """The client's repr shows the URL and the key's prefix, never the key."""
    text = repr(Client("gpcn_supersecret"))
    assert "supersecret" not in text
    assert "gpcn_…" in text


@pytest.mark.parametrize(
    ("method", "path"), [("", "/resource/gpu"), ("GET", "resource/gpu"), ("G E T", "/x")]
)
async def test_bad_raw_request_arguments_send_nothing(
    fake: FakeGPCN, method: str, path: str
) -> None:
    """client.request() rejects a bad method or path before any request, naming the value."""
    async with fake.client() as gpcn:
        with pytest.raises(InvalidRequestError) as caught:
            await gpcn.request(method, path)
    assert repr(method if not method or " " in method else path) in str(caught.value)
    assert fake.requests == []


async def test_raw_request_returns_the_envelope_data(fake: FakeGPCN) -> None:
    """client.request() returns the data of the answer, filters passed as query parameters."""
    fake.add_vm(name="alpha")
    fake.add_vm(name="beta")
    async with fake.client() as gpcn:
        data = await gpcn.request("GET", "/resource/gpu", params={"search": "alp", "sort": None})
    assert [vm["name"] for vm in data] == ["alpha"]
    assert fake.requests[0].query == {"search": "alp"}


@pytest.mark.parametrize("url", ["http://[::1", "https://[::1:443/v1", "http://127.0.0.1:99999/v1"])
def test_unparsable_base_url_is_a_configuration_error(url: str) -> None:
    """A base URL that cannot be parsed raises ConfigurationError naming base_url."""
    with pytest.raises(ConfigurationError, match="base_url is not a valid URL"):
        Client("gpcn_x", base_url=url)


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("gpcn_s3cr3tvalue\n", "line break"),
        ("gpcn_s3cr3t\rvalue", "control character"),
        ("gpcn_s3cr3tvalue ", "whitespace"),
        (" gpcn_s3cr3tvalue", "whitespace"),
    ],
)
def test_api_key_with_a_stray_character_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, key: str, problem: str
) -> None:
    """A key with a newline, control character or outer blank fails at once, unnamed."""
    monkeypatch.setenv("GPCN_API_KEY", key)
    for given in (key, None):  # as an argument, then from the environment
        with pytest.raises(ConfigurationError, match=problem) as caught:
            Client(given)
        assert "s3cr3t" not in str(caught.value)
        assert caught.value.__cause__ is None
