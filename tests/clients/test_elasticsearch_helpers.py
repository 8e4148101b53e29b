"""The async helpers get one parent span each, an INTERNAL one and no database call (no
``db.system``, no duration point: the calls inside are the database calls); the async DSL classes
trace through the client.

A test that takes ``node_class`` runs once per elastic-transport node class, its ``es`` on it.
"""

from __future__ import annotations

from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch
from elasticsearch import helpers as es_helpers
from opentelemetry.trace import SpanKind, StatusCode

from tests.support.telemetry import duration_points, finished


def _docs(n: int, fail: int = 0) -> list:
    """Documents with a numeric ``n`` (mapped as long by the first); the last ``fail`` have a
    value a long cannot take, which the node refuses (document_parsing_exception)."""
    docs = [{"_index": "movies", "_id": str(i), "title": f"movie {i}", "n": i} for i in range(n)]
    for doc in docs[n - fail :]:
        doc["n"] = f"secret-{doc['_id']}"
    return docs


def _children(spans: list, parent: Any) -> list:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


async def test_async_bulk_is_one_parent_span_over_its_bulk_calls(
    instrumented: Any, es: AsyncElasticsearch, node_class: str, span_exporter: Any
) -> None:
    instrumented()
    success, errors = await es_helpers.async_bulk(es, _docs(5), chunk_size=2, index="movies")
    assert (success, errors) == (5, [])

    spans = finished(span_exporter)
    [parent] = [s for s in spans if s.name.startswith("helpers.")]
    assert parent.name == "helpers.async_bulk movies"
    # Not a database call of its own: the bulk calls inside are, and only they are counted.
    assert parent.kind is SpanKind.INTERNAL
    assert not [key for key in parent.attributes if key.startswith("db.")]
    assert parent.attributes["elasticsearch.helpers.documents"] == 5
    assert parent.attributes["elasticsearch.helpers.failed_documents"] == 0
    bulks = _children(spans, parent)
    assert [s.name for s in bulks] == ["bulk movies"] * 3
    assert all(s.kind is SpanKind.CLIENT for s in bulks)
    # The helpers send pre-serialised lines; the batch size still counts their actions.
    assert [s.attributes.get("db.operation.batch.size") for s in bulks] == [2, 2, None]
    assert len(spans) == 4


@pytest.mark.parametrize("dup", [False, True], ids=["stable", "database-dup"])
async def test_helper_span_is_internal_with_no_db_system_and_no_metric_point(
    instrumented: Any,
    es: AsyncElasticsearch,
    span_exporter: Any,
    metric_reader: Any,
    monkeypatch: pytest.MonkeyPatch,
    dup: bool,
) -> None:
    if dup:
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "database/dup")
    instrumented()
    await es_helpers.async_bulk(es, _docs(3), chunk_size=2, index="movies")
    hits = [hit async for hit in es_helpers.async_scan(es, index="movies")]
    assert len(hits) == 3

    spans = finished(span_exporter)
    helpers = [s for s in spans if s.name.startswith("helpers.")]
    assert [h.name for h in helpers] == ["helpers.async_bulk movies", "helpers.async_scan movies"]
    for helper in helpers:
        assert helper.kind is SpanKind.INTERNAL
        assert "db.system" not in helper.attributes
        assert "db.system.name" not in helper.attributes
    calls = [s for s in spans if not s.name.startswith("helpers.")]
    assert calls and all(s.kind is SpanKind.CLIENT for s in calls)
    assert all(s.attributes["db.system.name"] == "elasticsearch" for s in calls)
    # db.system by default and with database/dup alike (Elastic's dependency), never on a helper.
    assert all(s.attributes["db.system"] == "elasticsearch" for s in calls)

    # One duration point per database call, none for a helper: a bulk is counted once.
    operations = [p.attributes["db.operation.name"] for p in duration_points(metric_reader)]
    assert not [name for name in operations if name.startswith("helpers.")]
    assert operations.count("bulk") == 1  # one point, over both bulk calls
    bulk_point = next(
        p for p in duration_points(metric_reader) if p.attributes["db.operation.name"] == "bulk"
    )
    assert bulk_point.count == 2


async def test_async_bulk_with_failures_counts_them_and_raises_as_before(
    instrumented: Any, es: AsyncElasticsearch, node_class: str, span_exporter: Any
) -> None:
    instrumented()
    with pytest.raises(es_helpers.BulkIndexError) as raised:
        await es_helpers.async_bulk(es, _docs(4, fail=1))
    assert len(raised.value.errors) == 1
    [parent] = [s for s in finished(span_exporter) if s.name.startswith("helpers.")]
    assert parent.status.status_code is StatusCode.ERROR
    assert parent.attributes["error.type"] == "BulkIndexError"
    assert parent.attributes["elasticsearch.helpers.failed_documents"] == 1


