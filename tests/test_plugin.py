"""The pytest plugin, used from a throwaway project in a temp dir, as a user's project would.

The throwaway projects have no conftest.py and no ``-p``: the fixtures and markers come from the
``pytest11`` entry point of the installed package alone.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gpcn_async.testing

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parent.parent
# The testing guide's plugin example (docs/guides/testing.md), run here: it needs the plugin.
EXAMPLE = ROOT / "examples" / "testing_with_plugin.py"

INI = """
[pytest]
asyncio_mode = {mode}
asyncio_default_fixture_loop_scope = function
filterwarnings = error
addopts = --strict-markers -p no:cacheprovider -p no:hypothesispytest
"""
# Each in-process run re-imports what it loads (pytester restores sys.modules afterwards), so
# hypothesis' plugin, which would import all of hypothesis every time, stays off.


def project(pytester: pytest.Pytester, mode: str, tests: str) -> None:
    """Write a throwaway project: an ini file in ``mode`` and one test module."""
    pytester.makeini(INI.format(mode=mode))
    pytester.makepyfile(test_user=textwrap.dedent(tests))


USES_EVERYTHING = """
    import pytest

    from gpcn_async import Client, PollPolicy, RetryPolicy, ServerError
    from gpcn_async.testing import FakeGPCN

    pytestmark = pytest.mark.gpcn_fake(job_polls=3, seed_vms=1)


    async def test_defaults(gpcn_fake: FakeGPCN, gpcn_client: Client) -> None:
        assert gpcn_fake.dialect == "reference"
        assert gpcn_fake.url.startswith("http://127.0.0.1:")
        assert [vm.name async for vm in gpcn_client.gpu.list()] == ["vm-0001"]
        assert gpcn_fake.count("GET", "/resource/gpu") == 1


    @pytest.mark.gpcn_dialect("guide")
    async def test_one_dialect(gpcn_fake: FakeGPCN, gpcn_dialect: str) -> None:
        assert gpcn_fake.dialect == gpcn_dialect == "guide"


    @pytest.mark.gpcn_dialect("guide", "reference")
    @pytest.mark.gpcn_fake(job_polls=1)
    async def test_both_dialects(gpcn_client: Client, gpcn_fake: FakeGPCN) -> None:
        offer = next((await gpcn_client.gpu.inventory()).offers(gpu_count=1))
        job = await gpcn_client.gpu.create(
            name="x", datacenter_id=offer.datacenter_id, series_id=offer.series_id, gpu_count=1
        )
        vm = await job
        assert vm.name == "x"
        assert gpcn_fake.poll_count(job.id) == 1  # job_polls=1: the closest marker wins
        assert len(gpcn_fake.vms) == 2  # seed_vms=1 from the module's marker still applies


    @pytest.mark.parametrize("gpcn_dialect", ["guide"])
    async def test_parametrized(gpcn_fake: FakeGPCN) -> None:
        assert gpcn_fake.dialect == "guide"


    @pytest.mark.gpcn_client(retry=RetryPolicy(max_retries=0))
    async def test_client_options(gpcn_client: Client, gpcn_fake: FakeGPCN) -> None:
        gpcn_fake.inject("GET", "/resource/gpu/*", status=503)
        with pytest.raises(ServerError):
            await gpcn_client.gpu.get("abc")
        assert gpcn_fake.count("GET", "/resource/gpu/abc") == 1  # not retried


    def test_plain_tests_do_not_start_a_fake() -> None:
        assert True
"""


def test_fixtures_and_markers_work_in_auto_mode(pytester: pytest.Pytester) -> None:
    """In auto mode the fixtures, both markers, client options and parametrizing all work."""
    project(pytester, "auto", USES_EVERYTHING)
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines_random(
        [
            "*test_one_dialect[[]guide[]] PASSED*",
            "*test_both_dialects[[]guide[]] PASSED*",
            "*test_both_dialects[[]reference[]] PASSED*",
        ]
    )


def test_fixtures_work_in_strict_mode(pytester: pytest.Pytester) -> None:
    """In strict mode the async fixtures work for tests marked ``asyncio``."""
    project(
        pytester,
        "strict",
        """
        import pytest

        from gpcn_async import Client
        from gpcn_async.testing import FakeGPCN


        @pytest.mark.asyncio
        @pytest.mark.gpcn_dialect("guide", "reference")
        async def test_reads(gpcn_client: Client, gpcn_fake: FakeGPCN) -> None:
            vm_id = gpcn_fake.add_vm(name="train-01")
            assert (await gpcn_client.gpu.get(vm_id)).name == "train-01"
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    """``pytest --markers`` lists the three markers of the plugin."""
    pytester.makeini(INI.format(mode="auto"))
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines_random(
        [
            "@pytest.mark.gpcn_dialect(*dialects):*",
            "@pytest.mark.gpcn_fake(**options):*",
            "@pytest.mark.gpcn_client(**options):*",
        ]
    )
    assert result.ret == 0


