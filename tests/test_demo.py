"""``make demo`` on its embedded default: stand-ins, a workload, a printed trace tree."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from examples import demo


def test_demo_prints_the_trace_of_both_clients_on_the_stand_ins(monkeypatch) -> None:
    for name in (
        "ELASTICSEARCH_URL",
        "OPENSEARCH_URL",
        "WEAVIATE_URL",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    out = io.StringIO()
    assert demo.main(out) == 0
    text = out.getvalue()
    assert "GET /search (demo request)" in text
    assert "OpenSearch: http://127.0.0.1:" in text
    for line in (
        "  search movies  [CLIENT",
        "  helpers.async_bulk movies  [INTERNAL",
        "    bulk movies  [CLIENT",
        "  get movies  [CLIENT",
        "  index films  [CLIENT",
        "  search films  [CLIENT",
        "  insert_many DemoMovie  [CLIENT",
        "  hybrid DemoMovie  [CLIENT",
        "  aggregate DemoMovie  [CLIENT",
    ):
        assert line in text
    assert 'db.query.text = {"query":{"match":{"title":"?"}},"size":"?"}' in text
    assert "error.type = 404" in text
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in text


@pytest.mark.timeout(300)  # a Python process of its own (its limit: 120 s)
def test_make_demo_prints_no_authlib_deprecation_warning() -> None:
    """weaviate-client's authlib warns about itself on import; the demo filters that warning."""
    root = Path(__file__).resolve().parents[1]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ELASTICSEARCH_", "WEAVIATE_", "OTEL_", "PYTHONWARNINGS"))
    }
    done = subprocess.run(
        [sys.executable, "-m", "examples.demo"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "hybrid DemoMovie  [CLIENT" in done.stdout
    assert "AuthlibDeprecationWarning" not in done.stdout + done.stderr
    assert "Warning" not in done.stderr, done.stderr
