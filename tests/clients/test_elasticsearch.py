"""AsyncElasticsearch traced end to end: the real client, over real sockets, against the stand-in.

A test that takes ``node_class`` runs once per elastic-transport node class (aiohttp, httpx), its
``es`` on that node class. The error bodies are the ones real Elasticsearch servers send.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import decimal
import gc
import json
import uuid
import warnings
from typing import Any, AsyncIterator, List

import pytest
from elasticsearch import AsyncElasticsearch, BadRequestError, ConnectionError, NotFoundError
from opentelemetry.trace import SpanKind, StatusCode

import instrumentation
from instrumentation._query import capture
from tests.servers.elasticsearch import ElasticsearchStandIn
from tests.servers.threaded import InThread
from tests.support.differential import plain_traced_plain
from tests.support.in_flight import HELD_BACK
from tests.support.telemetry import duration_points, exception_events, finished


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
    instrumented: Any,
    es: AsyncElasticsearch,
    node_class: str,
    span_exporter: Any,
    metric_reader: Any,
) -> None:
    """The real node's item failures (as in tests/real): a value its ``long`` mapping cannot
    take, 400 document_parsing_exception, and a create of an existing id, 409."""
    await es.index(index="movies", id="0", document={"title": "Alien", "n": 1979})
    instrumented()
    response = await es.bulk(
        index="movies",
        operations=[
            {"index": {"_id": "1"}},
            {"title": "fine", "n": 1},
            {"index": {"_id": "2"}},
            {"title": "bad", "n": "secret-bulk-value"},
            {"create": {"_id": "0"}},
            {"title": "exists already"},
        ],
    )
    assert response["errors"] is True
    assert [next(iter(item.values()))["status"] for item in response["items"]] == [201, 400, 409]
    [span] = finished(span_exporter)
    assert span.name == "bulk movies"
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["elasticsearch.bulk.failed_items"] == 2
    assert span.attributes["error.type"] == "document_parsing_exception"
    assert span.attributes["db.operation.batch.size"] == 3
    assert span.attributes["db.response.status_code"] == "200"
    description = span.status.description
    assert description.startswith("2 bulk items failed; first: document_parsing_exception: ")
    assert "failed to parse field [n] of type [long]" in description
    assert "secret-bulk-value" not in description
    assert "Preview of field" not in description
    assert not exception_events(span)  # nothing was raised
    [point] = duration_points(metric_reader)
    assert point.attributes["error.type"] == "document_parsing_exception"


_LINES = [
    '{"index":{"_index":"movies","_id":"1"}}',
    '{"title":"a"}',
    '{ "delete" : {"_index":"movies","_id":"2"}}',
    '{"create":{"_index":"movies","_id":"3"}}',
    '{"index":{"looks":"like an action, but it is a source"}}',
    '{"update":{"_index":"movies","_id":"1"}}',
    '{"doc":{"title":"b"}}',
]

_DICTS = [json.loads(line) for line in _LINES]


@pytest.mark.parametrize(
    "operations",
    [
        pytest.param(_DICTS, id="list-of-dicts"),
        pytest.param(_LINES, id="list-of-str"),
        pytest.param([line.encode() for line in _LINES], id="list-of-bytes"),
        pytest.param("\n".join(_LINES) + "\n", id="ndjson-str"),
        pytest.param(("\n".join(_LINES) + "\n").encode(), id="ndjson-bytes"),
        pytest.param([_DICTS[0], _LINES[1], _LINES[2].encode(), *_DICTS[3:]], id="mixed"),
        pytest.param(["\n".join(_LINES[:3]), *_LINES[3:]], id="list-of-ndjson-chunks"),
    ],
)
async def test_bulk_batch_size_counts_actions_for_every_body_shape(
    instrumented: Any, es: AsyncElasticsearch, span_exporter: Any, operations: Any
) -> None:
    instrumented()
    await es.bulk(operations=operations)
    [span] = finished(span_exporter)
    assert span.name == "bulk"
    # index, delete (no source), create (its source looks like an action), update
    assert span.attributes["db.operation.batch.size"] == 4


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


#: Search bodies whose JSON the sanitised query text is read from (the transport's own JSON, or
#: the body itself where that JSON has escapes or vector keys), and the text each must give.
SANITIZED_BODIES = [
    pytest.param(
        {"bool": {"filter": [{"range": {"released": {"gte": datetime.date(1999, 3, 31)}}}]}},
        '{"query":{"bool":{"filter":[{"range":{"released":{"gte":"?"}}}]}}}',
        id="a date, which the client's serializer writes as text",
    ),
    pytest.param(
        {"terms": {"id": [uuid.UUID(int=7), decimal.Decimal("1.5"), 3, None, True]}},
        '{"query":{"terms":{"id":"?"}}}',
        id="a list of literals of several types",
    ),
    pytest.param(
        {"match": {"title": 'say "hi"\n', "note": "élan 映画"}},
        '{"query":{"match":{"title":"?","note":"?"}}}',
        id="escaped and non-ASCII text",
    ),
    pytest.param(
        {
            "knn": {
                "field": "v",
                "query_vector": [0.5] * 20,
                "k": 3,
                "filter": [{"term": {"a": -1e3}}],
            }
        },
        '{"query":{"knn":{"field":"?","query_vector":"?","k":"?","filter":[{"term":{"a":"?"}}]}}}',
        id="a vector key",
    ),
    pytest.param(
        {"bool": {"must": [{"match": {"a,b": "x"}}, {"term": {"c": [[1, 2], ["d"]]}}]}},
        '{"query":{"bool":{"must":[{"match":{"a,b":"?"}},{"term":{"c":["?","?"]}}]}}}',
        id="punctuation in a key, nested lists",
    ),
]


@pytest.mark.parametrize("hooked", [False, True], ids=["no hook", "request hook"])
@pytest.mark.parametrize(("query", "expected"), SANITIZED_BODIES)
async def test_sanitized_query_text_for_every_kind_of_body(
    instrumented: Any,
    es: AsyncElasticsearch,
    node_class: str,
    span_exporter: Any,
    query: Any,
    expected: str,
    hooked: bool,
) -> None:
    """The default query text, sanitised from the JSON the transport serialises anyway (not a
    second encoding of the body); a request hook, which runs before the transport, reads it from
    the body itself. Both give the same text."""
    seen = []
    if hooked:
        instrumented(request_hook=lambda span, call: seen.append(call.query_text))
    else:
        instrumented()
    await es.search(index="movies", query=query)
    [span] = finished(span_exporter)
    assert span.attributes["db.query.text"] == expected
    assert seen == ([expected] if hooked else [])
    assert expected == capture({"query": query}, "sanitize", 2048)


async def test_query_text_when_the_client_serialises_its_own_way(
    instrumented: Any, span_exporter: Any, node_class: str, elasticsearch_server: Any
) -> None:
    """A serializer of the application's own (here: JSON with spaces and newlines) does not
    change the query text: what is not compact JSON is read from the body instead."""
    from elasticsearch.serializer import JsonSerializer

    class Spacious(JsonSerializer):
        def dumps(self, data: Any) -> bytes:
            return json.dumps(data, indent=2).encode()

    instrumented()
    async with AsyncElasticsearch(
        elasticsearch_server.url, node_class=node_class, serializer=Spacious()
    ) as es:
        await es.index(index="spacious", id="1", document={"title": "matrix", "year": 1999})
        for query in ({"terms": {"year": [1999, 2003]}}, {"match": {"title": "matrix"}}):
            await es.search(index="spacious", query=query, size=3)
    spans = finished(span_exporter)
    texts = [span.attributes["db.query.text"] for span in spans if span.name.startswith("search")]
    assert texts == [
        '{"query":{"terms":{"year":"?"}},"size":"?"}',
        '{"query":{"match":{"title":"?"}},"size":"?"}',
    ]


async def test_recorded_calls_add_nothing_for_the_cyclic_collector(
    instrumented: Any, es: AsyncElasticsearch, node_class: str, span_exporter: Any
) -> None:
    """What a recorded call builds is freed by reference counting as soon as it ends: tracing
    adds no reference cycle per call for the garbage collector to find (and pause the service
    for). Counted against the same calls untraced (a client's own transport may leave some)."""

    async def cycles_left_by_calls() -> int:
        await es.search(index="movies", query={"match": {"title": "warm-up"}})
        gc.collect()
        gc.disable()
        try:
            for _ in range(20):
                await es.search(index="movies", query={"match": {"title": "matrix"}}, size=3)
                await es.search(index="movies", query={"match_all": {}})
                with contextlib.suppress(NotFoundError):
                    await es.get(index="movies", id="missing")
            return gc.collect()
        finally:
            gc.enable()

    plain = await cycles_left_by_calls()
    instrumented()
    traced = await cycles_left_by_calls()
    assert len(finished(span_exporter)) == 61
    assert traced == plain


async def test_query_text_of_a_body_the_client_cannot_serialise(
    instrumented: Any, es: AsyncElasticsearch, node_class: str, span_exporter: Any
) -> None:
    """The transport fails before it serialises the body: the text comes from the body itself."""
    from elasticsearch import SerializationError

    instrumented()
    with pytest.raises(SerializationError):
        await es.search(index="movies", query={"match": {"title": object()}})
    [span] = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "SerializationError"
    assert span.attributes["db.query.text"] == '{"query":{"match":{"title":"?"}}}'


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
    elasticsearch_server.faults.add(path="_search", delay=HELD_BACK)
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
    elasticsearch_server.faults.add(path="_search", delay=HELD_BACK)
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


# -- a failed call keeps the server's reason ------------------------------------------------------
#: What Elasticsearch 9.x answers (the imitation as a real node does) for a document whose field
#: does not fit its mapping: the reason echoes the start of the offending value, "[1:9] failed to
#: parse field [year] of type [long] in document with id '1'. Preview of field's value: '...'".
SCRUBBED_REASON = (
    "document_parsing_exception: [1:9] failed to parse field [year] of type [long] "
    "in document with id '?'"
)


async def _map_year_as_long(es: AsyncElasticsearch) -> None:
    await es.index(index="movies", id="0", document={"year": 1979})  # before instrument()


async def test_elasticsearch_error_status_is_the_first_root_cause_scrubbed_of_values(
    instrumented: Any, es: AsyncElasticsearch, span_exporter: Any
) -> None:
    await _map_year_as_long(es)
    instrumented()
    with pytest.raises(BadRequestError) as raised:
        await es.index(index="movies", id="1", document={"year": "secret-value"})
    [span] = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == SCRUBBED_REASON
    assert span.attributes["error.type"] == "400"
    [event] = exception_events(span)
    assert event.attributes["exception.type"] == "elasticsearch.BadRequestError"
    assert event.attributes["exception.stacktrace"].startswith("Traceback")
    assert "BadRequestError" in event.attributes["exception.stacktrace"]
    # Nothing of the document reaches the span: not the status, not the exception event.
    assert "secret-value" in str(raised.value)  # the application still sees all of it
    assert "secret-value" not in json.dumps(span.to_json())


async def test_raw_capture_keeps_the_server_reason_as_it_is(
    instrumented: Any, es: AsyncElasticsearch, span_exporter: Any
) -> None:
    await _map_year_as_long(es)
    instrumented(capture_query="raw")
    with pytest.raises(BadRequestError) as raised:
        await es.index(index="movies", id="1", document={"year": "secret-value"})
    [span] = finished(span_exporter)
    reason = raised.value.body["error"]["root_cause"][0]["reason"]
    assert reason.endswith("Preview of field's value: 'secret-value'")
    assert span.status.description == "document_parsing_exception: " + reason
    [event] = exception_events(span)
    assert "secret-value" in event.attributes["exception.message"]


async def test_missing_index_reason_and_missing_document(
    instrumented: Any, es: AsyncElasticsearch, span_exporter: Any
) -> None:
    instrumented()
    with pytest.raises(NotFoundError):
        await es.search(index="nowhere", query={"match_all": {}})
    with pytest.raises(NotFoundError):
        await es.get(index="movies", id="42")
    missing_index, missing_doc = finished(span_exporter)
    assert missing_index.status.description == (
        "index_not_found_exception: no such index [nowhere]"
    )
    assert missing_doc.status.description == "document not found"
    assert all(len(exception_events(s)) == 1 for s in (missing_index, missing_doc))


#: The real tier's bad requests (tests/real/test_elasticsearch_real.py, ERRORS), which the imitation
#: answers as the real node does: id, call(es), span name, error.type, reason, exception.
NODE_ERRORS = [
    (
        "get-missing-document-404",
        lambda es: es.get(index="movies", id="nope"),
        "get movies",
        "404",
        "document not found",
        "NotFoundError",
    ),
    (
        "search-missing-index-404",
        lambda es: es.search(index="movies-nowhere"),
        "search movies-nowhere",
        "404",
        "index_not_found_exception: no such index [movies-nowhere]",
        "NotFoundError",
    ),
    (
        "create-existing-id-409",
        lambda es: es.create(index="movies", id="0", document={"title": "again"}),
        "create movies",
        "409",
        "version_conflict_engine_exception: [0]: version conflict, document already exists "
        "(current version [1])",
        "ConflictError",
    ),
    (
        "unknown-query-400",
        lambda es: es.search(index="movies", query={"nope": {"title": "x"}}),
        "search movies",
        "400",
        "parsing_exception: unknown query [nope]",
        "BadRequestError",
    ),
    (
        "create-existing-index-400",
        lambda es: es.indices.create(index="movies"),
        "indices.create movies",
        "400",
        None,  # "index [movies/<uuid>] already exists": checked by prefix below
        "BadRequestError",
    ),
]


@pytest.mark.parametrize(
    ("call", "name", "error_type", "reason", "exception"),
    [case[1:] for case in NODE_ERRORS],
    ids=[case[0] for case in NODE_ERRORS],
)
async def test_node_error_changes_nothing_the_application_sees(
    instrumented: Any,
    es: AsyncElasticsearch,
    elasticsearch_server: Any,
    span_exporter: Any,
    metric_reader: Any,
    apm: Any,
    call: Any,
    name: str,
    error_type: str,
    reason: Any,
    exception: str,
) -> None:
    await es.index(index="movies", id="0", document={"title": "Alien", "n": 1979})

    @contextlib.asynccontextmanager
    async def open_client() -> AsyncIterator[AsyncElasticsearch]:
        async with AsyncElasticsearch(elasticsearch_server.url) as client:
            yield client

    run = await plain_traced_plain(open_client, call, instrumented, span_exporter, apm=apm)
    run.assert_same_outcome()
    assert run.traced.raised
    [span] = run.spans
    assert span.name == name
    assert span.status.status_code is StatusCode.ERROR
    if reason is None:
        assert span.status.description.startswith(
            "resource_already_exists_exception: index [movies/"
        )
        assert span.status.description.endswith("] already exists")
        reason = span.status.description
    assert span.status.description == reason
    assert span.attributes["error.type"] == error_type
    assert span.attributes["db.response.status_code"] == error_type
    [event] = exception_events(span)
    assert event.attributes["exception.type"].endswith(exception)
    [point] = duration_points(metric_reader)
    assert point.attributes["error.type"] == error_type
    assert [(s["name"], s["outcome"]) for s in run.apm_spans] == [(span.name, "failure")]


async def test_bulk_item_errors_give_the_first_item_reason(
    instrumented: Any, es: AsyncElasticsearch, span_exporter: Any
) -> None:
    await _map_year_as_long(es)
    docs = [{"_id": str(i), "title": f"movie {i}", "year": 2000 + i} for i in range(3)]
    for doc in docs[:2]:
        doc["year"] = f"secret-{doc['_id']}"
    instrumented()
    response = await es.bulk(
        operations=[line for doc in docs for line in ({"index": {"_id": doc.pop("_id")}}, doc)],
        index="movies",
    )
    assert response["errors"] is True
    [span] = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["elasticsearch.bulk.failed_items"] == 2
    assert span.status.description == (
        "2 bulk items failed; first: document_parsing_exception: [1:27] failed to parse field "
        "[year] of type [long] in document with id '?'"
    )
    assert not [e for e in span.events if e.name == "exception"]  # no exception was raised


async def test_transport_error_reason_is_the_exception_message(
    instrumented: Any, span_exporter: Any, elasticsearch_server: Any
) -> None:
    instrumented()
    elasticsearch_server.faults.add(path="/movies/_search", drop=True, times=10)
    async with AsyncElasticsearch(elasticsearch_server.url, max_retries=0) as es:
        with pytest.raises(Exception) as raised:
            await es.search(index="movies")
    [span] = finished(span_exporter)
    assert span.attributes["error.type"] == type(raised.value).__qualname__
    assert span.status.description and span.status.description != span.attributes["error.type"]
    [event] = exception_events(span)
    assert event.attributes["exception.type"].endswith(type(raised.value).__qualname__)


async def _warned(es: AsyncElasticsearch) -> List[Any]:
    """A search the server answers with a deprecation ``Warning`` header; elasticsearch-py raises
    it as a warning pointing at its caller's line (this one)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await es.search(index="movies")
    return [(w.category.__name__, str(w.message), w.filename, w.lineno) for w in caught]


async def test_a_server_warning_points_at_the_application_line_traced_or_not(
    instrumented: Any, elasticsearch_server: Any, es: AsyncElasticsearch, span_exporter: Any
) -> None:
    elasticsearch_server.faults.add(path="_search", warning="this is deprecated", times=2)
    plain = await _warned(es)
    assert [w[:3] for w in plain] == [("ElasticsearchWarning", "this is deprecated", __file__)]
    instrumented()
    assert await _warned(es) == plain
    assert [span.name for span in finished(span_exporter)] == ["search movies"]
