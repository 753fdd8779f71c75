"""The gpcn command line in-process, through ``gpcn_async.cli.main(argv)``, against FakeGPCN.

``main()`` runs its own event loop, so the fake serves from a loop in another thread
(``LoopThread``), and the fake's state is read in that loop too.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from gpcn_async import JobState, JobStatus
from gpcn_async.cli import main
from gpcn_async.cli._parser import COMMON_OPTIONS, build_parser
from gpcn_async.cli._progress import PlainReporter
from gpcn_async.testing import FakeGPCN
from tests.support import LoopThread
from tests.test_cli import subcommands

T = TypeVar("T")


class Served:
    """A FakeGPCN served from a thread of its own, for the synchronous ``main()``."""

    def __init__(self, dialect: str) -> None:
        self._thread = LoopThread()

        async def start() -> FakeGPCN:
            fake = FakeGPCN(dialect=dialect)
            await fake.start()
            return fake

        self.fake = self._thread.run(start())

    def read(self, function: Callable[[FakeGPCN], T]) -> T:
        """Call ``function(fake)`` in the fake's loop, where its state lives."""
        return self._thread.call(lambda: function(self.fake))

    def close(self) -> None:
        """Stop the fake and its thread."""
        self._thread.run(self.fake.close())
        self._thread.close()


