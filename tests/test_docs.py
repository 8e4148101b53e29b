"""The reference pages are checked against the code, so they cannot drift."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from instrumentation import _attributes
from instrumentation._config import OPTIONS
from instrumentation._engine import Engine
from instrumentation.clients import elasticsearch as es_client
from instrumentation.clients._es_family import Helpers

DOCS = Path(__file__).parent.parent / "docs"


def test_configuration_page_lists_every_option_and_environment_variable() -> None:
    text = (DOCS / "configuration.md").read_text()
    for option in OPTIONS:
        assert f"`{option.name}`" in text
        if option.env:
            assert f"`{option.env}`" in text


def test_configuration_table_rows_are_the_code_s_defaults_and_allowed_values() -> None:
    """Each row of the reference table is exactly what ``_config.OPTIONS`` says."""
    rows = {
        line.split("|")[1].strip(): line.strip()
        for line in (DOCS / "configuration.md").read_text().splitlines()
        if line.startswith("| `")
    }
    for option in OPTIONS:
        env = f"`{option.env}`" if option.env else "—"
        expected = (
            f"| `{option.name}` | {env} | {option.default} | {option.allowed} | {option.help} |"
        )
        assert rows.get(f"`{option.name}`") == expected


def test_attribute_page_lists_every_attribute_we_emit() -> None:
    text = (DOCS / "attributes.md").read_text()
    emitted = [
        value
        for name, value in vars(_attributes).items()
        if name.isupper() and isinstance(value, str) and "." in value
    ]
    helpers = Helpers(es_client.SYSTEM, Engine([]))
    emitted += [helpers.documents, helpers.failed_documents]
    for attribute in emitted:
        assert f"`{attribute.rstrip('.')}" in text, attribute


def test_every_keyword_option_is_in_the_documented_list() -> None:
    import inspect

    from instrumentation._config import build_settings

    keywords = set(inspect.signature(build_settings).parameters) - {"env", "unknown"}
    assert keywords <= {option.name for option in OPTIONS}


#: What docs/api.md documents, by the anchor mkdocstrings gives each object.
API_OBJECTS = (
    "instrumentation.instrument",
    "instrumentation.uninstrument",
    "instrumentation.is_instrumented",
    "instrumentation.AsyncElasticsearchInstrumentor",
    "instrumentation.AsyncOpenSearchInstrumentor",
    "instrumentation.WeaviateAsyncInstrumentor",
    "instrumentation.CallView",
    "instrumentation.testing",
    "instrumentation.testing.search_instrumented",
    "instrumentation.testing.search_span_exporter",
)

_REMOTE_ASSET = re.compile(
    r"<script\b[^>]*\bsrc=[\"']?(?:https?:)?//"
    r"|<link\b(?=[^>]*\bstylesheet\b)[^>]*\bhref=[\"']?(?:https?:)?//",
    re.I,
)
_REMOTE_CSS = re.compile(r"(?:url\(|@import)\s*[\"']?(?:https?:)?//", re.I)


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mkdocs build --strict`` of the real configuration, into a temporary directory."""
    pytest.importorskip("mkdocs", reason="the docs extra: pip install -e '.[docs]'")
    pytest.importorskip("mkdocstrings", reason="the docs extra: pip install -e '.[docs]'")
    site = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=DOCS.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return site


@pytest.mark.timeout(300)
def test_the_built_site_loads_no_script_or_stylesheet_from_the_network(built_site: Path) -> None:
    remote = []
    for page in built_site.rglob("*.html"):
        remote += [
            f"{page.relative_to(built_site)}: {m.group(0)}"
            for m in _REMOTE_ASSET.finditer(page.read_text())
        ]
    for sheet in built_site.rglob("*.css"):
        remote += [
            f"{sheet.relative_to(built_site)}: {m.group(0)}"
            for m in _REMOTE_CSS.finditer(sheet.read_text())
        ]
    assert remote == []
    assert (built_site / "assets" / "pygments.css").is_file()


@pytest.mark.timeout(300)
def test_the_api_reference_documents_the_public_api(built_site: Path) -> None:
    html = (built_site / "api" / "index.html").read_text()
    for name in API_OBJECTS:
        assert f'id="{name}"' in html, name
    import instrumentation

    assert set(instrumentation.__all__) - {"__version__"} <= {n.split(".")[-1] for n in API_OBJECTS}


@pytest.mark.timeout(300)
def test_edit_links_point_at_the_main_branch(built_site: Path) -> None:
    html = (built_site / "getting-started" / "index.html").read_text()
    assert "/edit/main/docs/getting-started.md" in html
    assert "/edit/master/" not in html
