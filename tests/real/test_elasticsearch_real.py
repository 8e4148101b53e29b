"""AsyncElasticsearch traced against a real Elasticsearch node: every API family a real node answers.

The scenarios and assertions of the fast tier (``tests/clients/test_elasticsearch.py``,
``tests/clients/test_elasticsearch_helpers.py``, ``tests/backends/test_apm.py``), with the real
server's own answers: spans (name, kind, attributes of docs/attributes.md, status), the duration
metric, and the Elastic APM spans. The real errors (404, 409, 400, bulk item errors, and what this
node lacks) are in the differential form: the application sees the same outcome with and without
instrumentation.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from typing import Any, AsyncIterator, Dict, List, Optional

import pytest
from elasticsearch import AsyncElasticsearch, BadRequestError, NotFoundError
from elasticsearch import helpers as es_helpers
from opentelemetry.trace import SpanKind, StatusCode

from tests.real import support
from tests.support.apm import apm_outcomes
from tests.support.differential import plain_traced_plain
from tests.support.telemetry import duration_points, exception_events, finished

BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]


def server_major(real_es: support.Elasticsearch) -> int:
    """The node's major version: 9, or 8 for the 8.x node run with elasticsearch-py 8.x."""
    return int(real_es.version.split(".")[0])


def one(exporter: Any) -> Any:
    spans = finished(exporter)
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def by_name(spans: List[Any]) -> Dict[str, Any]:
    return {span.name: span for span in spans}


def assert_api_span(
    span: Any,
    real_es: support.Elasticsearch,
    name: str,
    *,
    method: str,
    path: str,
    status: str = "200",
    collection: Optional[str] = None,
) -> None:
    """Everything docs/attributes.md promises on a successful API call's span."""
    assert span.name == name
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes)
    operation = name.split(" ", 1)[0]
    assert attrs["db.system.name"] == "elasticsearch"
    assert attrs["db.operation.name"] == operation
    assert attrs["db.query.summary"] == name
    if collection is None:
        assert "db.collection.name" not in attrs
    else:
        assert attrs["db.collection.name"] == collection
    assert attrs["db.response.status_code"] == status
    assert attrs["server.address"] == real_es.host
    assert attrs["server.port"] == real_es.port
    assert attrs["http.request.method"] == method
    assert attrs["url.full"] == f"{real_es.url}{path}"
    assert "error.type" not in attrs
    assert not exception_events(span)


async def seed(es: AsyncElasticsearch, index: str, docs: List[Dict[str, Any]]) -> None:
    """Documents indexed before instrument() (no spans), searchable at once."""
    for number, doc in enumerate(docs):
        await es.index(index=index, id=str(number), document=doc)
    await es.indices.refresh(index=index)


MOVIES = [
    {"title": "Alien", "genre": "horror", "n": 1979},
    {"title": "Heat", "genre": "crime", "n": 1995},
    {"title": "Alien Resurrection", "genre": "horror", "n": 1997},
]


# -- search, count, msearch -----------------------------------------------------------------------
async def test_search_is_one_client_span_with_semconv_attributes(
    instrumented: Any, es: AsyncElasticsearch, index: str, span_exporter: Any, real_es: Any
) -> None:
    await seed(es, index, MOVIES)
    instrumented()
    response = await es.search(index=index, query={"match": {"title": "alien"}})
    assert response["hits"]["total"]["value"] == 2

    span = one(span_exporter)
    assert_api_span(
        span, real_es, f"search {index}", method="POST", path=f"/{index}/_search", collection=index
    )
    assert span.attributes["db.query.text"] == '{"query":{"match":{"title":"?"}}}'


@pytest.mark.parametrize("node_class", ["aiohttp", "httpxasync"])
async def test_search_over_both_http_clients(
    instrumented: Any, index: str, span_exporter: Any, real_es: Any, node_class: str
) -> None:
    instrumented()
    async with AsyncElasticsearch(real_es.url, node_class=node_class) as es:
        await es.search(index=index, query={"term": {"genre": "noir"}}, size=5)
    span = one(span_exporter)
    assert_api_span(
        span, real_es, f"search {index}", method="POST", path=f"/{index}/_search", collection=index
    )
    assert span.attributes["db.query.text"] == '{"query":{"term":{"genre":"?"}},"size":"?"}'


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
    index: str,
    span_exporter: Any,
    mode: str,
    expected: Any,
) -> None:
    instrumented(capture_query=mode)
    await es.search(index=index, query={"term": {"genre": "noir"}}, size=5)
    assert one(span_exporter).attributes.get("db.query.text") == expected


