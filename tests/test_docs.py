"""The documentation: a short README that links into the docs, and an API reference that is whole.

`make docs` builds the site strictly (broken links, bad docstrings); these checks need no build.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest

import gpcn_async
import gpcn_async.errors
import gpcn_async.testing

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
REFERENCE = ROOT / "docs" / "reference"


def documented() -> set[str]:
    """The dotted names the reference renders with mkdocstrings (``::: name``).

    The errors page renders the whole ``gpcn_async.errors`` module, so every error counts as
    documented, under both of the names it is importable by.
    """
    names: set[str] = set()
    for page in REFERENCE.glob("*.md"):
        names.update(re.findall(r"^::: (\S+)$", page.read_text(), re.M))
    if "gpcn_async.errors" in names:
        for name in gpcn_async.errors.__all__:
            names.update({f"gpcn_async.{name}", f"gpcn_async.errors.{name}"})
    return names


@pytest.mark.parametrize(
    "module", [gpcn_async, gpcn_async.errors, gpcn_async.testing], ids=lambda m: m.__name__
)
def test_every_public_name_is_in_the_api_reference(module: ModuleType) -> None:
    """Each name of a public module's __all__ has an entry in docs/reference/."""
    names = documented()
    public = [name for name in module.__all__ if not name.startswith("__")]
    missing = [name for name in public if f"{module.__name__}.{name}" not in names]
    assert missing == [], f"add '::: {module.__name__}.NAME' to a page of docs/reference/"


def test_the_readme_is_a_landing_page() -> None:
    """README.md stays short (at most 300 lines) and says how to install from a checkout or git."""
    text = README.read_text()
    assert len(text.splitlines()) <= 300
    assert "git clone" in text
    assert "git+https://" in text
    assert "make demo" in text
    assert "make test" in text


def test_the_readme_links_resolve() -> None:
    """Every relative link of the README points at a file of the repository."""
    links = re.findall(r"\]\((?!https?://)([^)#]+)(?:#[^)]*)?\)", README.read_text())
    assert links
    for link in links:
        assert (ROOT / link).is_file(), link
