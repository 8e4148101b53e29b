"""docs/getting-started.md shows what its app really prints under ``opentelemetry-instrument``.

``scripts/getting_started.py`` runs the page's ``app.py`` exactly as the page says (the real
``opentelemetry-instrument``, the console exporter) against the loopback stand-ins and renders the
spans; the page's output block must be exactly that. Regenerate it with
``python scripts/getting_started.py --write``.
"""

from __future__ import annotations

import difflib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script() -> ModuleType:
    path = ROOT / "scripts" / "getting_started.py"
    spec = importlib.util.spec_from_file_location("getting_started_script", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load_script()


@pytest.mark.timeout(240)
def test_the_page_shows_what_its_app_prints_under_opentelemetry_instrument(
    script: ModuleType,
) -> None:
    page = script.PAGE.read_text()
    shown = script.page_output(page)
    generated = script.generate(page)
    if '"service.instance.id"' not in generated:
        # The page shows the newest SDK's resource; older SDKs (1.30 among them) set no
        # service.instance.id: only that line may differ.
        shown = "".join(
            line for line in shown.splitlines(True) if '"service.instance.id"' not in line
        )
    diff = "".join(
        difflib.unified_diff(
            shown.splitlines(True), generated.splitlines(True), "page", "real run", n=1
        )
    )
    assert shown == generated, (
        "docs/getting-started.md is stale; python scripts/getting_started.py --write\n" + diff
    )
    # both clients, as the page promises
    assert "search movies  [CLIENT]" in generated
    assert "bm25 Movie  [CLIENT]" in generated


def test_the_page_s_commands_are_the_ones_the_script_runs(script: ModuleType) -> None:
    page = script.PAGE.read_text()
    assert (
        'pip install "async-search-instrumentation[elasticsearch,weaviate]" opentelemetry-distro'
        in page
    )
    run = page.split("## 4. Run it", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    assert "opentelemetry-instrument python app.py" in run
    assert dict(re.findall(r"(OTEL_\w+)=(\S+)", run)) == script.RUN_ENV
    assert "make servers" in page


def test_the_app_uses_both_clients_and_skips_weaviate_s_init_checks(script: ModuleType) -> None:
    app = script.page_app(script.PAGE.read_text())
    assert "AsyncElasticsearch(" in app
    assert "weaviate.use_async_with_local(" in app and "skip_init_checks=True" in app
    compile(app, "app.py", "exec")