async def test_count_msearch_and_aggregations(
    instrumented: Any, es: AsyncElasticsearch, index: str, span_exporter: Any, real_es: Any
) -> None:
    await seed(es, index, MOVIES)
    instrumented()
    assert (await es.count(index=index, query={"term": {"genre": "horror"}}))["count"] == 2
    found = await es.msearch(
        searches=[{"index": index}, {"query": {"match": {"title": "heat"}}}, {}, {"size": 0}],
        index=index,
    )
    assert [r["hits"]["total"]["value"] for r in found["responses"]] == [1, 3]
    aggs = await es.search(index=index, size=0, aggs={"g": {"terms": {"field": "genre"}}})
    assert {b["key"] for b in aggs["aggregations"]["g"]["buckets"]} == {"horror", "crime"}

    count, msearch, search = finished(span_exporter)
    assert_api_span(
        count, real_es, f"count {index}", method="POST", path=f"/{index}/_count", collection=index
    )
    assert count.attributes["db.query.text"] == '{"query":{"term":{"genre":"?"}}}'
    assert_api_span(
        msearch,
        real_es,
        f"msearch {index}",
        method="POST",
        path=f"/{index}/_msearch",
        collection=index,
    )
    assert "heat" not in msearch.attributes["db.query.text"]
    assert "db.operation.batch.size" not in msearch.attributes
    assert search.attributes["db.query.text"] == (
        '{"aggs":{"g":{"terms":{"field":"?"}}},"size":"?"}'
    )


async def test_returned_rows_is_opt_in(
    instrumented: Any, es: AsyncElasticsearch, index: str, span_exporter: Any
) -> None:
    await seed(es, index, MOVIES)
    instrumented()
    await es.search(index=index)
    assert "db.response.returned_rows" not in one(span_exporter).attributes
    span_exporter.clear()
    instrumented(record_returned_rows=True)
    await es.search(index=index, size=2)
    assert one(span_exporter).attributes["db.response.returned_rows"] == 2


async def test_scroll_and_clear_scroll(
    instrumented: Any, es: AsyncElasticsearch, index: str, span_exporter: Any, real_es: Any
) -> None:
    await seed(es, index, MOVIES)
    instrumented()
    page = await es.search(index=index, scroll="1m", size=2)
    scroll_id = page["_scroll_id"]
    page = await es.scroll(scroll_id=scroll_id, scroll="1m")
    assert len(page["hits"]["hits"]) == 1
    await es.clear_scroll(scroll_id=page["_scroll_id"])

    search, scroll, clear = finished(span_exporter)
    assert search.name == f"search {index}"
    assert_api_span(scroll, real_es, "scroll", method="POST", path="/_search/scroll")
    assert_api_span(clear, real_es, "clear_scroll", method="DELETE", path="/_search/scroll")
    assert scroll_id not in json.dumps(dict(scroll.attributes))  # the id is not a query


# -- indices --------------------------------------------------------------------------------------
async def test_indices_family(
    instrumented: Any, es: AsyncElasticsearch, new_index: Any, span_exporter: Any, real_es: Any
) -> None:
    name = new_index("films")
    instrumented()
    await es.indices.create(index=name, mappings={"properties": {"title": {"type": "text"}}})
    assert await es.indices.exists(index=name)
    await es.indices.put_mapping(index=name, properties={"year": {"type": "integer"}})
    mapping = await es.indices.get_mapping(index=name)
    assert "year" in mapping[name]["mappings"]["properties"]
    await es.indices.refresh(index=name)
    await es.indices.delete(index=name)
    assert not await es.indices.exists(index=name)

    spans = finished(span_exporter)
    assert [s.name for s in spans] == [
        f"indices.create {name}",
        f"indices.exists {name}",
        f"indices.put_mapping {name}",
        f"indices.get_mapping {name}",
        f"indices.refresh {name}",
        f"indices.delete {name}",
        f"indices.exists {name}",
    ]
    create, exists, put, get, refresh, delete, gone = spans
    assert_api_span(create, real_es, create.name, method="PUT", path=f"/{name}", collection=name)
    assert_api_span(exists, real_es, exists.name, method="HEAD", path=f"/{name}", collection=name)
    assert_api_span(put, real_es, put.name, method="PUT", path=f"/{name}/_mapping", collection=name)
    assert_api_span(get, real_es, get.name, method="GET", path=f"/{name}/_mapping", collection=name)
    assert_api_span(
        refresh, real_es, refresh.name, method="POST", path=f"/{name}/_refresh", collection=name
    )
    assert_api_span(delete, real_es, delete.name, method="DELETE", path=f"/{name}", collection=name)
    # A HEAD 404 is an answer (False), not an error.
    assert_api_span(
        gone, real_es, gone.name, method="HEAD", path=f"/{name}", status="404", collection=name
    )


async def test_several_indices_are_comma_joined(
    instrumented: Any, es: AsyncElasticsearch, new_index: Any, span_exporter: Any
) -> None:
    first, second = new_index("a"), new_index("b")
    for name in (first, second):
        await es.indices.create(index=name)
    instrumented()
    await es.search(index=[first, second])
    span = one(span_exporter)
    assert span.name == f"search {first},{second}"
    assert span.attributes["db.collection.name"] == f"{first},{second}"


