"""``docs/apm.md`` shows the documents Elastic's intake made of one search and one Weaviate query,
for the agent and for OTLP: ``scripts/apm_documents.py`` renders them again with the real tier's
servers, and the page must say the same (``python scripts/apm_documents.py --write`` updates it)."""

from __future__ import annotations

import difflib
import importlib.util
import pathlib
from types import ModuleType

import pytest

from tests.real import support

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load_script() -> ModuleType:
    path = ROOT / "scripts" / "apm_documents.py"
    spec = importlib.util.spec_from_file_location("apm_documents_script", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(120)
def test_the_page_shows_the_documents_the_real_intake_makes(
    real_es: support.Elasticsearch,
    real_weaviate: support.Weaviate,
    real_apm_intake: support.ApmIntake,
    real_servers: support.RealServers,
) -> None:
    script = load_script()
    block = script.render(real_servers)
    text = script.PAGE.read_text()
    start, end = script.page_block(text)
    diff = "".join(
        difflib.unified_diff(
            text[start:end].splitlines(keepends=True), block.splitlines(keepends=True)
        )
    )
    assert text[start:end] == block, (
        "docs/apm.md is stale; python scripts/apm_documents.py --write\n" + diff
    )
