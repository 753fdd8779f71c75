"""The architecture of design.md, checked: each module imports only from layers below it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "gpcn_async"

# Module (dotted, relative to gpcn_async) -> layer. A module may import package modules of a
# strictly lower layer only. Prefixes ending in "." cover a whole subpackage.
LAYERS: dict[str, float] = {
    "_version": 0,
    "errors": 0,
    "_validate": 0.25,  # argument checks, raising errors
    "models.": 0.4,  # plain data; methods that take arguments check them with _validate
    "policies": 0.5,  # plain values, checked with errors
    "_clock": 0.75,  # time arithmetic for _wire and _limiter
    "_redact": 0.75,  # masking secrets, for _wire's errors and _convert's snippets
    "_wire": 1,
    "_resend": 1,  # which requests may be sent again: _wire's re-send table, on its own
    # L1 in its own order: the dialect tables, the strict hooks, then the converter.
    "_dialects": 1,
    "_shapes": 1.05,
    "_convert": 1.1,
    "_share": 1.25,  # pure: a shared key's share, from header values and times passed in
    "_limiter": 1.5,  # asyncio only, reads _wire's header values
    "_send": 1.75,  # the one I/O seam: one aiohttp exchange
    "_transport": 2,
    # L3 in its own order: the poller, then the Job that waits on it, then bulk's JobGroup.
    "_poller": 3,
    "_pagination": 3,
    "jobs": 3.1,
    "bulk": 3.2,
    # Below the resources, not above (L5) as first drawn: it takes gpu.inventory and gpu.create
    # as functions, so gpu.provision() can hand its loop to it without importing upwards.
    "_provision": 3.5,
    "resources.": 4,
    "client": 6,
    "__init__": 7,
    # Above the public API, which is all it uses (see test_fleet_and_cli_use_only_the_public_api):
    # crash-safe fleets are a user of the SDK, as an orchestration script would be.
    "fleet.": 7.5,
    "cli.": 8,  # the public API and fleet/ only (the gpcn fleet commands)
    "__main__": 9,
}
PURE = {
    "_clock",
    "_dialects",
    "_redact",
    "_resend",
    "_shapes",
    "_wire",
    "_convert",
    "_share",
    "_validate",
    "errors",
    "policies",
    "_version",
}
IO_MODULES = {"asyncio", "aiohttp", "socket", "ssl", "http.client", "urllib.request"}
# testing/ checks the wire on its own: none of the SDK's wire code or models.
TESTING_MAY_IMPORT = {"gpcn_async", "gpcn_async.client", "gpcn_async.policies"}


def module_name(path: Path) -> str:
    """The dotted name of a package file, relative to gpcn_async."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def layer_of(name: str) -> float | None:
    """The layer of a package module, or None when the table does not place it."""
    for key, layer in LAYERS.items():
        if name == key or (key.endswith(".") and name.startswith(key)) or name == key[:-1]:
            return layer
    return None


def runtime_imports(tree: ast.Module) -> Iterator[str]:
    """Absolute module names imported at run time (``if TYPE_CHECKING:`` blocks skipped)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "gpcn_async":  # "from gpcn_async import _wire" imports a module
                yield from (f"gpcn_async.{alias.name}" for alias in node.names)
            else:
                yield node.module


def package_files() -> list[Path]:
    """Every Python file of the package."""
    return sorted(PACKAGE.rglob("*.py"))


def sdk_files() -> list[Path]:
    """The package's files outside testing/."""
    return [p for p in package_files() if "testing" not in p.relative_to(PACKAGE).parts]


@pytest.mark.parametrize("path", sdk_files(), ids=module_name)
def test_module_imports_only_lower_layers(path: Path) -> None:
    """A package module imports package modules of lower layers only."""
    name = module_name(path)
    own = layer_of(name)
    assert own is not None, f"{name} has no layer in tests/test_layers.py: add it"
    for imported in runtime_imports(ast.parse(path.read_text())):
        if not imported.startswith("gpcn_async.") or imported.startswith("gpcn_async.testing"):
            continue
        target = imported.removeprefix("gpcn_async.")
        other = layer_of(target)
        if other is None:  # a name imported from the package root, e.g. __version__
            continue
        if name.split(".")[0] == target.split(".")[0] in {"models", "cli", "fleet"}:
            continue  # models/, cli/ and fleet/ are each one layer: their modules share code
        assert other < own, f"{name} (layer {own}) imports {target} (layer {other})"


@pytest.mark.parametrize("path", sdk_files(), ids=module_name)
def test_only_the_sender_touches_the_aiohttp_client(path: Path) -> None:
    """Aiohttp is imported at run time by _send alone (testing/ serves with aiohttp.web)."""
    name = module_name(path)
    imports = set(runtime_imports(ast.parse(path.read_text())))
    if name != "_send":
        assert not {i for i in imports if i.split(".")[0] == "aiohttp"}


@pytest.mark.parametrize(
    "path", [p for p in sdk_files() if module_name(p) in PURE], ids=module_name
)
def test_pure_modules_do_no_io(path: Path) -> None:
    """The pure layer imports no I/O module."""
    for imported in runtime_imports(ast.parse(path.read_text())):
        assert not any(imported == m or imported.startswith(m + ".") for m in IO_MODULES)


def test_resources_never_import_each_other() -> None:
    """Each resource module stands alone."""
    for path in (PACKAGE / "resources").glob("*.py"):
        for imported in runtime_imports(ast.parse(path.read_text())):
            assert not imported.startswith("gpcn_async.resources"), f"{path.name}: {imported}"


@pytest.mark.parametrize(
    "path",
    [p for p in package_files() if "testing" in p.relative_to(PACKAGE).parts],
    ids=module_name,
)
def test_the_fake_never_uses_the_sdk_wire_code(path: Path) -> None:
    """testing/ imports only itself and the public Client and policies, never models or wire."""
    for imported in runtime_imports(ast.parse(path.read_text())):
        if imported.startswith("gpcn_async") and not imported.startswith("gpcn_async.testing"):
            assert imported in TESTING_MAY_IMPORT, f"{module_name(path)} imports {imported}"


# What each user of the public API may import besides the package root's names.
PUBLIC_API_USERS = {"cli": {"testing", "cli", "fleet"}, "fleet": {"fleet"}}


@pytest.mark.parametrize(
    "path",
    [p for p in package_files() if p.relative_to(PACKAGE).parts[0] in PUBLIC_API_USERS],
    ids=module_name,
)
def test_fleet_and_cli_use_only_the_public_api(path: Path) -> None:
    """cli/ and fleet/ import the package root's names, themselves (and cli/ the fake) only."""
    allowed_modules = PUBLIC_API_USERS[path.relative_to(PACKAGE).parts[0]]
    for imported in runtime_imports(ast.parse(path.read_text())):
        if not imported.startswith("gpcn_async."):
            continue
        first = imported.removeprefix("gpcn_async.").split(".")[0]
        is_module = (PACKAGE / f"{first}.py").exists() or (PACKAGE / first).is_dir()
        allowed = not is_module or first in allowed_modules  # a name of the package root
        assert allowed, f"{module_name(path)} imports {imported}"