# -- documents ------------------------------------------------------------------------------------
async def test_document_crud(
    instrumented: Any, es: AsyncElasticsearch, index: str, span_exporter: Any, real_es: Any
) -> None:
    instrumented()
    await es.index(index=index, id="42", document={"title": "Alien", "n": 1979})
    await es.create(index=index, id="43", document={"title": "Heat"})
    assert (await es.get(index=index, id="42"))["_source"]["title"] == "Alien"
    assert await es.exists(index=index, id="42")
    await es.update(index=index, id="42", doc={"genre": "horror"})
    docs = await es.mget(index=index, ids=["42", "43"])
    assert [d["found"] for d in docs["docs"]] == [True, True]
    await es.delete(index=index, id="43")

    spans = finished(span_exporter)
    assert [s.name for s in spans] == [
        f"{op} {index}" for op in ("index", "create", "get", "exists", "update", "mget", "delete")
    ]
    put, create, get, exists, update, mget, delete = spans
    assert_api_span(
        put,
        real_es,
        put.name,
        method="PUT",
        path=f"/{index}/_doc/42",
        status="201",
        collection=index,
    )
    assert_api_span(
        create,
        real_es,
        create.name,
        method="PUT",
        path=f"/{index}/_create/43",
        status="201",
        collection=index,
    )
    assert_api_span(
        get, real_es, get.name, method="GET", path=f"/{index}/_doc/42", collection=index
    )
    assert_api_span(
        exists, real_es, exists.name, method="HEAD", path=f"/{index}/_doc/42", collection=index
    )
    assert_api_span(
        update, real_es, update.name, method="POST", path=f"/{index}/_update/42", collection=index
    )
    assert_api_span(
        mget, real_es, mget.name, method="POST", path=f"/{index}/_mget", collection=index
    )
    assert_api_span(
        delete, real_es, delete.name, method="DELETE", path=f"/{index}/_doc/43", collection=index
    )
    for span in (put, get, exists, update):
        assert span.attributes["db.operation.parameter.id"] == "42"
    for span in (create, delete):
        assert span.attributes["db.operation.parameter.id"] == "43"
    for span in spans:  # documents are never captured
        assert "db.query.text" not in span.attributes
        assert "Alien" not in json.dumps(dict(span.attributes))


# -- bulk -----------------------------------------------------------------------------------------
async def test_bulk_records_batch_size(
    instrumented: Any, es: AsyncElasticsearch, index: str, span_exporter: Any, real_es: Any
) -> None:
    await seed(es, index, MOVIES[:1])
    instrumented()
    response = await es.bulk(
        operations=[
            {"index": {"_index": index, "_id": "1"}},
            {"title": "Alien"},
            {"delete": {"_index": index, "_id": "0"}},
            {"create": {"_index": index, "_id": "3"}},
            {"title": "Heat"},
        ]
    )
    assert response["errors"] is False
    span = one(span_exporter)
    assert_api_span(span, real_es, "bulk", method="PUT", path="/_bulk")
    assert span.attributes["db.operation.batch.size"] == 3
    assert "elasticsearch.bulk.failed_items" not in span.attributes


