"""The OpenTelemetry backend: which providers record, the scope, sampling, semantic-convention
names and hooks.

Instrumented on the *global* providers, what records depends on what the application set, and
when it set it (``opentelemetry-instrument`` and most apps set providers after importing us). The
wrappers skip all their work while nothing can record (no tracer or meter SDK, suppressed
instrumentation); these tests pin down that skipping never loses a call that *should* be traced.
Every test starts and ends with the global providers unset.

A test that takes ``node_class`` runs once per elastic-transport node class, its ``es`` on it.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

import pytest
from elasticsearch import AsyncElasticsearch
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.test.globals_test import reset_metrics_globals, reset_trace_globals

import instrumentation
from instrumentation.clients import _es_family as es_family
from tests.support.telemetry import duration_points, finished


@pytest.fixture(autouse=True)
def fresh_globals() -> Iterator[None]:
    reset_trace_globals()
    reset_metrics_globals()
    yield
    instrumentation.uninstrument()
    reset_trace_globals()
    reset_metrics_globals()


# -- which providers record: the global ones, as the application sets them ------------------------
def set_global_tracing() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


def set_global_metrics() -> InMemoryMetricReader:
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return reader


async def test_providers_set_after_instrument_are_used_from_the_next_call(
    es: AsyncElasticsearch,
) -> None:
    instrumentation.instrument(clients=["elasticsearch"], backends=["otel"])
    assert (await es.count(index="movies"))["count"] == 0  # nothing to record it yet

    exporter = set_global_tracing()
    reader = set_global_metrics()
    await es.count(index="movies")

    (span,) = exporter.get_finished_spans()
    assert span.name == "count movies"
    assert span.kind is trace.SpanKind.CLIENT
    (point,) = duration_points(reader)
    assert point.count == 1


async def test_with_no_sdk_the_call_works_and_nothing_is_recorded(
    es: AsyncElasticsearch,
) -> None:
    instrumentation.instrument(clients=["elasticsearch"], backends=["otel"])
    found = await es.search(index="movies", query={"match_all": {}})
    assert found["hits"]["hits"] == []
    with pytest.raises(Exception) as raised:
        await es.get(index="movies", id="missing")
    assert type(raised.value).__name__ == "NotFoundError"


async def test_a_meter_sdk_alone_records_the_duration_without_any_span(
    es: AsyncElasticsearch,
) -> None:
    instrumentation.instrument(clients=["elasticsearch"], backends=["otel"])
    reader = set_global_metrics()
    await es.count(index="movies")
    (point,) = duration_points(reader)
    assert point.count == 1
    assert dict(point.attributes)["db.operation.name"] == "count"
    assert dict(point.attributes)["db.collection.name"] == "movies"


async def test_a_tracer_sdk_alone_records_spans(es: AsyncElasticsearch) -> None:
    instrumentation.instrument(clients=["elasticsearch"], backends=["otel"])
    exporter = set_global_tracing()
    await es.count(index="movies")
    assert [span.name for span in exporter.get_finished_spans()] == ["count movies"]


async def test_suppressed_instrumentation_records_nothing_not_even_elasticsearch_py_spans(
    es: AsyncElasticsearch,
) -> None:
    exporter = set_global_tracing()
    reader = set_global_metrics()
    instrumentation.instrument(clients=["elasticsearch"], backends=["otel"])
    with suppress_instrumentation():
        await es.count(index="movies")
    assert exporter.get_finished_spans() == ()
    assert duration_points(reader) == []
    await es.count(index="movies")  # and back on after the block
    assert [span.name for span in exporter.get_finished_spans()] == ["count movies"]


async def test_elasticsearch_py_spans_come_back_after_uninstrument(es: AsyncElasticsearch) -> None:
    exporter = set_global_tracing()
    instrumentation.instrument(clients=["elasticsearch"], backends=["otel"])
    await es.count(index="movies")
    instrumentation.uninstrument()
    await es.count(index="movies")
    spans = exporter.get_finished_spans()
    assert [(span.name, span.kind) for span in spans] == [
        ("count movies", trace.SpanKind.CLIENT),  # ours
        ("count", trace.SpanKind.INTERNAL),  # elasticsearch-py's own, back as it was
    ]


async def test_with_nothing_to_record_no_operation_is_even_built(
    es: AsyncElasticsearch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pay only when recording: the request is not even read until something could record it."""
    from instrumentation.clients import elasticsearch as es_client

    reads = []
    real = es_client.read_request

    def counting(*args: Any) -> Any:
        reads.append(args)
        return real(*args)

    monkeypatch.setattr(es_client, "read_request", counting)
    instrumentation.instrument(clients=["elasticsearch"], backends=["otel"])
    await es.count(index="movies")
    assert reads == []
    set_global_metrics()  # the metric alone is worth an operation
    await es.count(index="movies")
    assert len(reads) == 1


