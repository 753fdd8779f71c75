"""A pytest plugin: the fixtures ``gpcn_fake`` and ``gpcn_client``, the markers that configure them.

Installing gpcn_async enables it through the ``pytest11`` entry point (``gpcn_async =
"gpcn_async.testing.pytest_plugin"``); with plugin autoloading disabled, add
``-p gpcn_async.testing.pytest_plugin``. The fixtures are async, so they need pytest-asyncio, in
auto mode or in strict mode (mark the tests ``@pytest.mark.asyncio``). Without pytest-asyncio
active, a test that uses ``gpcn_fake`` or ``gpcn_client`` fails at setup with a message saying
so; every other test runs as usual.

Fixtures:

- ``gpcn_fake``: a started ``FakeGPCN`` speaking ``gpcn_dialect``, closed after the test;
- ``gpcn_client``: a ``gpcn_async.Client`` pointed at ``gpcn_fake``, with millisecond retry and
  poll delays, closed after the test;
- ``gpcn_dialect``: the dialect, ``"reference"`` unless a marker, a parametrization or your own
  fixture of that name says otherwise.

Markers (on a test, a class, or a module's ``pytestmark``):

```python
@pytest.mark.gpcn_dialect("guide")  # this dialect
@pytest.mark.gpcn_dialect("guide", "reference")  # the test runs once per dialect
@pytest.mark.gpcn_fake(job_polls=1, seed_vms=3)  # FakeGPCN options (not dialect)
@pytest.mark.gpcn_client(poll=PollPolicy(timeout=1.0))  # Client options
async def test_lists(gpcn_client, gpcn_fake): ...
```

For ``gpcn_fake`` and ``gpcn_client`` the marker closest to the test wins for each option.
Parametrizing ``gpcn_dialect`` directly (``@pytest.mark.parametrize("gpcn_dialect", [...])``)
works too, but not together with the ``gpcn_dialect`` marker on the same test. A ``gpcn_dialect``
fixture of your own in a conftest.py sets a default for its tests (one dialect, or each of its
``params``); a ``gpcn_dialect`` marker still wins over it.

Every pytest run in an environment with gpcn_async loads this module, so it imports the fake
(and ``aiohttp.web`` with it) only when a test first uses one of its fixtures or markers.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from gpcn_async import Client
    from gpcn_async.testing._server import FakeGPCN

__all__ = [
    "gpcn_client",
    "gpcn_dialect",
    "gpcn_fake",
    "pytest_configure",
    "pytest_generate_tests",
    "pytest_runtest_setup",
]

try:
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pragma: no cover - without pytest-asyncio the async fixtures cannot run
    _async_fixture = pytest.fixture  # type: ignore[assignment]

_DEFAULT_DIALECT = "reference"
_MARKERS = (
    (
        "gpcn_dialect(*dialects): run the test against FakeGPCN in these wire dialects "
        "('guide', 'reference'), once per dialect (gpcn_async plugin)"
    ),
    (
        "gpcn_fake(**options): FakeGPCN options for the gpcn_fake fixture, e.g. job_polls=1, "
        "seed_vms=3 (gpcn_async plugin)"
    ),
    (
        "gpcn_client(**options): Client options for the gpcn_client fixture, overriding its "
        "fast defaults (gpcn_async plugin)"
    ),
)


_ASYNC_FIXTURES = ("gpcn_fake", "gpcn_client")
_NEEDS_PYTEST_ASYNCIO = (
    "gpcn_fake and gpcn_client are async fixtures: install pytest-asyncio "
    '(pip install pytest-asyncio), then set asyncio_mode = "auto" in your pytest '
    "configuration, or mark the tests @pytest.mark.asyncio (its strict mode). pytest-asyncio is "
    "not active here (not installed, or disabled with -p no:asyncio); this test uses {names}."
)
_pytest_asyncio_active = pytest.StashKey[bool]()


def pytest_configure(config: pytest.Config) -> None:
    """Register the plugin's markers (so ``--strict-markers`` accepts them).

    Also note whether pytest-asyncio is active: its plugin registered under any name (the
    ``asyncio`` entry point, or ``-p pytest_asyncio.plugin``), not disabled by ``-p no:asyncio``.
    """
    for line in _MARKERS:
        config.addinivalue_line("markers", line)
    config.stash[_pytest_asyncio_active] = any(
        getattr(plugin, "__name__", None) == "pytest_asyncio.plugin"
        for plugin in config.pluginmanager.get_plugins()
    )


def _ours(item: pytest.Item, name: str) -> bool:
    """Tell whether the fixture ``name`` the test uses is this plugin's (not a user override)."""
    info = getattr(item, "_fixtureinfo", None)
    definitions = getattr(info, "name2fixturedefs", {}).get(name) if info is not None else None
    if not definitions:
        return True  # pytest's internals moved: assume the fixture is ours
    function = getattr(definitions[-1], "func", None)
    if not callable(function):
        return True
    return getattr(inspect.unwrap(function), "__module__", __name__) == __name__


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail a test that uses ``gpcn_fake`` or ``gpcn_client`` when pytest-asyncio is not active.

    Without it, pytest cannot run async fixtures: the first such test would fail with pytest's
    "requested an async fixture ... with no plugin", and the next ones with bare assertion
    errors from pytest's internals. This says what to do instead, before any fixture is set up;
    tests that use neither fixture are not affected.
    """
    if item.config.stash.get(_pytest_asyncio_active, True):
        return
    used = set(getattr(item, "fixturenames", ()))
    names = [name for name in _ASYNC_FIXTURES if name in used and _ours(item, name)]
    if names:
        pytest.fail(_NEEDS_PYTEST_ASYNCIO.format(names=" and ".join(names)), pytrace=False)


def _marker_dialects(marker: pytest.Mark) -> list[str]:
    """Return the dialects a ``gpcn_dialect`` marker names.

    Raises:
        ValueError: No dialect, an unknown one, one given twice, or keyword arguments.
    """
    from gpcn_async.testing._render import DIALECTS  # noqa: PLC0415 -- see the module docstring

    dialects = list(marker.args)
    if marker.kwargs or not dialects:
        raise ValueError(
            "@pytest.mark.gpcn_dialect takes one or more dialect names, e.g. "
            f"gpcn_dialect('guide'), got args={marker.args!r} kwargs={marker.kwargs!r}"
        )
    for dialect in dialects:
        if dialect not in DIALECTS:
            raise ValueError(
                f"@pytest.mark.gpcn_dialect: dialect must be 'guide' or 'reference', "
                f"got {dialect!r}"
            )
    if len(set(dialects)) != len(dialects):
        raise ValueError(f"@pytest.mark.gpcn_dialect names a dialect twice: {dialects!r}")
    return dialects


def _parametrizes_dialect(node: pytest.Item | pytest.Function) -> bool:
    """Tell whether ``@pytest.mark.parametrize`` names ``gpcn_dialect`` on this test."""
    for marker in node.iter_markers("parametrize"):
        argnames = marker.args[0] if marker.args else marker.kwargs.get("argnames", ())
        if isinstance(argnames, str):
            argnames = argnames.split(",")
        if "gpcn_dialect" in {str(name).strip() for name in argnames}:
            return True
    return False


def _dialect_choice(node: pytest.Item | pytest.Function) -> list[str] | None:
    """Return the dialects the closest ``gpcn_dialect`` marker names, or None without one.

    Raises:
        ValueError: A bad marker, or a marker and a parametrization of ``gpcn_dialect`` together.
    """
    marker = node.get_closest_marker("gpcn_dialect")
    if marker is None:
        return None
    dialects = _marker_dialects(marker)
    if _parametrizes_dialect(node):
        raise ValueError(
            "use either @pytest.mark.gpcn_dialect or "
            "@pytest.mark.parametrize('gpcn_dialect', ...), not both"
        )
    return dialects


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``gpcn_dialect`` from the closest ``gpcn_dialect`` marker, if any.

    The marker becomes a ``parametrize`` mark on the test's definition, applied by pytest's own
    hook (which runs after this one). A mark, unlike a ``metafunc.parametrize()`` call, takes
    precedence over the params of a ``gpcn_dialect`` fixture overridden in a conftest.py, as
    ``@pytest.mark.parametrize("gpcn_dialect", ...)`` does; a call would collide with them.

    A bad marker is left alone here and reported by the fixtures, as an error of that test only.
    """
    if "gpcn_dialect" not in metafunc.fixturenames:
        return
    try:
        dialects = _dialect_choice(metafunc.definition)
    except ValueError:
        return
    if dialects is not None:
        metafunc.definition.add_marker(
            pytest.mark.parametrize("gpcn_dialect", dialects, ids=dialects), append=False
        )


