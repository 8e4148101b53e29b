"""One version everywhere: the package, pyproject.toml and the newest changelog entry."""

from __future__ import annotations

import re
from pathlib import Path

import instrumentation

ROOT = Path(__file__).parent.parent


def test_package_pyproject_and_changelog_agree_on_the_version() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    [declared] = re.findall(r'^version = "([^"]+)"', pyproject, flags=re.MULTILINE)
    changelog = (ROOT / "docs" / "changelog.md").read_text()
    newest = re.search(r"^## (\S+)", changelog, flags=re.MULTILINE)
    assert newest is not None
    assert instrumentation.__version__ == declared == newest.group(1)
