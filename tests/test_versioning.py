"""One version everywhere: the package (the one place it is written), the installed metadata that
hatch reads from it, and the newest changelog entry."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import instrumentation

ROOT = Path(__file__).parent.parent


def test_package_metadata_and_changelog_agree_on_the_version() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert not re.findall(r'^version = "', pyproject, flags=re.MULTILINE)  # dynamic, from hatch
    newest = re.search(r"^## (\S+)", (ROOT / "docs" / "changelog.md").read_text(), re.MULTILINE)
    assert newest is not None
    installed = importlib.metadata.version("async-search-instrumentation")
    assert instrumentation.__version__ == installed == newest.group(1)