def _marker_options(node: pytest.Item, name: str) -> dict[str, Any]:
    """Merge the keyword arguments of every ``name`` marker, the closest winning.

    Raises:
        ValueError: A marker with positional arguments.
    """
    options: dict[str, Any] = {}
    for marker in reversed(list(node.iter_markers(name))):
        if marker.args:
            raise ValueError(
                f"@pytest.mark.{name} takes keyword arguments only, got {marker.args!r}"
            )
        options.update(marker.kwargs)
    return options


def _fake_class() -> type[FakeGPCN]:
    """The ``FakeGPCN`` class, imported when a fixture first needs it (see the module docstring)."""
    from gpcn_async.testing._server import FakeGPCN  # noqa: PLC0415

    return FakeGPCN


@pytest.fixture
def gpcn_dialect(request: pytest.FixtureRequest) -> str:
    """The wire dialect ``gpcn_fake`` speaks: ``"reference"`` unless a marker says otherwise.

    The ``gpcn_dialect`` marker parametrizes it; you may also parametrize it directly or
    override this fixture in a conftest.py (e.g. with ``params=["guide", "reference"]``).

    Raises:
        ValueError: A bad ``gpcn_dialect`` marker on the test.
    """
    _dialect_choice(request.node)
    return str(getattr(request, "param", _DEFAULT_DIALECT))