@pytest.fixture
def served(dialect: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """A running fake, with GPCN_API_KEY and GPCN_BASE_URL pointing at it."""
    server = Served(dialect)
    monkeypatch.setenv("GPCN_API_KEY", server.fake.api_key)
    monkeypatch.setenv("GPCN_BASE_URL", server.fake.url)
    try:
        yield server
    finally:
        server.close()


class Terminal(io.StringIO):
    """What the user types on a terminal (``isatty()`` is true)."""

    def isatty(self) -> bool:
        """Tell that this is a terminal."""
        return True


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``gpcn ARGV`` in-process: (exit status, stdout, stderr)."""
    code = main(["--poll-interval", "0.01", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- help ------------------------------------------------------------------------------------------


def test_bare_gpcn_prints_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    """`gpcn` alone prints the help with every command on stdout and exits 0."""
    assert main([]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: gpcn ")
    assert "common options:" in out
    for command in ("inventory", "create", "update", "delete", "jobs", "demo"):
        assert f"\n    {command} " in out, command
    assert err == ""


def test_a_bare_group_prints_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    """`gpcn jobs` alone prints the help of the jobs commands and exits 0."""
    assert main(["jobs"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: gpcn jobs ")
    assert "wait" in out
    assert "status" in out


def test_common_options_are_listed_once(capsys: pytest.CaptureFixture[str]) -> None:
    """`gpcn --help` lists the common options; each command's help only points there."""
    assert main(["--help"]) == 0
    top = capsys.readouterr().out
    flags = [flags[-1] for flags, _ in COMMON_OPTIONS]
    for flag in flags:
        assert flag in top
    for words in subcommands(build_parser()):
        assert main([*words, "--help"]) == 0
        text = capsys.readouterr().out
        options = text.split("options:", 1)[1].split("\n\n")[0]
        assert not any(flag in options for flag in flags), (words, options)
        assert "see 'gpcn --help'" in " ".join(text.split()), words


# -- update ----------------------------------------------------------------------------------------


def test_update_renames_a_vm(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    """`gpcn update ID --name NEW` renames the VM and prints it as it is now."""
    vm_id = served.read(lambda fake: fake.add_vm(name="train-01"))
    code, out, _ = run(capsys, "--json", "update", vm_id, "--name", "train-02")
    assert code == 0
    assert json.loads(out)["name"] == "train-02"
    assert served.read(lambda fake: fake.vms[vm_id].name) == "train-02"


def test_update_without_a_change_is_a_usage_error(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    """`gpcn update ID` with nothing to change exits 2, naming the options, and sends nothing."""
    vm_id = served.read(lambda fake: fake.add_vm(name="train-01"))
    served.read(lambda fake: fake.clear_requests())
    code, _, err = run(capsys, "update", vm_id)
    assert code == 2
    assert err.startswith("gpcn: error: nothing to change")
    assert "--name" in err
    assert served.read(lambda fake: list(fake.requests)) == []


# -- delete ----------------------------------------------------------------------------------------


def deletes(served: Served) -> int:
    """How many DELETE requests the fake has seen."""
    return served.read(lambda fake: fake.count("DELETE", "/resource/gpu/*"))


@pytest.mark.parametrize("answer", ["n\n", "\n", "", "yes please\n"])
def test_delete_on_a_terminal_deletes_nothing_unless_confirmed(
    served: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    """On a terminal, `gpcn delete` asks first; any answer but y or yes deletes nothing (exit 1)."""
    vm_id = served.read(lambda fake: fake.add_vm(name="train-01"))
    monkeypatch.setattr("sys.stdin", Terminal(answer))
    code, _, err = run(capsys, "delete", vm_id)
    assert code == 1
    assert f"delete the GPU VM {vm_id}? [y/N] " in err
    assert err.rstrip().endswith("gpcn: error: not confirmed: nothing was deleted")
    assert deletes(served) == 0


@pytest.mark.parametrize("answer", ["y\n", "YES\n"])
def test_delete_on_a_terminal_deletes_once_confirmed(
    served: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    """Answering y (or yes) to the question deletes the VMs named in it."""
    first, second = served.read(lambda fake: [fake.add_vm(name=f"t-{n}") for n in range(2)])
    monkeypatch.setattr("sys.stdin", Terminal(answer))
    code, out, err = run(capsys, "delete", first, second)
    assert code == 0, err
    assert f"delete 2 GPU VMs: {first} {second}? [y/N] " in err
    assert first in out
    assert served.read(lambda fake: fake.count("POST", "/resource/gpu/bulk/delete")) == 1


@pytest.mark.parametrize(
    ("stdin", "flags"),
    [
        pytest.param(Terminal(""), ["--yes"], id="terminal-yes"),
        pytest.param(Terminal(""), ["-y"], id="terminal-y"),
        pytest.param(Terminal(""), ["--json"], id="terminal-json"),
        pytest.param(io.StringIO("n\n"), [], id="not-a-terminal"),
    ],
)
def test_delete_never_asks_with_yes_json_or_off_a_terminal(
    served: Served,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    stdin: io.StringIO,
    flags: list[str],
) -> None:
    """With --yes or --json, or when stdin is not a terminal, delete deletes without asking."""
    vm_id = served.read(lambda fake: fake.add_vm(name="train-01"))
    monkeypatch.setattr("sys.stdin", stdin)
    code, _, err = run(capsys, "delete", vm_id, *flags)
    assert code == 0, err
    assert "[y/N]" not in err
    assert deletes(served) == 1


# -- spellings and errors --------------------------------------------------------------------------


def test_gpu_count_and_its_old_spelling_ask_the_same(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    """`inventory --count 1` (the old spelling) prints what `--gpu-count 1` does; both: exit 2."""
    new = run(capsys, "--json", "inventory", "--gpu-count", "1")
    old = run(capsys, "--json", "inventory", "--count", "1")
    assert new[0] == old[0] == 0
    assert json.loads(new[1]) == json.loads(old[1])
    assert {offer["gpu_count"] for offer in json.loads(new[1])["offers"]} == {1}
    code, _, err = run(capsys, "inventory", "--gpu-count", "1", "--count", "1")
    assert code == 2
    assert "not allowed with argument --gpu-count" in err


def test_a_base_url_without_v1_gets_a_hint(
    served: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 404 Route Not Found from a base URL that lacks /v1 asks whether /v1 is missing."""
    monkeypatch.setenv("GPCN_BASE_URL", served.fake.url.removesuffix("/v1"))
    code, _, err = run(capsys, "list")
    assert code == 1
    assert "Route Not Found" in err
    assert "is the base URL missing /v1?" in err


def test_a_missing_vm_gets_no_hint(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    """A 404 for a VM that does not exist, on the right base URL, is reported without the hint."""
    code, _, err = run(capsys, "get", "00000000-0000-4000-8000-00000000dead")
    assert code == 1
    assert err.startswith("gpcn: error: HTTP 404")
    assert "/v1?" not in err


def test_json_output_is_the_models_to_dict(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    """`get --json` prints the VM's to_dict(): SDK field names, ISO 8601 timestamps."""
    vm_id = served.read(lambda fake: fake.add_vm(name="train-01"))
    code, out, _ = run(capsys, "--json", "get", vm_id)
    document: dict[str, Any] = json.loads(out)
    assert code == 0
    assert document["id"] == vm_id
    assert document["name"] == "train-01"
    assert "T" in document["created_at"]
    assert "createdAt" not in document


# -- progress --------------------------------------------------------------------------------------


def test_plain_progress_never_prints_the_same_line_twice() -> None:
    """Statuses that look the same in a line (pending twice, the same percent) print once."""
    stream = io.StringIO()
    reporter = PlainReporter(["train-01"], stream)
    for state, progress, message in [
        (JobState.PENDING, None, "Queued"),
        (JobState.PENDING, 0, "Waiting for capacity"),
        (JobState.RUNNING, 40, None),
        (JobState.RUNNING, 40, "Installing drivers"),
        (JobState.RUNNING, 80, None),
    ]:
        reporter.status(0, JobStatus(id="j", state=state, progress=progress, message=message))
    reporter.finished(0, None)
    assert stream.getvalue().splitlines() == [
        "train-01: pending",
        "train-01: running 40%",
        "train-01: running 80%",
        "train-01: succeeded",
    ]