# -- the scope: this library ----------------------------------------------------------------------
SCOPE = "async-search-instrumentation"


async def test_tracer_and_meter_scope_name_this_library(
    instrumented: Any,
    elasticsearch_server: Any,
    span_exporter: Any,
    metric_reader: Any,
) -> None:
    instrumented()
    async with AsyncElasticsearch(elasticsearch_server.url) as es:
        await es.indices.create(index="movies")
    [span] = finished(span_exporter)
    assert span.instrumentation_scope.name == SCOPE
    assert span.instrumentation_scope.version == instrumentation.__version__
    scopes = {
        scope.scope.name
        for resource in metric_reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
    }
    assert scopes == {SCOPE}


# -- sampling -------------------------------------------------------------------------------------
async def test_unsampled_call_builds_no_query_text_but_records_the_metric(
    es: AsyncElasticsearch,
    node_class: str,
    meter_provider: Any,
    metric_reader: Any,
    monkeypatch: Any,
) -> None:
    def must_not_run(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("query captured for an unsampled span")

    monkeypatch.setattr(es_family, "capture", must_not_run)
    provider = TracerProvider(sampler=ALWAYS_OFF)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentation.instrument(
        clients=["elasticsearch"],
        tracer_provider=provider,
        meter_provider=meter_provider,
        backends=["otel"],
    )
    try:
        await es.search(index="movies", query={"match": {"title": "x"}})
    finally:
        instrumentation.uninstrument()
    assert finished(exporter) == []
    assert [p.count for p in duration_points(metric_reader)] == [1]


# -- semantic-convention names --------------------------------------------------------------------
async def test_database_dup_opt_in_emits_old_names_beside_stable_ones(
    instrumented: Any, es: AsyncElasticsearch, node_class: str, span_exporter: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "database/dup")
    instrumented()
    await es.search(index="movies", query={"match_all": {}})
    [span] = finished(span_exporter)
    assert span.attributes["db.system"] == "elasticsearch"
    assert span.attributes["db.system.name"] == "elasticsearch"
    assert span.attributes["db.operation"] == "search"
    assert span.attributes["db.statement"] == span.attributes["db.query.text"]


async def test_by_default_only_db_system_of_the_old_names(
    instrumented: Any, es: AsyncElasticsearch, node_class: str, span_exporter: Any
) -> None:
    # db.system is what Elastic APM Server reads to make the span a db/<system> dependency.
    instrumented()
    await es.search(index="movies", query={"match_all": {}})
    [span] = finished(span_exporter)
    assert span.attributes["db.system"] == span.attributes["db.system.name"] == "elasticsearch"
    assert not {"db.operation", "db.statement", "db.name"} & set(span.attributes)


@pytest.mark.parametrize("opt_in", ["database", "http,database"])
async def test_database_opt_in_emits_stable_names_only(
    instrumented: Any,
    es: AsyncElasticsearch,
    node_class: str,
    span_exporter: Any,
    monkeypatch: Any,
    opt_in: str,
) -> None:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", opt_in)
    instrumented()
    await es.search(index="movies", query={"match_all": {}})
    [span] = finished(span_exporter)
    assert span.attributes["db.system.name"] == "elasticsearch"
    assert not {"db.system", "db.operation", "db.statement", "db.name"} & set(span.attributes)


async def test_database_dup_wins_over_database(
    instrumented: Any, es: AsyncElasticsearch, node_class: str, span_exporter: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "database,database/dup")
    instrumented()
    await es.search(index="movies", query={"match_all": {}})
    [span] = finished(span_exporter)
    assert span.attributes["db.system"] == "elasticsearch"
    assert span.attributes["db.statement"] == span.attributes["db.query.text"]


# -- hooks ----------------------------------------------------------------------------------------
async def test_hooks_are_called_and_a_raising_hook_never_breaks_the_call(
    instrumented: Any, es: AsyncElasticsearch, node_class: str, span_exporter: Any, caplog: Any
) -> None:
    seen = []

    def request_hook(span: Any, call: Any) -> None:
        seen.append(("request", call.operation))
        span.set_attribute("app.tag", "x")
        raise RuntimeError("hook bug")

    def response_hook(span: Any, call: Any, response: Any) -> None:
        seen.append(("response", response["count"]))
        raise RuntimeError("hook bug")

    instrumented(request_hook=request_hook, response_hook=response_hook)
    with caplog.at_level(logging.WARNING, logger="instrumentation"):
        result = await es.count(index="movies")
    assert result["count"] == 0
    assert seen == [("request", "count"), ("response", 0)]
    [span] = finished(span_exporter)
    assert span.attributes["app.tag"] == "x"
    assert any("hook" in record.getMessage() for record in caplog.records)
