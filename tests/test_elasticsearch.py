"""AsyncElasticsearch traced end to end: the real client, over real sockets, against the stand-in."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch, ConnectionError, NotFoundError
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode

import instrumentation
from instrumentation.clients import _es_family as es_family
from tests.servers.elasticsearch import ElasticsearchStandIn
from tests.servers.threaded import InThread
from tests.support.telemetry import duration_points, finished


async def test_search_is_one_client_span_with_semconv_attributes(
    instrumented: Any,
    es: AsyncElasticsearch,
    node_class: str,
    span_exporter: Any,
    elasticsearch_server: Any,
) -> None:
    instrumented()
    await es.search(index="movies", query={"match": {"title": "matrix"}})

    [span] = finished(span_exporter)
    assert span.name == "search movies"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes)
    assert attrs["db.system.name"] == "elasticsearch"
    assert attrs["db.operation.name"] == "search"
    assert attrs["db.collection.name"] == "movies"
    assert attrs["db.query.summary"] == "search movies"
    assert attrs["db.query.text"] == '{"query":{"match":{"title":"?"}}}'
    assert attrs["db.response.status_code"] == "200"
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == elasticsearch_server.port
    assert attrs["http.request.method"] == "POST"
    assert attrs["url.full"] == f"{elasticsearch_server.url}/movies/_search"
    assert "error.type" not in attrs


async def test_namespaced_api_and_path_parameters(
    instrumented: Any, es: AsyncElasticsearch, node_class: str, span_exporter: Any
) -> None:
    instrumented()
    await es.indices.create(index="films")
    await es.index(index="movies", id="42", document={"title": "Alien"})

    create, index = finished(span_exporter)
    assert create.name == "indices.create films"
    assert create.attributes["db.operation.name"] == "indices.create"
    assert index.name == "index movies"
    assert index.attributes["db.operation.parameter.id"] == "42"
    assert "db.query.text" not in index.attributes  # documents are never captured


async def test_elasticsearch_py_spans_silenced_while_active_and_back_after(
    instrumented: Any,
    es: AsyncElasticsearch,
    node_class: str,
    span_exporter: Any,
    tracer_provider: Any,
) -> None:
    # The user configured elasticsearch-py's own spans on this provider.
    es._otel.tracer = tracer_provider.get_tracer("elasticsearch-api")
    es._otel.enabled = True

    await es.info()
    [own] = finished(span_exporter)
    assert own.kind is SpanKind.INTERNAL
    span_exporter.clear()

    instrumented()
    await es.info()
    [ours] = finished(span_exporter)
    assert ours.kind is SpanKind.CLIENT and ours.name == "info"
    span_exporter.clear()

    instrumentation.uninstrument()
    await es.info()
    [back] = finished(span_exporter)
    assert back.kind is SpanKind.INTERNAL


async def test_missing_document_is_error_and_exception_passes_through(
    instrumented: Any, es: AsyncElasticsearch, node_class: str, span_exporter: Any
) -> None:
    with pytest.raises(NotFoundError) as plain:
        await es.get(index="movies", id="nope")

    instrumented()
    with pytest.raises(NotFoundError) as traced:
        await es.get(index="movies", id="nope")

    assert str(traced.value) == str(plain.value)
    assert traced.value.body == plain.value.body
    [span] = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "404"
    assert span.attributes["db.response.status_code"] == "404"


async def test_exists_head_404_is_not_an_error(
    instrumented: Any, es: AsyncElasticsearch, node_class: str, span_exporter: Any
) -> None:
    instrumented()
    assert not await es.indices.exists(index="nothing")
    [span] = finished(span_exporter)
    assert span.name == "indices.exists nothing"
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["db.response.status_code"] == "404"


async def test_bulk_records_batch_size(
    instrumented: Any, es: AsyncElasticsearch, node_class: str, span_exporter: Any
) -> None:
    instrumented()
    operations = [
        {"index": {"_index": "movies", "_id": "1"}},
        {"title": "Alien"},
        {"delete": {"_index": "movies", "_id": "2"}},
        {"create": {"_index": "movies", "_id": "3"}},
        {"title": "Heat"},
    ]
    await es.bulk(operations=operations)
    [span] = finished(span_exporter)
    assert span.name == "bulk"
    assert span.attributes["db.operation.batch.size"] == 3
    assert span.status.status_code is StatusCode.UNSET


async def test_bulk_with_failed_items_is_error(
    instrumented: Any, es: AsyncElasticsearch, node_class: str, span_exporter: Any
) -> None:
    instrumented()
    operations = [
        {"index": {"_index": "movies", "_id": "1"}},
        {"title": "ok"},
        {"index": {"_index": "movies", "_id": "2"}},
        {"title": "bad", "_fail": "mapper_parsing_exception"},
        {"index": {"_index": "movies", "_id": "3"}},
        {"title": "bad", "_fail": "version_conflict_engine_exception"},
    ]
    response = await es.bulk(operations=operations)
    assert response["errors"] is True
    [span] = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["elasticsearch.bulk.failed_items"] == 2
    assert span.attributes["error.type"] == "mapper_parsing_exception"
    assert span.attributes["db.operation.batch.size"] == 3


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("sanitize", '{"query":{"term":{"genre":"?"}},"size":"?"}'),
        ("raw", '{"query":{"term":{"genre":"noir"}},"size":5}'),
        ("omit", None),
    ],
)
async def test_query_capture_modes(
    instrumented: Any,
    es: AsyncElasticsearch,
    node_class: str,
    span_exporter: Any,
    mode: str,
    expected: Any,
) -> None:
    instrumented(capture_query=mode)
    await es.search(index="movies", query={"term": {"genre": "noir"}}, size=5)
    [span] = finished(span_exporter)
    assert span.attributes.get("db.query.text") == expected


@pytest.mark.parametrize(
    ("status", "exception", "error_type"),
    [(500, "ApiError", "500"), (400, "BadRequestError", "400"), (429, "ApiError", "429")],
)
async def test_http_errors_are_error_spans(
    instrumented: Any,
    elasticsearch_server: Any,
    span_exporter: Any,
    node_class: str,
    status: int,
    exception: str,
    error_type: str,
) -> None:
    instrumented()
    elasticsearch_server.faults.add(path="_search", status=status, times=10)
    async with AsyncElasticsearch(
        elasticsearch_server.url, node_class=node_class, max_retries=2, retry_on_status=(429,)
    ) as es:
        with pytest.raises(Exception) as raised:
            await es.search(index="movies")
    assert type(raised.value).__name__ == exception
    [span] = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == error_type


async def test_retried_429_then_success_is_one_successful_span(
    instrumented: Any, elasticsearch_server: Any, span_exporter: Any, node_class: str
) -> None:
    instrumented()
    elasticsearch_server.faults.add(path="_count", status=429, times=1)
    async with AsyncElasticsearch(
        elasticsearch_server.url, node_class=node_class, retry_on_status=(429,)
    ) as es:
        await es.count()
    [span] = finished(span_exporter)
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["db.response.status_code"] == "200"
    assert sum(1 for r in elasticsearch_server.requests if r.path.endswith("_count")) == 2


async def test_connection_refused_is_error_with_exception_class(
    instrumented: Any, span_exporter: Any, node_class: str
) -> None:
    instrumented()
    # A port that was just free: nothing listens there.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with AsyncElasticsearch(
        f"http://127.0.0.1:{port}", node_class=node_class, max_retries=0
    ) as es:
        with pytest.raises(ConnectionError):
            await es.info()
    [span] = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ConnectionError"
    assert span.attributes["server.port"] == port


async def test_timeout_is_error(
    instrumented: Any, elasticsearch_server: Any, span_exporter: Any, node_class: str
) -> None:
    instrumented()
    elasticsearch_server.faults.add(path="_search", delay=2.0)
    async with AsyncElasticsearch(
        elasticsearch_server.url, node_class=node_class, request_timeout=0.1, max_retries=0
    ) as es:
        with pytest.raises(Exception) as raised:
            await es.search(index="movies")
    [span] = finished(span_exporter)
    assert span.attributes["error.type"] == type(raised.value).__name__ == "ConnectionTimeout"


async def test_cancelled_call_ends_its_span_and_cancellation_propagates(
    instrumented: Any,
    elasticsearch_server: Any,
    es: AsyncElasticsearch,
    node_class: str,
    span_exporter: Any,
) -> None:
    instrumented()
    elasticsearch_server.faults.add(path="_search", delay=2.0)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(es.search(index="movies"), timeout=0.1)
    [span] = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "CancelledError"


async def test_concurrent_calls_each_get_their_own_span_under_their_parent(
    instrumented: Any,
    es: AsyncElasticsearch,
    node_class: str,
    span_exporter: Any,
    tracer_provider: Any,
) -> None:
    instrumented()
    tracer = tracer_provider.get_tracer("app")

    async def request(n: int) -> None:
        with tracer.start_as_current_span(f"request {n}"):
            await es.count(index="movies")

    await asyncio.gather(*(request(n) for n in range(20)))
    spans = finished(span_exporter)
    parents = {s.context.span_id for s in spans if s.name.startswith("request")}
    children = [s for s in spans if s.name == "count movies"]
    assert len(parents) == len(children) == 20
    assert len({s.context.span_id for s in children}) == 20
    # Every request span has exactly one count span, its own.
    assert sorted(c.parent.span_id for c in children) == sorted(parents)


async def test_uninstrument_restores_functions_and_instrument_twice_is_one_span(
    es: AsyncElasticsearch,
    node_class: str,
    span_exporter: Any,
    tracer_provider: Any,
    meter_provider: Any,
) -> None:
    from elasticsearch._async.client import _base
    from elasticsearch._otel import OpenTelemetry

    before = (_base.BaseClient.__dict__["perform_request"], OpenTelemetry.__dict__["span"])
    try:
        for _ in range(2):
            instrumentation.instrument(
                clients=["elasticsearch"],
                tracer_provider=tracer_provider,
                meter_provider=meter_provider,
                backends=["otel"],
            )
        await es.info()
        assert len(finished(span_exporter)) == 1
    finally:
        instrumentation.uninstrument()
    after = (_base.BaseClient.__dict__["perform_request"], OpenTelemetry.__dict__["span"])
    assert after[0] is before[0] and after[1] is before[1]
    span_exporter.clear()
    await es.info()
    assert finished(span_exporter) == []


async def test_client_created_before_instrument_is_traced(
    es: AsyncElasticsearch, node_class: str, instrumented: Any, span_exporter: Any
) -> None:
    await es.info()  # es was created (and used) before instrument()
    instrumented()
    await es.info()
    assert [s.name for s in finished(span_exporter)] == ["info"]


async def test_duration_metric_recorded_with_its_attributes(
    instrumented: Any,
    es: AsyncElasticsearch,
    node_class: str,
    metric_reader: Any,
    elasticsearch_server: Any,
) -> None:
    instrumented()
    await es.count(index="movies")
    with pytest.raises(NotFoundError):
        await es.get(index="movies", id="missing")
    points = duration_points(metric_reader)
    by_op = {p.attributes["db.operation.name"]: p for p in points}
    assert by_op["count"].count == 1
    assert dict(by_op["count"].attributes) == {
        "db.system.name": "elasticsearch",
        "db.operation.name": "count",
        "db.collection.name": "movies",
        "server.address": "127.0.0.1",
        "server.port": elasticsearch_server.port,
    }
    assert by_op["get"].attributes["error.type"] == "404"
    assert list(by_op["count"].explicit_bounds) == [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]


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


async def test_cloud_headers_give_namespace_and_node_name(
    instrumented: Any, span_exporter: Any, node_class: str
) -> None:
    instrumented()
    with InThread(ElasticsearchStandIn(cloud_headers=True)) as server:
        async with AsyncElasticsearch(server.url, node_class=node_class) as es:
            await es.info()
    [span] = finished(span_exporter)
    assert span.attributes["db.namespace"]
    assert span.attributes["elasticsearch.node.name"]


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


async def test_stable_names_only_by_default(
    instrumented: Any, es: AsyncElasticsearch, node_class: str, span_exporter: Any
) -> None:
    instrumented()
    await es.search(index="movies")
    [span] = finished(span_exporter)
    assert not {"db.system", "db.operation", "db.statement"} & set(span.attributes)


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
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

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


async def test_credentials_never_reach_a_span(
    instrumented: Any, elasticsearch_server: Any, span_exporter: Any, node_class: str
) -> None:
    instrumented()
    url = f"http://elastic:hunter2@127.0.0.1:{elasticsearch_server.port}"
    async with AsyncElasticsearch(url, node_class=node_class, api_key="c2VjcmV0a2V5") as es:
        await es.info()
    [span] = finished(span_exporter)
    text = repr(dict(span.attributes))
    assert "hunter2" not in text and "c2VjcmV0a2V5" not in text


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [
        ({"malformed": True}, "SerializationError"),
        ({"drop": True, "times": 5}, "ConnectionError"),
    ],
)
async def test_malformed_and_dropped_responses_are_errors(
    instrumented: Any,
    elasticsearch_server: Any,
    span_exporter: Any,
    node_class: str,
    fault: dict,
    error_type: str,
) -> None:
    instrumented()
    elasticsearch_server.faults.add(path="_search", **fault)
    async with AsyncElasticsearch(
        elasticsearch_server.url, node_class=node_class, max_retries=1
    ) as es:
        with pytest.raises(Exception) as raised:
            await es.search()
    assert type(raised.value).__name__ == error_type
    [span] = finished(span_exporter)
    assert span.attributes["error.type"] == error_type


async def test_product_check_failure_is_an_error_span(
    instrumented: Any, span_exporter: Any, node_class: str
) -> None:
    from elasticsearch import UnsupportedProductError

    instrumented()
    with InThread(ElasticsearchStandIn(product_header=False)) as server:
        async with AsyncElasticsearch(server.url, node_class=node_class) as es:
            with pytest.raises(UnsupportedProductError):
                await es.info()
    [span] = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "UnsupportedProductError"