@_async_fixture
async def gpcn_fake(gpcn_dialect: str, request: pytest.FixtureRequest) -> AsyncIterator[FakeGPCN]:
    """A running ``FakeGPCN`` speaking ``gpcn_dialect``, closed after the test.

    Options come from ``@pytest.mark.gpcn_fake(...)`` markers (any ``FakeGPCN`` argument but
    ``dialect``; choose that with ``@pytest.mark.gpcn_dialect``).

    Raises:
        ValueError: A bad ``gpcn_dialect`` or ``gpcn_fake`` marker on the test.
    """
    _dialect_choice(request.node)
    fake_class = _fake_class()
    options = _marker_options(request.node, "gpcn_fake")
    if "dialect" in options:
        raise ValueError(
            "choose the dialect with @pytest.mark.gpcn_dialect(...), not gpcn_fake(dialect=...)"
        )
    known = set(inspect.signature(fake_class).parameters) - {"dialect"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"@pytest.mark.gpcn_fake: unknown FakeGPCN option(s) {unknown}; known: {sorted(known)}"
        )
    async with fake_class(dialect=gpcn_dialect, **options) as fake:
        yield fake


@_async_fixture
async def gpcn_client(gpcn_fake: FakeGPCN, request: pytest.FixtureRequest) -> AsyncIterator[Client]:
    """A ``gpcn_async.Client`` pointed at ``gpcn_fake`` (fast retries and polls), closed after.

    ``@pytest.mark.gpcn_client(...)`` markers give ``Client`` arguments that override the fast
    defaults of ``FakeGPCN.client()``.

    Raises:
        ValueError: A ``gpcn_client`` marker with positional arguments.
    """
    options = _marker_options(request.node, "gpcn_client")
    async with gpcn_fake.client(**options) as client:
        yield client