async def test_bulk_with_item_errors_is_error_and_reason_echoes_no_document_value(
    instrumented: Any, es: AsyncElasticsearch, index: str, span_exporter: Any, metric_reader: Any
) -> None:
    """A real mapping conflict: ES writes "Preview of field's value: '...'" into the item's reason."""
    await seed(es, index, MOVIES[:1])
    instrumented()
    response = await es.bulk(
        index=index,
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
    statuses = [next(iter(item.values()))["status"] for item in response["items"]]
    assert statuses == [201, 400, 409]

    span = one(span_exporter)
    assert span.name == f"bulk {index}"
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


# -- the metric, hooks, both names ----------------------------------------------------------------
async def test_duration_metric_recorded_with_its_attributes(
    instrumented: Any, es: AsyncElasticsearch, index: str, metric_reader: Any, real_es: Any
) -> None:
    instrumented()
    await es.count(index=index)
    with pytest.raises(NotFoundError):
        await es.get(index=index, id="missing")
    by_op = {p.attributes["db.operation.name"]: p for p in duration_points(metric_reader)}
    assert by_op["count"].count == 1
    assert dict(by_op["count"].attributes) == {
        "db.system.name": "elasticsearch",
        "db.operation.name": "count",
        "db.collection.name": index,
        "server.address": real_es.host,
        "server.port": real_es.port,
    }
    assert by_op["get"].attributes["error.type"] == "404"
    assert list(by_op["count"].explicit_bounds) == BUCKETS


async def test_database_dup_opt_in_emits_old_names_beside_stable_ones(
    instrumented: Any, es: AsyncElasticsearch, index: str, span_exporter: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "database/dup")
    instrumented()
    await es.search(index=index, query={"match_all": {}})
    span = one(span_exporter)
    assert span.attributes["db.system"] == "elasticsearch"
    assert span.attributes["db.operation"] == "search"
    assert span.attributes["db.statement"] == span.attributes["db.query.text"]


async def test_hooks_see_the_real_response(
    instrumented: Any, es: AsyncElasticsearch, index: str, span_exporter: Any
) -> None:
    seen: List[Any] = []
    instrumented(
        request_hook=lambda span, view: seen.append(("request", view.operation)),
        response_hook=lambda span, view, response: seen.append(("response", response["count"])),
    )
    await es.count(index=index)
    assert seen == [("request", "count"), ("response", 0)]


async def test_no_real_node_sends_cloud_headers(
    instrumented: Any, es: AsyncElasticsearch, span_exporter: Any
) -> None:
    """A self-managed node sets no ``X-Found-Handling-*``: no ``db.namespace``, no node name."""
    instrumented()
    info = await es.info()
    assert info["version"]["number"]
    span = one(span_exporter)
    assert span.name == "info"
    assert "db.namespace" not in span.attributes
    assert "elasticsearch.node.name" not in span.attributes


# -- real errors, plain / traced / plain ----------------------------------------------------------
def _client(url: str) -> Any:
    @contextlib.asynccontextmanager
    async def open_client() -> AsyncIterator[AsyncElasticsearch]:
        async with AsyncElasticsearch(url) as client:
            yield client

    return open_client


def assert_error_span(
    span: Any,
    name: str,
    error_type: str,
    description: str,
    *,
    status: Optional[str] = None,
    exception: Optional[str] = None,
) -> None:
    assert span.name == name
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == description
    assert span.attributes["error.type"] == error_type
    assert span.attributes["db.response.status_code"] == (status or error_type)
    events = exception_events(span)
    if exception is None:
        assert events == []
    else:
        [event] = events
        assert event.attributes["exception.type"].endswith(exception)
        assert event.attributes["exception.message"]


ERRORS = [
    # id, call(es, index), span name (with {index}), error.type, reason (with {index}), exception
    (
        "get-missing-document-404",
        lambda es, ix: es.get(index=ix, id="nope"),
        "get {index}",
        "404",
        "document not found",
        "NotFoundError",
    ),
    (
        "search-missing-index-404",
        lambda es, ix: es.search(index=ix + "-nowhere"),
        "search {index}-nowhere",
        "404",
        "index_not_found_exception: no such index [{index}-nowhere]",
        "NotFoundError",
    ),
    (
        "create-existing-id-409",
        lambda es, ix: es.create(index=ix, id="0", document={"title": "again"}),
        "create {index}",
        "409",
        "version_conflict_engine_exception: [0]: version conflict, document already exists "
        "(current version [1])",
        "ConflictError",
    ),
    (
        "unknown-query-400",
        lambda es, ix: es.search(index=ix, query={"nope": {"title": "x"}}),
        "search {index}",
        "400",
        "parsing_exception: unknown query [nope]",
        "BadRequestError",
    ),
    (
        "create-existing-index-400",
        lambda es, ix: es.indices.create(index=ix),
        "indices.create {index}",
        "400",
        None,  # "index [name/uuid] already exists": checked by prefix below
        "BadRequestError",
    ),
]


@pytest.mark.parametrize(
    ("call", "name", "error_type", "reason", "exception"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
async def test_real_error_changes_nothing_the_application_sees(
    instrumented: Any,
    es: AsyncElasticsearch,
    index: str,
    span_exporter: Any,
    metric_reader: Any,
    apm: Any,
    real_es: Any,
    call: Any,
    name: str,
    error_type: str,
    reason: Optional[str],
    exception: str,
) -> None:
    await seed(es, index, MOVIES[:1])
    run = await plain_traced_plain(
        _client(real_es.url), lambda c: call(c, index), instrumented, span_exporter, apm=apm
    )
    run.assert_same_outcome()
    assert run.traced.raised
    [span] = run.spans
    if reason is None:
        assert span.status.description.startswith(
            f"resource_already_exists_exception: index [{index}/"
        )
        reason = span.status.description
    assert_error_span(
        span,
        name.format(index=index),
        error_type,
        reason.format(index=index),
        exception=exception,
    )
    [point] = duration_points(metric_reader)
    assert point.attributes["error.type"] == error_type
    assert apm_outcomes(run.apm_spans) == [(span.name, "failure")]


async def test_a_mapping_conflict_reason_echoes_no_document_value(
    instrumented: Any, index: str, span_exporter: Any, real_es: Any
) -> None:
    """Real ES: "... in document with id '2'. Preview of field's value: 'secret-value'" (twice,
    with ``caused_by``: For input string: "secret-value"). Sanitize keeps none of the value."""
    run = await plain_traced_plain(
        _client(real_es.url),
        lambda c: c.index(index=index, id="2", document={"n": "secret-value"}),
        instrumented,
        span_exporter,
    )
    run.assert_same_outcome()
    assert "secret-value" in str(run.traced.value)  # what the application sees, untouched
    [span] = run.spans
    assert span.attributes["error.type"] == "400"
    description = span.status.description
    assert description.startswith("document_parsing_exception: [1:6] failed to parse field [n] ")
    assert "of type [long]" in description
    [event] = exception_events(span)
    exported = span.to_json()
    assert "secret-value" not in exported
    assert "Preview of field" not in description
    assert "secret-value" not in event.attributes["exception.message"]


async def test_raw_capture_keeps_the_server_reason_as_it_was(
    instrumented: Any, es: AsyncElasticsearch, index: str, span_exporter: Any
) -> None:
    instrumented(capture_query="raw")
    with pytest.raises(BadRequestError):
        await es.index(index=index, id="2", document={"n": "not-secret"})
    assert "Preview of field's value: 'not-secret'" in one(span_exporter).status.description


async def test_bulk_item_errors_change_nothing_the_application_sees(
    instrumented: Any,
    es: AsyncElasticsearch,
    index: str,
    span_exporter: Any,
    metric_reader: Any,
    apm: Any,
    real_es: Any,
) -> None:
    """Only failing items, so every run gets the very same answer (a created item would not)."""
    await seed(es, index, MOVIES[:1])
    operations = [
        {"index": {"_index": index, "_id": "2"}},
        {"n": "secret-bulk-value"},
        {"create": {"_index": index, "_id": "0"}},
        {"title": "exists already"},
    ]
    run = await plain_traced_plain(
        _client(real_es.url),
        lambda c: c.bulk(operations=operations),
        instrumented,
        span_exporter,
        apm=apm,
    )
    run.assert_same_outcome()
    assert not run.traced.raised
    assert run.traced.value["errors"] is True
    [span] = run.spans
    assert span.name == "bulk"
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "document_parsing_exception"
    assert span.attributes["elasticsearch.bulk.failed_items"] == 2
    assert span.attributes["db.operation.batch.size"] == 2
    assert "secret-bulk-value" not in span.status.description
    assert apm_outcomes(run.apm_spans) == [("bulk", "failure")]


@pytest.mark.parametrize(
    ("api", "name", "status", "reason"),
    [
        (
            "update_by_query",
            "update_by_query {index}",
            "400",
            "no handler found for uri [/{index}/_update_by_query] and method [POST]",
        ),
        (
            "delete_by_query",
            "delete_by_query {index}",
            "400",
            "no handler found for uri [/{index}/_delete_by_query] and method [POST]",
        ),
        (
            "reindex",
            "reindex",
            "405",
            "Incorrect HTTP method for uri [/_reindex] and method [POST], "
            "allowed: [GET, PUT, DELETE, HEAD]",
        ),
    ],
)
async def test_apis_of_the_missing_reindex_module_are_real_error_spans(
    instrumented: Any,
    index: str,
    span_exporter: Any,
    real_es: Any,
    api: str,
    name: str,
    status: str,
    reason: str,
) -> None:
    """The Maven node has no reindex module: ``_update_by_query``, ``_delete_by_query`` and
    ``_reindex`` answer the node's own 400 / 405, whose body's ``error`` is a plain string."""

    async def call(es: AsyncElasticsearch) -> Any:
        if api == "reindex":
            return await es.reindex(source={"index": index}, dest={"index": index + "-copy"})
        return await getattr(es, api)(index=index, query={"match": {"title": "alien"}})

    run = await plain_traced_plain(_client(real_es.url), call, instrumented, span_exporter)
    run.assert_same_outcome()
    [span] = run.spans
    exception = "BadRequestError" if status == "400" else "ApiError"
    assert_error_span(
        span, name.format(index=index), status, reason.format(index=index), exception=exception
    )
    if api != "reindex":
        assert span.attributes["db.query.text"] == '{"query":{"match":{"title":"?"}}}'


# -- the async DSL --------------------------------------------------------------------------------
async def test_dsl_classes_are_traced_through_the_client(
    instrumented: Any, es: AsyncElasticsearch, new_index: Any, span_exporter: Any
) -> None:
    from elasticsearch import dsl

    name = new_index("dsl")

    Movie = type(
        "Movie",
        (dsl.AsyncDocument,),
        {"title": dsl.Text(), "year": dsl.Integer(), "Index": type("Index", (), {"name": name})},
    )
    instrumented()
    await Movie.init(using=es)
    await Movie(meta={"id": "1"}, title="Alien", year=1979).save(using=es, refresh=True)
    movie = await Movie.get(id="1", using=es)
    assert movie.title == "Alien"
    response = await dsl.AsyncSearch(using=es, index=name).query("match", title="alien").execute()
    assert response.hits.total.value == 1
    assert await Movie.search(using=es).count() == 1
    multi = dsl.AsyncMultiSearch(using=es, index=name).add(dsl.AsyncSearch().query("match_all"))
    assert len(await multi.execute()) == 1
    await dsl.AsyncIndex(name, using=es).refresh()
    await movie.delete(using=es)

    spans = finished(span_exporter)
    names = [s.name for s in spans]
    for expected in (
        f"index {name}",
        f"get {name}",
        f"search {name}",
        f"count {name}",
        f"msearch {name}",
        f"indices.refresh {name}",
        f"delete {name}",
    ):
        assert expected in names, names
    assert all(s.kind is SpanKind.CLIENT for s in spans)
    assert all(s.status.status_code is StatusCode.UNSET for s in spans)
    search = next(s for s in spans if s.name == f"search {name}")
    assert "alien" not in search.attributes["db.query.text"]


# -- the async helpers ----------------------------------------------------------------------------
def _children(spans: List[Any], parent: Any) -> List[Any]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def _docs(index: str, n: int, bad: int = 0) -> List[Dict[str, Any]]:
    docs: List[Dict[str, Any]] = [
        {"_index": index, "_id": str(i), "title": f"movie {i}", "n": i} for i in range(n)
    ]
    for doc in docs[:bad]:
        doc["n"] = "secret-helper-value"  # a string into the long field: a real item error
    return docs


def assert_helper_span(span: Any, name: str, documents: int, failed: int) -> None:
    assert span.name == name
    # Not a database call of its own: the API calls inside are, and only they are counted.
    assert span.kind is SpanKind.INTERNAL
    assert not [key for key in span.attributes if key.startswith("db.")]
    assert span.attributes["elasticsearch.helpers.documents"] == documents
    assert span.attributes["elasticsearch.helpers.failed_documents"] == failed


def assert_no_helper_points(metric_reader: Any, calls: List[Any]) -> None:
    points = duration_points(metric_reader)
    assert not [p for p in points if p.attributes["db.operation.name"].startswith("helpers.")]
    assert sum(p.count for p in points) == len(calls)


async def test_async_bulk_is_one_internal_parent_over_its_bulk_calls(
    instrumented: Any, es: AsyncElasticsearch, index: str, span_exporter: Any, metric_reader: Any
) -> None:
    instrumented()
    assert await es_helpers.async_bulk(es, _docs(index, 5), chunk_size=2) == (5, [])
    spans = finished(span_exporter)
    [parent] = [s for s in spans if s.name.startswith("helpers.")]
    assert_helper_span(parent, "helpers.async_bulk", 5, 0)
    bulks = _children(spans, parent)
    assert [s.name for s in bulks] == ["bulk"] * 3
    assert all(s.kind is SpanKind.CLIENT for s in bulks)
    assert all(s.attributes["db.system.name"] == "elasticsearch" for s in bulks)
    assert [s.attributes.get("db.operation.batch.size") for s in bulks] == [2, 2, None]
    assert len(spans) == 4
    assert_no_helper_points(metric_reader, bulks)


async def test_async_bulk_with_a_real_item_error_counts_it_and_raises_as_before(
    instrumented: Any, es: AsyncElasticsearch, index: str, span_exporter: Any, real_es: Any
) -> None:
    run = await plain_traced_plain(
        _client(real_es.url),
        lambda c: es_helpers.async_bulk(c, _docs(index, 4, bad=1), index=index),
        instrumented,
        span_exporter,
    )
    run.assert_same_outcome()
    assert isinstance(run.traced.value, es_helpers.BulkIndexError)
    spans = run.spans
    [parent] = [s for s in spans if s.name.startswith("helpers.")]
    assert parent.name == f"helpers.async_bulk {index}"
    assert parent.kind is SpanKind.INTERNAL
    assert parent.status.status_code is StatusCode.ERROR
    assert parent.attributes["error.type"] == "BulkIndexError"
    assert parent.attributes["elasticsearch.helpers.failed_documents"] == 1
    [bulk] = _children(spans, parent)
    assert bulk.name == f"bulk {index}"
    assert bulk.attributes["error.type"] == "document_parsing_exception"
    assert bulk.attributes["elasticsearch.bulk.failed_items"] == 1
    assert bulk.attributes["db.operation.batch.size"] == 4
    for span in spans:
        assert "secret-helper-value" not in span.to_json()


async def test_async_streaming_bulk_is_one_internal_parent(
    instrumented: Any, es: AsyncElasticsearch, index: str, span_exporter: Any, metric_reader: Any
) -> None:
    instrumented()
    results = [
        ok
        async for ok, _ in es_helpers.async_streaming_bulk(
            es, _docs(index, 3, bad=1), chunk_size=10, raise_on_error=False
        )
    ]
    assert results == [False, True, True]
    spans = finished(span_exporter)
    [parent] = [s for s in spans if s.name.startswith("helpers.")]
    assert_helper_span(parent, "helpers.async_streaming_bulk", 3, 1)
    assert parent.status.status_code is StatusCode.ERROR
    [bulk] = _children(spans, parent)
    assert bulk.name == "bulk"
    assert bulk.attributes["db.operation.batch.size"] == 3
    assert_no_helper_points(metric_reader, [bulk])


async def test_async_scan_is_one_internal_parent_over_search_scroll_and_clear(
    instrumented: Any, es: AsyncElasticsearch, index: str, span_exporter: Any, metric_reader: Any
) -> None:
    await es_helpers.async_bulk(es, _docs(index, 7), refresh=True)
    instrumented()
    hits = [hit async for hit in es_helpers.async_scan(es, index=index, size=3)]
    assert len(hits) == 7
    spans = finished(span_exporter)
    [scan] = [s for s in spans if s.name.startswith("helpers.")]
    assert_helper_span(scan, f"helpers.async_scan {index}", 7, 0)
    children = _children(spans, scan)
    names = [s.name for s in children]
    # 7 hits by 3: the search, scrolls until an empty page, then the scroll is cleared.
    assert names[0] == f"search {index}" and names[-1] == "clear_scroll"
    assert set(names[1:-1]) == {"scroll"} and len(names) >= 4
    assert all(s.kind is SpanKind.CLIENT for s in children)
    assert_no_helper_points(metric_reader, children)


async def test_async_reindex_on_a_node_without_data_streams_fails_as_it_does_untraced(
    instrumented: Any,
    es: AsyncElasticsearch,
    index: str,
    new_index: Any,
    span_exporter: Any,
    metric_reader: Any,
    real_es: Any,
) -> None:
    """``async_reindex`` first asks ``GET /_data_stream/<target>``; the Maven node has no data
    streams module and answers 400 "no handler found" (9.x; 8.x answers 405), which the helper
    does not catch (it only catches ``TransportError``/``NotFoundError``). A real failure of the helper: its span is ERROR,
    the API call inside is the 400, and the application sees the same exception. (The helper's
    success path, scan + bulk, is the fast tier's ``test_async_scan_and_reindex_...``.)"""
    await es_helpers.async_bulk(es, _docs(index, 7), refresh=True)
    target = new_index("copy")
    run = await plain_traced_plain(
        _client(real_es.url),
        lambda c: es_helpers.async_reindex(c, index, target, chunk_size=4),
        instrumented,
        span_exporter,
    )
    run.assert_same_outcome()
    uri = f"/_data_stream/{target}?expand_wildcards=all"
    if server_major(real_es) >= 9:
        status, exception = "400", "BadRequestError"
        reason = f"no handler found for uri [{uri}] and method [GET]"
    else:  # 8.x keeps the 7.x-compatible POST /{index}/{type}, so the path is known: 405
        status, exception = "405", "ApiError"
        reason = f"Incorrect HTTP method for uri [{uri}] and method [GET], allowed: [POST]"
    assert type(run.traced.value).__name__ == exception
    spans = run.spans
    [helper] = [s for s in spans if s.name.startswith("helpers.")]
    assert helper.name == f"helpers.async_reindex {index}"
    assert helper.kind is SpanKind.INTERNAL
    assert helper.status.status_code is StatusCode.ERROR
    assert helper.attributes["error.type"] == exception
    assert not [key for key in helper.attributes if key.startswith("db.")]
    [call] = _children(spans, helper)
    assert_error_span(call, "indices.get_data_stream", status, reason, exception=exception)
    assert call.attributes["db.operation.parameter.name"] == target
    assert_no_helper_points(metric_reader, [call])


# -- Elastic APM ----------------------------------------------------------------------------------
async def test_apm_span_for_a_real_search_has_every_field(
    instrumented: Any, es: AsyncElasticsearch, index: str, apm: Any, real_es: Any
) -> None:
    instrumented(backends=["apm"])
    with apm.transaction():
        await es.search(index=index, query={"match": {"title": "matrix"}}, size=3)
    [doc] = await apm.spans()  # the document APM Server would index
    span = doc["span"]
    assert (span["name"], span["type"], span["subtype"], span["action"]) == (
        f"search {index}",
        "db",
        "elasticsearch",
        "query",
    )
    assert doc["event"]["outcome"] == "success"
    assert span["db"]["type"] == "elasticsearch"
    assert span["db"]["statement"] == '{"query":{"match":{"title":"?"}},"size":"?"}'
    assert doc["destination"]["address"] == real_es.host
    assert doc["destination"]["port"] == real_es.port
    assert span["destination"]["service"]["resource"] == "elasticsearch"
    assert doc["service"]["target"]["type"] == "elasticsearch"
    assert doc["http"]["response"]["status_code"] == 200


async def test_apm_and_otel_together_one_span_each_per_call(
    instrumented: Any, es: AsyncElasticsearch, index: str, apm: Any, span_exporter: Any
) -> None:
    instrumented(backends=["otel", "apm"])
    with apm.transaction():
        await es.index(index=index, id="1", document={"title": "Alien"})
        with pytest.raises(NotFoundError):
            await es.get(index=index, id="missing")
        await es_helpers.async_bulk(es, _docs(index, 3))
    apm_spans = await apm.spans()
    otel = finished(span_exporter)
    assert [name for name, _ in apm_outcomes(apm_spans)] == sorted(s.name for s in otel)
    outcomes = dict(apm_outcomes(apm_spans))
    assert outcomes[f"index {index}"] == "success"
    assert outcomes[f"get {index}"] == "failure"
    assert outcomes["helpers.async_bulk"] == "success"
    assert outcomes["bulk"] == "success"


async def _legacy_template(es: AsyncElasticsearch, name: str) -> List[Any]:
    """A legacy index template: the real node answers with a deprecation ``Warning`` header,
    which elasticsearch-py raises as a warning pointing at the caller's line (this one)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await es.indices.put_template(name=name, index_patterns=[f"{name}-*"])
    return [(w.category.__name__, w.filename, w.lineno) for w in caught]


async def test_a_server_warning_points_at_the_application_line_traced_or_not(
    instrumented: Any, es: AsyncElasticsearch, new_index: Any, span_exporter: Any
) -> None:
    name = new_index("template")
    plain = await _legacy_template(es, name)
    assert plain and plain[0][1] == __file__
    instrumented()
    traced = await _legacy_template(es, name)
    assert traced == plain
    assert one(span_exporter).name == "indices.put_template"
    await es.indices.delete_template(name=name)


# -- what a 200 answer says: failed shards, failed searches, timed_out, took ----------------------
#: A term the ``long`` field of one index cannot take, and the value of the other's keyword field.
SECRET_TERM = "secret-term"
SHARD_REASON = 'query_shard_exception: failed to create query: For input string: "?"'


def _split_mapping(real_es: Any, new_index: Any) -> str:
    """Two indices, ``n`` a long over two shards in one and a keyword in the other (one document
    each): a ``term`` on ``n`` with ``SECRET_TERM`` fails on 2 of the 3 shards, and the node
    answers 200 with what the third found. Their names, comma-joined."""
    numbers, words = new_index("numbers"), new_index("words")
    for name, kind, shards, value in ((numbers, "long", 2, 5), (words, "keyword", 1, SECRET_TERM)):
        support.http(
            "PUT",
            f"{real_es.url}/{name}",
            {
                "settings": {"number_of_shards": shards, "number_of_replicas": 0},
                "mappings": {"properties": {"n": {"type": kind}}},
            },
        )
        support.http("PUT", f"{real_es.url}/{name}/_doc/1?refresh=true", {"n": value})
    return f"{numbers},{words}"


@pytest.mark.parametrize("api", ["search", "count"])
async def test_a_real_failed_shard_behind_a_200_is_error_and_changes_nothing(
    instrumented: Any,
    span_exporter: Any,
    metric_reader: Any,
    apm: Any,
    real_es: Any,
    new_index: Any,
    api: str,
) -> None:
    target = _split_mapping(real_es, new_index)
    run = await plain_traced_plain(
        _client(real_es.url),
        lambda c: getattr(c, api)(index=target, query={"term": {"n": SECRET_TERM}}),
        instrumented,
        span_exporter,
        apm=apm,
    )
    run.assert_same_outcome()
    assert not run.traced.raised
    shards = run.traced.value["_shards"]
    assert (shards["total"], shards["failed"]) == (3, 2)  # the node's own answer, a 200
    [span] = run.spans
    assert span.name == f"{api} {target}"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == f"2 of 3 shards failed: {SHARD_REASON}"
    assert SECRET_TERM not in span.status.description
    assert span.attributes["error.type"] == "query_shard_exception"
    assert span.attributes["db.response.status_code"] == "200"
    assert not exception_events(span)
    if api == "search":
        assert isinstance(span.attributes["elasticsearch.took"], int)
    [point] = duration_points(metric_reader)
    assert point.attributes["error.type"] == "query_shard_exception"
    assert apm_outcomes(run.apm_spans) == [(span.name, "failure")]


async def test_a_real_msearch_with_a_missing_index_and_a_failed_shard_is_error(
    instrumented: Any,
    span_exporter: Any,
    metric_reader: Any,
    apm: Any,
    real_es: Any,
    new_index: Any,
) -> None:
    target = _split_mapping(real_es, new_index)
    words = target.split(",")[1]
    missing = new_index("missing")  # named, never created
    searches = [
        {"index": words},
        {"query": {"match_all": {}}},
        {"index": missing},
        {"query": {"match_all": {}}},
        {"index": target},
        {"query": {"term": {"n": SECRET_TERM}}},
    ]
    run = await plain_traced_plain(
        _client(real_es.url),
        lambda c: c.msearch(searches=searches),
        instrumented,
        span_exporter,
        apm=apm,
    )
    run.assert_same_outcome()
    assert not run.traced.raised
    assert [item["status"] for item in run.traced.value["responses"]] == [200, 404, 200]
    [span] = run.spans
    assert span.name == "msearch"
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "index_not_found_exception"
    assert span.attributes["elasticsearch.msearch.failed_searches"] == 2
    assert span.status.description == (
        f"2 of 3 searches failed; first: index_not_found_exception: no such index [{missing}]"
    )
    assert isinstance(span.attributes["elasticsearch.took"], int)
    [point] = duration_points(metric_reader)
    assert point.attributes["error.type"] == "index_not_found_exception"
    assert apm_outcomes(run.apm_spans) == [("msearch", "failure")]


#: Searches slow enough over 20,000 documents to run out of a 1 ms ``timeout`` on a real node.
SLOW_QUERIES = [
    {"wildcard": {"t": {"value": "*o*d*"}}},
    {"match": {"t": "other text here"}},
    {"regexp": {"t": {"value": ".*o.*d.*1.*"}}},
]


async def test_a_real_timed_out_search_is_a_success_that_says_so(
    instrumented: Any, es: AsyncElasticsearch, span_exporter: Any, real_es: Any, new_index: Any
) -> None:
    """The node decides when a 1 ms budget runs out, and a timed-out search's hits differ from
    one run to the next: so this runs traced only, and asks up to six times for an answer that
    timed out. Every answer must be told as the node told it: ``took`` as it said, ``timed_out``
    only when true, never an error."""
    name = new_index("slow")
    support.http(
        "PUT",
        f"{real_es.url}/{name}",
        {"settings": {"number_of_shards": 1, "number_of_replicas": 0}},
    )
    operations: List[Dict[str, Any]] = []
    for n in range(20000):
        operations += [{"index": {}}, {"n": n, "t": f"word{n} other text here"}]
    await es.bulk(index=name, operations=operations, refresh=True)  # before instrument(): no span
    instrumented()
    for attempt in range(6):
        span_exporter.clear()
        response = await es.search(
            index=name, query=SLOW_QUERIES[attempt % len(SLOW_QUERIES)], timeout="1ms"
        )
        [span] = finished(span_exporter)
        assert span.status.status_code is StatusCode.UNSET
        assert "error.type" not in span.attributes
        assert span.attributes["elasticsearch.took"] == response["took"]
        if response["timed_out"]:
            assert span.attributes["elasticsearch.timed_out"] is True
            return
        assert "elasticsearch.timed_out" not in span.attributes
    pytest.skip("the node ran every search within its 1 ms budget")
