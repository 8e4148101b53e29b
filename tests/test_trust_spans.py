"""Spans users can trust: helper spans are no database calls, every bulk shape has its batch size,
and a failed call keeps the server's reason (scrubbed of document values unless capture is raw).

The real clients over real sockets, against the loopback stand-ins; error bodies are the ones real
Elasticsearch and Weaviate servers send.
"""

from __future__ import annotations

import json
from typing import Any, List

import grpc
import pytest
import weaviate
import weaviate.classes as wvc
from elasticsearch import AsyncElasticsearch, BadRequestError, NotFoundError
from elasticsearch import helpers as es_helpers
from opentelemetry.trace import SpanKind, StatusCode
from weaviate.exceptions import UnexpectedStatusCodeError, WeaviateQueryError

from tests.support.telemetry import duration_points, finished

#: What Elasticsearch 8.x/9.x answers for a document whose field does not fit its mapping: the
#: reason echoes the start of the offending value.
MAPPING_ERROR = {
    "error": {
        "root_cause": [
            {
                "type": "document_parsing_exception",
                "reason": "[1:8] failed to parse field [year] of type [long] in document with id "
                "'1'. Preview of field's value: 'secret-value'",
            }
        ],
        "type": "document_parsing_exception",
        "reason": "[1:8] failed to parse field [year] of type [long] in document with id '1'. "
        "Preview of field's value: 'secret-value'",
        "caused_by": {
            "type": "illegal_argument_exception",
            "reason": 'For input string: "secret-value"',
        },
    },
    "status": 400,
}
SCRUBBED_REASON = (
    "document_parsing_exception: [1:8] failed to parse field [year] of type [long] "
    "in document with id '?'"
)


def _docs(n: int) -> List[Any]:
    return [{"_index": "movies", "_id": str(i), "title": f"movie {i}"} for i in range(n)]


def _only(exporter: Any) -> Any:
    [span] = finished(exporter)
    return span


def _exception_event(span: Any) -> Any:
    [event] = [e for e in span.events if e.name == "exception"]
    return event


# -- 1. helper spans are INTERNAL and no database calls -----------------------------------------
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
    if dup:
        assert all(s.attributes["db.system"] == "elasticsearch" for s in calls)

    # One duration point per database call, none for a helper: a bulk is counted once.
    operations = [p.attributes["db.operation.name"] for p in duration_points(metric_reader)]
    assert not [name for name in operations if name.startswith("helpers.")]
    assert operations.count("bulk") == 1  # one point, over both bulk calls
    bulk_point = next(
        p for p in duration_points(metric_reader) if p.attributes["db.operation.name"] == "bulk"
    )
    assert bulk_point.count == 2


# -- 2. db.operation.batch.size for every bulk body shape ----------------------------------------
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
    span = _only(span_exporter)
    assert span.name == "bulk"
    # index, delete (no source), create (its source looks like an action), update
    assert span.attributes["db.operation.batch.size"] == 4


async def test_streaming_bulk_chunks_carry_their_batch_size(
    instrumented: Any, es: AsyncElasticsearch, span_exporter: Any
) -> None:
    instrumented()
    results = [ok async for ok, _ in es_helpers.async_streaming_bulk(es, _docs(5), chunk_size=3)]
    assert results == [True] * 5
    bulks = [s for s in finished(span_exporter) if s.name == "bulk"]
    assert [s.attributes["db.operation.batch.size"] for s in bulks] == [3, 2]