def test_bad_markers_fail_with_a_clear_message(pytester: pytest.Pytester) -> None:
    """Unknown dialects or options, and conflicting dialect choices, fail naming the problem."""
    project(
        pytester,
        "auto",
        """
        import pytest


        @pytest.mark.gpcn_fake(dialect="guide")
        async def test_dialect_in_fake_marker(gpcn_fake) -> None: ...


        @pytest.mark.gpcn_fake(jobs_polls=1)
        async def test_misspelled_option(gpcn_fake) -> None: ...


        @pytest.mark.gpcn_dialect("graphql")
        async def test_unknown_dialect(gpcn_fake) -> None: ...
        """,
    )
    pytester.makepyfile(
        test_both=textwrap.dedent(
            """
            import pytest


            @pytest.mark.gpcn_dialect("guide")
            @pytest.mark.parametrize("gpcn_dialect", ["reference"])
            async def test_twice(gpcn_fake) -> None: ...
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines_random(
        [
            "*not gpcn_fake(dialect=...)*",
            "*unknown FakeGPCN option(s) [[]'jobs_polls'[]]*",
            "*dialect must be 'guide' or 'reference', got 'graphql'*",
            "*use either @pytest.mark.gpcn_dialect or*",
        ]
    )


def test_readme_example_passes(pytester: pytest.Pytester) -> None:
    """The testing guide's plugin example passes: 5 tests, each in both dialects."""
    pytester.makeini(INI.format(mode="auto"))
    pytester.makepyfile(test_example=EXAMPLE.read_text())
    result = pytester.runpytest()
    result.assert_outcomes(passed=10)


# pytest-asyncio off: no asyncio_* keys (they would be unknown keys, an error under
# filterwarnings = error) and its plugin disabled, as in a project that does not use it.
INI_WITHOUT_ASYNCIO = """
[pytest]
filterwarnings = error
addopts = --strict-markers -p no:cacheprovider -p no:hypothesispytest -p no:asyncio
"""

SYNC_TESTS = """
    import asyncio

    import pytest

    from gpcn_async.testing import FakeGPCN


    def test_default_dialect(gpcn_dialect: str) -> None:
        assert gpcn_dialect == "reference"


    @pytest.mark.gpcn_dialect("guide", "reference")
    def test_marker_parametrizes(gpcn_dialect: str, request: pytest.FixtureRequest) -> None:
        assert request.node.name == f"test_marker_parametrizes[{gpcn_dialect}]"


    def test_fake_under_asyncio_run() -> None:
        async def main() -> str:
            async with FakeGPCN(dialect="guide") as fake, fake.client() as gpcn:
                vm_id = fake.add_vm(name="train-01")
                return (await gpcn.gpu.get(vm_id)).name

        assert asyncio.run(main()) == "train-01"


    def test_deliberately_fails() -> None:
        assert asyncio.run(asyncio.sleep(0, "ran")) == "not what it returns"
"""

# Several tests: without the plugin's check, pytest 9.2 fails the first with "requested an async
# fixture ... with no plugin" and the next ones with bare AssertionErrors from its internals.
USES_A_FIXTURE = """
    import pytest

    from gpcn_async import Client
    from gpcn_async.testing import FakeGPCN


    async def test_needs_an_async_runner(gpcn_client: Client) -> None:
        assert await gpcn_client.gpu.inventory()


    async def test_needs_the_fake(gpcn_fake: FakeGPCN) -> None:
        assert gpcn_fake.url


    @pytest.fixture
    def fleet(gpcn_client: Client) -> Client:
        return gpcn_client


    def test_through_a_fixture_of_mine(fleet: Client) -> None:
        assert fleet


    def test_uses_neither() -> None:
        assert True
"""

# The start of the plugin's message.
NEEDS_PYTEST_ASYNCIO = (
    "gpcn_fake and gpcn_client are async fixtures: install pytest-asyncio "
    "(pip install pytest-asyncio), then set asyncio_mode = "
)

FALLBACK = """
    import pytest

    from gpcn_async.testing import pytest_plugin


    def test_plugin_fell_back_to_pytest_fixture() -> None:
        with pytest.raises(ImportError):
            import pytest_asyncio  # noqa: F401
        assert pytest_plugin._async_fixture is pytest.fixture
"""


def test_sync_tests_run_without_pytest_asyncio(pytester: pytest.Pytester) -> None:
    """Without pytest-asyncio, sync tests get ``gpcn_dialect`` and its marker and can run a fake."""
    pytester.makeini(INI_WITHOUT_ASYNCIO)
    pytester.makepyfile(test_user=textwrap.dedent(SYNC_TESTS))
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines_random(
        [
            "*test_marker_parametrizes[[]guide[]] PASSED*",
            "*test_marker_parametrizes[[]reference[]] PASSED*",
            "*test_fake_under_asyncio_run PASSED*",
            "*test_deliberately_fails FAILED*",
        ]
    )


def test_async_fixtures_need_pytest_asyncio(pytester: pytest.Pytester) -> None:
    """Without pytest-asyncio, each test using the async fixtures fails saying to install it."""
    pytester.makeini(INI_WITHOUT_ASYNCIO)
    pytester.makepyfile(test_user=textwrap.dedent(USES_A_FIXTURE))
    # A project's own synchronous gpcn_fake, in a directory of its own, is not refused.
    own = pytester.mkdir("own")
    (own / "conftest.py").write_text(
        "import pytest\n\n\n@pytest.fixture\ndef gpcn_fake() -> str:\n    return 'mine'\n"
    )
    (own / "test_own.py").write_text(
        "def test_own(gpcn_fake: str) -> None:\n    assert gpcn_fake == 'mine'\n"
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=3)
    assert_needs_pytest_asyncio(result)


def assert_needs_pytest_asyncio(result: pytest.RunResult) -> None:
    """Each test using the async fixtures errored at setup with the plugin's message only."""
    for name, uses in [
        ("test_needs_an_async_runner", "gpcn_fake and gpcn_client"),
        ("test_needs_the_fake", "gpcn_fake"),
        ("test_through_a_fixture_of_mine", "gpcn_fake and gpcn_client"),
    ]:
        result.stdout.fnmatch_lines(
            [f"*ERROR at setup of {name}*", f"{NEEDS_PYTEST_ASYNCIO}*this test uses {uses}."],
            consecutive=True,
        )
    assert "requested an async fixture" not in result.stdout.str()


def test_plugin_loads_without_pytest_asyncio_installed(pytester: pytest.Pytester) -> None:
    """When pytest_asyncio cannot be imported, the plugin still loads and sync tests still pass."""
    pytester.makeini(INI_WITHOUT_ASYNCIO)
    # Loaded by -p before the pytest11 entry points, so the plugin's import of it fails. A
    # subprocess, because in-process the plugin module is already imported (with pytest_asyncio).
    pytester.makepyfile(no_pytest_asyncio="import sys\n\nsys.modules['pytest_asyncio'] = None\n")
    pytester.makepyfile(
        test_user=textwrap.dedent(SYNC_TESTS),
        test_user_fixtures=textwrap.dedent(USES_A_FIXTURE),
        test_fallback=textwrap.dedent(FALLBACK),
    )
    result = pytester.runpytest_subprocess("-p", "no_pytest_asyncio")
    result.assert_outcomes(passed=6, failed=1, errors=3)
    assert_needs_pytest_asyncio(result)


DIALECT_TESTS = """
import pytest

from gpcn_async import Client
from gpcn_async.testing import FakeGPCN


async def test_reads(gpcn_client: Client, gpcn_fake: FakeGPCN, gpcn_dialect: str) -> None:
    assert gpcn_fake.dialect == gpcn_dialect in {expected}
    vm_id = gpcn_fake.add_vm(name="train-01")
    assert (await gpcn_client.gpu.get(vm_id)).name == "train-01"


@pytest.mark.gpcn_dialect("reference")
async def test_marker_wins(gpcn_fake: FakeGPCN) -> None:
    assert gpcn_fake.dialect == "reference"
"""

CONFTESTS = {
    # A project-wide default dialect.
    "one": """
import pytest


@pytest.fixture
def gpcn_dialect() -> str:
    return "guide"
""",
    # Every test of the project in both dialects (as the fixture's docstring suggests).
    "both": """
import pytest


@pytest.fixture(params=["guide", "reference"])
def gpcn_dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)
""",
}


def test_conftest_override_sets_the_project_dialect(pytester: pytest.Pytester) -> None:
    """A ``gpcn_dialect`` fixture in a conftest.py sets its tests' dialects; a marker still wins."""
    pytester.makeini(INI.format(mode="auto"))
    expected = {"one": {"guide"}, "both": {"guide", "reference"}}
    for package, conftest in CONFTESTS.items():
        directory = pytester.mkdir(package)
        (directory / "conftest.py").write_text(conftest)
        tests = DIALECT_TESTS.replace("{expected}", repr(sorted(expected[package])))
        (directory / f"test_{package}.py").write_text(tests)
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines_random(
        [
            "one/test_one.py::test_reads PASSED*",
            "one/test_one.py::test_marker_wins[[]reference[]] PASSED*",
            "both/test_both.py::test_reads[[]guide[]] PASSED*",
            "both/test_both.py::test_reads[[]reference[]] PASSED*",
            "both/test_both.py::test_marker_wins[[]reference[]] PASSED*",
        ]
    )


def test_loading_the_plugin_does_not_import_the_fake() -> None:
    """Importing the plugin module in a fresh interpreter loads neither aiohttp.web nor the fake."""
    probe = (
        "import sys, gpcn_async.testing.pytest_plugin\n"
        "print(sorted(m for m in sys.modules if m == 'aiohttp.web' "
        "or m.startswith('gpcn_async.testing.')))"
    )
    result = subprocess.run(  # noqa: S603 -- our own interpreter, a fixed script
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "['gpcn_async.testing.pytest_plugin']"


def test_the_testing_package_imports_each_name_on_first_use() -> None:
    """gpcn_async.testing still gives every public name, from attribute access and dir()."""
    for name in gpcn_async.testing.__all__:
        assert getattr(gpcn_async.testing, name) is not None
    assert set(gpcn_async.testing.__all__) <= set(dir(gpcn_async.testing))
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = gpcn_async.testing.no_such_name
