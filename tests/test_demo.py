"""``make demo`` on its embedded default: stand-ins, a workload, a printed trace tree."""

from __future__ import annotations

import io

from examples import demo


def test_demo_prints_the_trace_of_both_clients_on_the_stand_ins(monkeypatch) -> None:
    for name in ("ELASTICSEARCH_URL", "WEAVIATE_URL", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    out = io.StringIO()
    assert demo.main(out) == 0
    text = out.getvalue()
    assert "GET /search (demo request)" in text
    for line in (
        "  search movies  [CLIENT",
        "  helpers.async_bulk movies  [INTERNAL",
        "    bulk movies  [CLIENT",
        "  get movies  [CLIENT",
        "  insert_many DemoMovie  [CLIENT",
        "  hybrid DemoMovie  [CLIENT",
        "  aggregate DemoMovie  [CLIENT",
    ):
        assert line in text
    assert 'db.query.text = {"query":{"match":{"title":"?"}},"size":"?"}' in text
    assert "error.type = 404" in text
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in text