# -- 3. a failed call keeps the server's reason --------------------------------------------------
async def test_elasticsearch_error_status_is_the_first_root_cause_scrubbed_of_values(
    instrumented: Any, es: AsyncElasticsearch, span_exporter: Any, elasticsearch_server: Any
) -> None:
    instrumented()
    elasticsearch_server.faults.add(path="/movies/_doc/1", status=400, body=MAPPING_ERROR)
    with pytest.raises(BadRequestError) as raised:
        await es.index(index="movies", id="1", document={"year": "secret-value"})
    span = _only(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == SCRUBBED_REASON
    assert span.attributes["error.type"] == "400"
    event = _exception_event(span)
    assert event.attributes["exception.type"] == "elasticsearch.BadRequestError"
    assert event.attributes["exception.stacktrace"].startswith("Traceback")
    assert "BadRequestError" in event.attributes["exception.stacktrace"]
    # Nothing of the document reaches the span: not the status, not the exception event.
    assert "secret-value" in str(raised.value)  # the application still sees all of it
    assert "secret-value" not in json.dumps(span.to_json())


async def test_raw_capture_keeps_the_server_reason_as_it_is(
    instrumented: Any, es: AsyncElasticsearch, span_exporter: Any, elasticsearch_server: Any
) -> None:
    instrumented(capture_query="raw")
    elasticsearch_server.faults.add(path="/movies/_doc/1", status=400, body=MAPPING_ERROR)
    with pytest.raises(BadRequestError):
        await es.index(index="movies", id="1", document={"year": "secret-value"})
    span = _only(span_exporter)
    assert span.status.description == (
        "document_parsing_exception: " + MAPPING_ERROR["error"]["root_cause"][0]["reason"]
    )
    assert "secret-value" in _exception_event(span).attributes["exception.message"]


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
    assert all(_exception_event(s) for s in (missing_index, missing_doc))


async def test_bulk_item_errors_give_the_first_item_reason(
    instrumented: Any, es: AsyncElasticsearch, span_exporter: Any
) -> None:
    docs = _docs(3)
    for doc in docs[:2]:
        doc["_fail"] = "mapper_parsing_exception"
    instrumented()
    response = await es.bulk(
        operations=[line for doc in docs for line in ({"index": {"_id": doc["_id"]}}, doc)],
        index="movies",
    )
    assert response["errors"] is True
    span = _only(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["elasticsearch.bulk.failed_items"] == 2
    assert span.status.description.startswith(
        "2 bulk items failed; first: mapper_parsing_exception"
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
    span = _only(span_exporter)
    assert span.attributes["error.type"] == type(raised.value).__qualname__
    assert span.status.description and span.status.description != span.attributes["error.type"]
    assert (
        _exception_event(span)
        .attributes["exception.type"]
        .endswith(type(raised.value).__qualname__)
    )


async def test_weaviate_grpc_error_reason_is_the_status_details(
    instrumented: Any,
    weaviate_client: weaviate.WeaviateAsyncClient,
    weaviate_server: Any,
    span_exporter: Any,
) -> None:
    instrumented()
    weaviate_server.faults.grpc(
        "Search", grpc.StatusCode.NOT_FOUND, details="could not find class Missing in schema"
    )
    with pytest.raises(WeaviateQueryError):
        await weaviate_client.collections.get("Missing").query.fetch_objects()
    span = _only(span_exporter)
    assert span.attributes["error.type"] == "NOT_FOUND"
    assert span.status.description == "could not find class Missing in schema"
    assert _exception_event(span).attributes["exception.type"].endswith("WeaviateQueryError")


async def test_weaviate_rest_error_reason_is_the_error_message_scrubbed(
    instrumented: Any,
    weaviate_client: weaviate.WeaviateAsyncClient,
    weaviate_server: Any,
    span_exporter: Any,
) -> None:
    instrumented()
    weaviate_server.faults.http(
        r"^/v1/schema$",
        422,
        method="POST",
        body={"error": [{"message": 'class name "secret-name" is not valid'}]},
    )
    with pytest.raises(UnexpectedStatusCodeError):
        await weaviate_client.collections.create(
            "Movie", properties=[wvc.config.Property(name="t", data_type=wvc.config.DataType.TEXT)]
        )
    span = _only(span_exporter)
    assert span.attributes["error.type"] == "422"
    assert span.status.description == 'class name "?" is not valid'
    assert "secret-name" not in json.dumps(span.to_json())


async def test_weaviate_batch_object_errors_give_the_first_message(
    instrumented: Any,
    weaviate_client: weaviate.WeaviateAsyncClient,
    weaviate_server: Any,
    span_exporter: Any,
) -> None:
    movies = await weaviate_client.collections.create(
        "Movie", properties=[wvc.config.Property(name="t", data_type=wvc.config.DataType.TEXT)]
    )
    instrumented()
    weaviate_server.faults.batch_errors(2, message="invalid text property 't' on class 'Movie'")
    result = await movies.data.insert_many([{"t": "a"}, {"t": "b"}, {"t": "c"}])
    assert len(result.errors) == 2
    span = _only(span_exporter)
    assert span.attributes["weaviate.batch.failed_objects"] == 2
    assert span.status.description == (
        "2 objects failed; first: invalid text property '?' on class '?'"
    )