async def test_async_streaming_bulk_is_one_parent_span(
    instrumented: Any, es: AsyncElasticsearch, node_class: str, span_exporter: Any
) -> None:
    instrumented()
    results = [
        ok
        async for ok, _ in es_helpers.async_streaming_bulk(
            es, _docs(3, fail=1), chunk_size=10, raise_on_error=False
        )
    ]
    assert results == [True, True, False]
    spans = finished(span_exporter)
    [parent] = [s for s in spans if s.name.startswith("helpers.")]
    assert parent.name == "helpers.async_streaming_bulk"
    assert parent.attributes["elasticsearch.helpers.documents"] == 3
    assert parent.attributes["elasticsearch.helpers.failed_documents"] == 1
    assert parent.status.status_code is StatusCode.ERROR
    assert [s.name for s in _children(spans, parent)] == ["bulk"]


async def test_streaming_bulk_chunks_carry_their_batch_size(
    instrumented: Any, es: AsyncElasticsearch, span_exporter: Any
) -> None:
    instrumented()
    results = [ok async for ok, _ in es_helpers.async_streaming_bulk(es, _docs(5), chunk_size=3)]
    assert results == [True] * 5
    bulks = [s for s in finished(span_exporter) if s.name == "bulk"]
    assert [s.attributes["db.operation.batch.size"] for s in bulks] == [3, 2]


async def test_async_scan_and_reindex_are_one_parent_span_each(
    instrumented: Any, es: AsyncElasticsearch, node_class: str, span_exporter: Any
) -> None:
    await es_helpers.async_bulk(es, _docs(7), refresh=True)
    instrumented()

    hits = [hit async for hit in es_helpers.async_scan(es, index="movies", size=3)]
    assert len(hits) == 7
    spans = finished(span_exporter)
    [scan] = [s for s in spans if s.name.startswith("helpers.")]
    assert scan.name == "helpers.async_scan movies"
    assert scan.attributes["elasticsearch.helpers.documents"] == 7
    assert {s.name.split()[0] for s in _children(spans, scan)} >= {"search", "scroll"}
    span_exporter.clear()

    await es_helpers.async_reindex(es, "movies", "movies-copy", chunk_size=4)
    spans = finished(span_exporter)
    [reindex] = [s for s in spans if s.name.startswith("helpers.")]
    assert reindex.name == "helpers.async_reindex movies"
    assert reindex.attributes["elasticsearch.helpers.documents"] == 7
    assert all(s.parent.span_id == reindex.context.span_id for s in spans if s is not reindex)


async def test_dsl_classes_are_traced_through_the_client(
    instrumented: Any, es: AsyncElasticsearch, node_class: str, span_exporter: Any
) -> None:
    dsl = pytest.importorskip("elasticsearch.dsl")

    class Movie(dsl.AsyncDocument):  # type: ignore[misc,name-defined]
        title = dsl.Text()

        class Index:
            name = "films"

    instrumented()
    await Movie.init(using=es)
    await Movie(meta={"id": "1"}, title="Alien").save(using=es, refresh=True)
    movie = await Movie.get(id="1", using=es)
    assert movie.title == "Alien"
    response = (
        await dsl.AsyncSearch(using=es, index="films").query("match", title="alien").execute()
    )
    assert response.hits.total.value >= 0
    await dsl.AsyncUpdateByQuery(using=es, index="films").script(source="ctx._source.n=1").execute()
    multi = dsl.AsyncMultiSearch(using=es, index="films").add(dsl.AsyncSearch().query("match_all"))
    await multi.execute()
    await dsl.AsyncIndex("films", using=es).refresh()

    names = [s.name for s in finished(span_exporter)]
    assert "index films" in names
    assert "get films" in names
    assert "search films" in names
    assert "update_by_query films" in names
    assert "msearch films" in names
    assert "indices.refresh films" in names
    assert all(s.kind is SpanKind.CLIENT for s in finished(span_exporter))
    search = next(s for s in finished(span_exporter) if s.name == "search films")
    assert "alien" not in search.attributes["db.query.text"]


def test_uninstrument_restores_helpers_and_their_reexports(instrumented: Any) -> None:
    from elasticsearch._async import helpers as async_helpers

    names = ("async_bulk", "async_streaming_bulk", "async_scan", "async_reindex")
    before = [(getattr(es_helpers, n), getattr(async_helpers, n)) for n in names]
    instrumented()
    assert all(getattr(async_helpers, n) is not b[1] for n, b in zip(names, before))
    import instrumentation

    instrumentation.uninstrument()
    after = [(getattr(es_helpers, n), getattr(async_helpers, n)) for n in names]
    assert all(a[0] is b[0] and a[1] is b[1] for a, b in zip(after, before))
