"""AsyncOpenSearch traced end to end: the real opensearch-py client over real sockets.

The fast tier talks to the Elasticsearch imitation as an OpenSearch node (``flavor``: OpenSearch
speaks the same REST API for everything here, but names a mapping failure
``mapper_parsing_exception``); the real tier (``tests/real``) runs the same scenarios against a real
node.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from opensearchpy import AsyncOpenSearch, NotFoundError, RequestError
from opensearchpy import ConnectionError as OpenSearchConnectionError
from opensearchpy import helpers as os_helpers
from opentelemetry.trace import SpanKind, StatusCode

import instrumentation
from tests.support.in_flight import HELD_BACK
from tests.support.telemetry import duration_points, finished


@pytest.fixture(autouse=True)
def _as_opensearch(elasticsearch_server: Any) -> None:
    elasticsearch_server.flavor = "opensearch"


def _docs(n: int, fail: int = 0) -> list:
    """Documents with a numeric ``n``; the first ``fail`` have a value a ``long`` cannot take,
    which a node refuses once ``n`` is mapped (by an earlier document)."""
    docs = [{"_index": "movies", "_id": str(i), "title": f"movie {i}", "n": i} for i in range(n)]
    for doc in docs[:fail]:
        doc["n"] = f"secret-{doc['_id']}"
    return docs


async def test_search_is_one_client_span_with_the_elasticsearch_contract(
    instrumented: Any, opensearch: AsyncOpenSearch, span_exporter: Any, elasticsearch_server: Any
) -> None:
    instrumented()
    await opensearch.search(index="movies", body={"query": {"match": {"title": "secret-title"}}})
    [span] = finished(span_exporter)
    assert span.name == "search movies"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attributes = dict(span.attributes)
    assert isinstance(attributes.pop("opensearch.took"), int)  # the server's own milliseconds
    assert attributes == {
        "db.system.name": "opensearch",
        "db.system": "opensearch",  # by default, for Elastic APM Server
        "db.operation.name": "search",
        "db.collection.name": "movies",
        "db.query.summary": "search movies",
        "db.query.text": '{"query":{"match":{"title":"?"}}}',
        "db.response.status_code": "200",
        "server.address": "127.0.0.1",
        "server.port": elasticsearch_server.port,
        "http.request.method": "POST",
        "url.full": f"{elasticsearch_server.url}/movies/_search",
    }


async def test_operations_are_named_as_elasticsearch_names_them(
    instrumented: Any, opensearch: AsyncOpenSearch, span_exporter: Any
) -> None:
    instrumented()
    await opensearch.index(index="movies", id="42", body={"title": "Alien"}, refresh=True)
    await opensearch.get(index="movies", id="42")
    await opensearch.count(index="movies")
    await opensearch.indices.refresh(index="movies")
    await opensearch.indices.exists(index="movies")
    # the imitation has no _cat, and answers as a node does for a path it has no handler for
    with pytest.raises(RequestError):
        await opensearch.cat.indices()
    await opensearch.exists(index="movies", id="42")
    spans = finished(span_exporter)
    assert [s.name for s in spans] == [
        "index movies",
        "get movies",
        "count movies",
        "indices.refresh movies",
        "indices.exists movies",
        "GET _cat",  # a route we do not name keeps a low-cardinality name
        "exists movies",
    ]
    assert spans[0].attributes["db.operation.parameter.id"] == "42"
    assert "db.query.text" not in spans[0].attributes  # documents are never captured


async def test_bulk_has_its_batch_size_and_item_errors_make_it_an_error(
    instrumented: Any, opensearch: AsyncOpenSearch, span_exporter: Any
) -> None:
    instrumented()
    docs = _docs(3)
    docs[1]["n"] = "secret-bulk-value"  # "n" is mapped as long by the first document
    for doc in docs:  # a node refuses metadata fields inside a document
        del doc["_index"]
    body = [line for doc in docs for line in ({"index": {"_id": doc.pop("_id")}}, doc)]
    response = await opensearch.bulk(body=body, index="movies")
    assert response["errors"] is True
    [span] = finished(span_exporter)
    assert span.name == "bulk movies"
    assert span.attributes["db.operation.batch.size"] == 3
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "mapper_parsing_exception"
    assert span.attributes["opensearch.bulk.failed_items"] == 1
    assert span.status.description == (
        "mapper_parsing_exception: failed to parse field [n] of type [long] in document with id '?'"
    )
    assert "secret-bulk-value" not in json.dumps(span.to_json())


async def test_errors_keep_the_status_and_the_server_reason(
    instrumented: Any, opensearch: AsyncOpenSearch, span_exporter: Any
) -> None:
    instrumented()
    with pytest.raises(NotFoundError):
        await opensearch.get(index="movies", id="missing")
    with pytest.raises(NotFoundError):
        await opensearch.search(index="nowhere")
    missing_doc, missing_index = finished(span_exporter)
    assert missing_doc.attributes["error.type"] == "404"
    assert missing_doc.attributes["db.response.status_code"] == "404"
    assert missing_doc.status.description == "document not found"
    assert missing_index.status.description == "index_not_found_exception: no such index [nowhere]"
    for span in (missing_doc, missing_index):
        [event] = [e for e in span.events if e.name == "exception"]
        assert event.attributes["exception.type"] == "opensearchpy.exceptions.NotFoundError"


async def test_connection_error_is_the_exception_class(
    instrumented: Any, span_exporter: Any, unused_tcp_port: int
) -> None:
    instrumented()
    async with AsyncOpenSearch([f"http://127.0.0.1:{unused_tcp_port}"], max_retries=0) as down:
        with pytest.raises(OpenSearchConnectionError):
            await down.info()
    [span] = finished(span_exporter)
    assert span.name == "info"
    assert span.attributes["error.type"] == "ConnectionError"
    assert span.attributes["server.port"] == unused_tcp_port


async def test_cancelled_call_ends_its_span_and_cancellation_propagates(
    instrumented: Any, elasticsearch_server: Any, opensearch: AsyncOpenSearch, span_exporter: Any
) -> None:
    instrumented()
    elasticsearch_server.faults.add(path="_search", delay=HELD_BACK)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(opensearch.search(index="movies"), timeout=0.1)
    [span] = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "CancelledError"


async def test_helpers_are_internal_parents_of_their_calls(
    instrumented: Any, opensearch: AsyncOpenSearch, span_exporter: Any, metric_reader: Any
) -> None:
    instrumented()
    assert await os_helpers.async_bulk(opensearch, _docs(5), chunk_size=2) == (5, [])
    hits = [hit async for hit in os_helpers.async_scan(opensearch, index="movies", size=2)]
    assert len(hits) == 5
    await os_helpers.async_reindex(opensearch, "movies", "movies-copy", chunk_size=4)
    ok = [
        ok
        async for ok, _ in os_helpers.async_streaming_bulk(
            opensearch, _docs(2, fail=1), raise_on_error=False
        )
    ]
    assert ok == [False, True]

    spans = finished(span_exporter)
    helpers = [s for s in spans if s.name.startswith("helpers.")]
    assert [h.name for h in helpers] == [
        "helpers.async_bulk",
        "helpers.async_scan movies",
        "helpers.async_reindex movies",
        "helpers.async_streaming_bulk",
    ]
    for helper in helpers:
        assert helper.kind is SpanKind.INTERNAL
        assert not [key for key in helper.attributes if key.startswith("db.")]
        children = [s for s in spans if s.parent and s.parent.span_id == helper.context.span_id]
        assert children and all(c.kind is SpanKind.CLIENT for c in children)
    assert helpers[0].attributes["opensearch.helpers.documents"] == 5
    bulk_sizes = [
        s.attributes.get("db.operation.batch.size")
        for s in spans
        if s.name == "bulk" and s.parent.span_id == helpers[0].context.span_id
    ]
    assert bulk_sizes == [2, 2, None]
    assert helpers[3].attributes["opensearch.helpers.failed_documents"] == 1
    assert helpers[3].status.status_code is StatusCode.ERROR
    operations = {p.attributes["db.operation.name"] for p in duration_points(metric_reader)}
    assert not [name for name in operations if name.startswith("helpers.")]


async def test_duration_metric(
    instrumented: Any, opensearch: AsyncOpenSearch, metric_reader: Any, elasticsearch_server: Any
) -> None:
    instrumented()
    await opensearch.count(index="movies")
    [point] = duration_points(metric_reader)
    assert dict(point.attributes) == {
        "db.system.name": "opensearch",
        "db.operation.name": "count",
        "db.collection.name": "movies",
        "server.address": "127.0.0.1",
        "server.port": elasticsearch_server.port,
    }
    assert point.count == 1


def test_uninstrument_restores_the_client_exactly() -> None:
    from opensearchpy._async import transport
    from opensearchpy._async.helpers import actions

    before = (transport.AsyncTransport.__dict__["perform_request"], actions.async_bulk)
    instrumentation.instrument(clients=["opensearch"])
    assert transport.AsyncTransport.__dict__["perform_request"] is not before[0]
    instrumentation.uninstrument()
    after = (transport.AsyncTransport.__dict__["perform_request"], actions.async_bulk)
    assert after == before
    assert os_helpers.async_bulk is before[1]
