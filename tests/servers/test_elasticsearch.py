"""The Elasticsearch imitation, driven by the real client and helpers over real sockets.

Only what the instrumentation tests, the demo, the example app and the benchmarks rely on.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict, Type

import aiohttp
import pytest
import pytest_asyncio
from elasticsearch import (
    ApiError,
    AsyncElasticsearch,
    BadRequestError,
    ConflictError,
    ConnectionError,
    ConnectionTimeout,
    Elasticsearch,
    NotFoundError,
    SerializationError,
    UnsupportedProductError,
    __versionstr__,
)
from elasticsearch.helpers import (
    BulkIndexError,
    async_bulk,
    async_reindex,
    async_scan,
    async_streaming_bulk,
)

from tests.servers.elasticsearch import ElasticsearchStandIn
from tests.servers.threaded import InThread

CLIENT_MAJOR = int(__versionstr__.split(".")[0])


@asynccontextmanager
async def running(**options: Any) -> AsyncIterator[ElasticsearchStandIn]:
    standin = ElasticsearchStandIn(**options)
    await standin.start()
    try:
        yield standin
    finally:
        await standin.stop()


@pytest_asyncio.fixture
async def server() -> AsyncIterator[ElasticsearchStandIn]:
    async with running() as standin:
        yield standin


@asynccontextmanager
async def client(
    standin: ElasticsearchStandIn, node_class: str, **options: Any
) -> AsyncIterator[AsyncElasticsearch]:
    es = AsyncElasticsearch(standin.url, node_class=node_class, **options)
    try:
        yield es
    finally:
        await es.close()


@pytest_asyncio.fixture
async def es(server: ElasticsearchStandIn, node_class: str) -> AsyncIterator[AsyncElasticsearch]:
    async with client(server, node_class) as connected:
        yield connected


async def seed(es: AsyncElasticsearch, index: str = "books") -> None:
    docs = [
        {"title": "The Quick Brown Fox", "genre": "fable", "pages": 120},
        {"title": "Slow Green Turtle", "genre": "fable", "pages": 80},
        {"title": "Database Internals", "genre": "tech", "pages": 370},
        {"title": "Quick Search Recipes", "genre": "tech", "pages": 210},
    ]
    for number, doc in enumerate(docs, 1):
        await es.index(index=index, id=str(number), document=doc)


# --------------------------------------------------------------------------- protocol basics


async def test_info_ping_and_protocol_headers(
    es: AsyncElasticsearch, server: ElasticsearchStandIn
) -> None:
    info = await es.info()
    assert info["version"]["number"] == server.version
    assert info.meta.headers["x-elastic-product"] == "Elasticsearch"
    assert info.meta.headers["content-type"] == (
        f"application/vnd.elasticsearch+json;compatible-with={CLIENT_MAJOR}"
    )
    assert await es.ping() is True

    first = server.requests[0]
    assert (first.method, first.path) == ("GET", "/")
    assert f"compatible-with={CLIENT_MAJOR}" in first.headers["accept"]
    assert server.requests[-1].method == "HEAD"


async def test_unknown_endpoint(es: AsyncElasticsearch) -> None:
    """As a node answers a path no handler serves: 400, the error a plain string, no status."""
    with pytest.raises(BadRequestError) as unknown:
        await es.perform_request("GET", "/books/_no_such_api", params={"pretty": "true"})
    assert unknown.value.body == {
        "error": "no handler found for uri [/books/_no_such_api?pretty=true] and method [GET]"
    }


# --------------------------------------------------------------------------- documents


async def test_documents(es: AsyncElasticsearch) -> None:
    assert not await es.indices.exists(index="books")
    created = await es.index(index="books", id="1", document={"title": "Dune", "pages": 412})
    assert (created["result"], created.meta.status) == ("created", 201)
    assert (created["_version"], created["_seq_no"], created["_primary_term"]) == (1, 0, 1)
    assert await es.indices.exists(index="books")
    replaced = await es.index(index="books", id="1", document={"title": "Dune", "pages": 500})
    assert (replaced["result"], replaced["_version"]) == ("updated", 2)
    generated = await es.index(index="books", document={"title": "Emma"})
    assert len(generated["_id"]) == 20

    got = await es.get(index="books", id="1")
    assert (got["found"], got["_source"]) == (True, {"title": "Dune", "pages": 500})
    assert await es.exists(index="books", id="1")
    with pytest.raises(NotFoundError) as missing:
        await es.get(index="books", id="nope")
    assert missing.value.body == {"_index": "books", "_id": "nope", "found": False}
    with pytest.raises(NotFoundError) as no_index:
        await es.get(index="nowhere", id="1")
    assert no_index.value.error == "index_not_found_exception"

    created_index = await es.indices.create(index="empty")
    assert created_index["acknowledged"] is True
    assert (await es.indices.refresh(index="empty"))["_shards"]["successful"] == 1


def error_of(raised: Any) -> Dict[str, Any]:
    """The error of an error body, checked to have the node's shape."""
    body = raised.value.body
    assert set(body) == {"error", "status"} and body["status"] == raised.value.meta.status
    return dict(body["error"])


async def test_errors_a_node_gives_for_bad_writes(es: AsyncElasticsearch) -> None:
    """The answers of a real 9.x node (tests/real/test_elasticsearch_real.py)."""
    await es.index(index="books", id="1", document={"title": "Dune", "pages": 412})

    for create in (
        lambda: es.create(index="books", id="1", document={"title": "again"}),
        lambda: es.index(index="books", id="1", document={"title": "again"}, op_type="create"),
    ):
        with pytest.raises(ConflictError) as conflict:
            await create()
        error = error_of(conflict)
        uuid = error["index_uuid"]
        cause = {
            "type": "version_conflict_engine_exception",
            "reason": "[1]: version conflict, document already exists (current version [1])",
            "index_uuid": uuid,
            "shard": "0",
            "index": "books",
        }
        assert error == {"root_cause": [cause], **cause}
    assert (await es.create(index="books", id="2", document={"title": "Emma"}))["result"] == (
        "created"
    )

    # "pages" was mapped dynamically as long by its first value
    with pytest.raises(BadRequestError) as parse:
        await es.index(index="books", id="3", document={"pages": "secret-value"})
    cause = {
        "type": "document_parsing_exception",
        "reason": "[1:10] failed to parse field [pages] of type [long] in document with id '3'. "
        "Preview of field's value: 'secret-value'",
    }
    assert error_of(parse) == {
        "root_cause": [cause],
        **cause,
        "caused_by": {
            "type": "illegal_argument_exception",
            "reason": 'For input string: "secret-value"',
        },
    }
    assert (await es.index(index="books", id="3", document={"pages": "12"}))["result"] == (
        "created"
    )
    await es.indices.create(index="typed", mappings={"properties": {"year": {"type": "integer"}}})
    with pytest.raises(BadRequestError) as typed:
        await es.index(index="typed", id="1", document={"title": "x", "year": "soon"})
    assert error_of(typed)["caused_by"]["type"] == "number_format_exception"
    assert error_of(typed)["reason"].startswith(
        "[1:21] failed to parse field [year] of type [integer] in document with id '1'."
    )

    with pytest.raises(BadRequestError) as exists:
        await es.indices.create(index="books")
    error = error_of(exists)
    assert error["type"] == "resource_already_exists_exception"
    assert error["reason"] == f"index [books/{error['index_uuid']}] already exists"
    assert error["index"] == "books"


# --------------------------------------------------------------------------- search


async def test_search_count_and_msearch(es: AsyncElasticsearch) -> None:
    await seed(es)
    everything = await es.search(index="books", query={"match_all": {}})
    assert everything["hits"]["total"] == {"value": 4, "relation": "eq"}
    assert [h["_id"] for h in everything["hits"]["hits"]] == ["1", "2", "3", "4"]

    quick = await es.search(index="books", query={"match": {"title": "quick"}})
    assert {h["_id"] for h in quick["hits"]["hits"]} == {"1", "4"}
    combined = await es.search(
        index="books",
        query={
            "bool": {
                "filter": [{"range": {"pages": {"gte": 100}}}],
                "must_not": [{"match": {"genre": "tech"}}],
            }
        },
    )
    assert [h["_id"] for h in combined["hits"]["hits"]] == ["1"]
    page = await es.search(index="books", size=2, from_=1)
    assert [h["_id"] for h in page["hits"]["hits"]] == ["2", "3"]
    assert page["hits"]["total"]["value"] == 4
    assert (await es.search(query={"match_all": {}}))["hits"]["total"]["value"] == 4

    assert (await es.count(index="books"))["count"] == 4
    assert (await es.count(index="books", query={"match": {"genre": "fable"}}))["count"] == 2

    multi = await es.msearch(
        index="books",
        searches=[{}, {"query": {"match": {"title": "turtle"}}}, {"index": "books"}, {"size": 1}],
    )
    turtle, first = multi["responses"]
    assert [h["_id"] for h in turtle["hits"]["hits"]] == ["2"]
    assert (turtle["status"], len(first["hits"]["hits"])) == (200, 1)

    with pytest.raises(NotFoundError):
        await es.search(index="missing")


async def test_an_unknown_query_type_is_the_nodes_parsing_exception(
    es: AsyncElasticsearch,
) -> None:
    await seed(es)
    with pytest.raises(BadRequestError) as unknown:
        await es.search(index="books", query={"nope": {"title": "x"}})
    cause = {"type": "parsing_exception", "reason": "unknown query [nope]", "line": 1, "col": 18}
    assert error_of(unknown) == {
        "root_cause": [cause],
        **cause,
        "caused_by": {
            "type": "named_object_not_found_exception",
            "reason": "[1:18] unknown field [nope]",
        },
    }
    with pytest.raises(BadRequestError) as counted:
        await es.count(index="missing", query={"nope": {}})  # the body is parsed first
    assert error_of(counted)["type"] == "parsing_exception"
    with pytest.raises(BadRequestError) as nested:
        await es.search(
            index="books", query={"bool": {"must": [{"match": {"a": "b"}}, {"nope": {}}]}}
        )
    error = error_of(nested)
    assert (error["type"], error["reason"]) == (
        "x_content_parse_exception",
        "[1:55] [bool] failed to parse field [must]",
    )
    assert error["root_cause"] == [
        {"type": "parsing_exception", "reason": "unknown query [nope]", "line": 1, "col": 55}
    ]
    # a known type the imitation does not evaluate matches everything
    assert (await es.search(index="books", query={"term": {"genre": "x"}}))["hits"]["total"][
        "value"
    ] == 4


async def test_scroll_and_clear_scroll(
    es: AsyncElasticsearch, server: ElasticsearchStandIn
) -> None:
    await seed(es)
    first = await es.search(index="books", scroll="1m", size=3, sort="_doc")
    assert first["hits"]["hits"][0]["sort"] == [0]
    scroll_id = first["_scroll_id"]
    second = await es.scroll(scroll_id=scroll_id, scroll="1m")
    assert len(first["hits"]["hits"]) + len(second["hits"]["hits"]) == 4
    assert (await es.scroll(scroll_id=scroll_id, scroll="1m"))["hits"]["hits"] == []
    assert (await es.clear_scroll(scroll_id=scroll_id))["num_freed"] == 1
    assert ("DELETE", "/_search/scroll") in [(r.method, r.path) for r in server.requests]


# --------------------------------------------------------------------------- bulk and helpers


async def test_bulk(es: AsyncElasticsearch) -> None:
    resp = await es.bulk(
        operations=[
            {"index": {"_index": "shelf", "_id": "1"}},
            {"title": "one"},
            {"create": {"_index": "shelf", "_id": "2"}},
            {"title": "two"},
            {"update": {"_index": "shelf", "_id": "1"}},
            {"doc": {"read": True}},
            {"update": {"_index": "shelf", "_id": "1"}},
            {"doc": {"read": True}},
            {"delete": {"_index": "shelf", "_id": "2"}},
        ],
        refresh=True,
    )
    assert resp["errors"] is False
    results = [next(iter(i.values())) for i in resp["items"]]
    assert [r["status"] for r in results] == [201, 201, 200, 200, 200]
    assert [r["result"] for r in results] == ["created", "created", "updated", "noop", "deleted"]
    assert (await es.get(index="shelf", id="1"))["_source"] == {"title": "one", "read": True}


async def test_bulk_item_failures(es: AsyncElasticsearch) -> None:
    """The items a real node fails, with its statuses and error bodies."""
    resp = await es.bulk(
        index="shelf",
        operations=[
            {"index": {"_id": "ok"}},
            {"title": "fine", "n": 1},
            {"index": {"_id": "bad"}},
            {"title": "broken", "n": "secret-bulk"},
            {"create": {"_id": "ok"}},
            {"title": "exists already"},
            {"update": {"_id": "gone"}},
            {"doc": {"title": "nothing to update"}},
            {"delete": {"_id": "gone"}},
            {"index": {"_id": "hook"}},
            {"title": "x", "_fail": None},
        ],
    )
    assert resp["errors"] is True
    fine, broken, conflict, missing, not_found, hook = (i[next(iter(i))] for i in resp["items"])
    assert fine["status"] == 201
    assert broken == {
        "_index": "shelf",
        "_id": "bad",
        "status": 400,
        "error": {
            "type": "document_parsing_exception",
            "reason": "[1:23] failed to parse field [n] of type [long] in document with id "
            "'bad'. Preview of field's value: 'secret-bulk'",
            "caused_by": {
                "type": "illegal_argument_exception",
                "reason": 'For input string: "secret-bulk"',
            },
        },
    }
    assert (conflict["status"], conflict["error"]["type"]) == (
        409,
        "version_conflict_engine_exception",
    )
    assert conflict["error"]["reason"] == (
        "[ok]: version conflict, document already exists (current version [1])"
    )
    assert (missing["status"], missing["error"]["type"]) == (404, "document_missing_exception")
    assert missing["error"]["reason"] == "[gone]: document missing"
    assert {"index_uuid", "shard", "index"} <= set(missing["error"])
    assert (not_found["status"], not_found["result"]) == (404, "not_found")
    # the "_fail" test hook: an item failure of the given (default: the parse) error type
    assert (hook["status"], hook["error"]["type"]) == (400, "document_parsing_exception")
    assert not await es.exists(index="shelf", id="bad")


async def test_opensearch_flavor(server: ElasticsearchStandIn) -> None:
    """What an OpenSearch node answers differently: no product header, and a mapping failure
    is mapper_parsing_exception without the position (tests/real/test_opensearch_real.py)."""
    from opensearchpy import AsyncOpenSearch
    from opensearchpy import RequestError as OpenSearchRequestError

    server.flavor = "opensearch"
    async with AsyncOpenSearch([server.url]) as client:
        await client.index(index="books", id="1", body={"n": 1})
        with pytest.raises(OpenSearchRequestError) as parse:
            await client.index(index="books", id="2", body={"n": "secret-value"})
    error = parse.value.info["error"]
    assert (error["type"], error["reason"]) == (
        "mapper_parsing_exception",
        "failed to parse field [n] of type [long] in document with id '2'. "
        "Preview of field's value: 'secret-value'",
    )
    async with aiohttp.ClientSession() as session, session.get(server.url) as answer:
        assert "X-Elastic-Product" not in answer.headers


_METADATA_REASON = (
    "Field [{}] is a metadata field and cannot be added inside a document. "
    "Use the index API request parameters."
)


async def test_metadata_fields_inside_a_document_are_refused(
    es: AsyncElasticsearch, server: ElasticsearchStandIn
) -> None:
    """A real 9.5.3 / 8.19 node refuses ``_id``, ``_index`` (any metadata field) in a document's
    source: 400 document_parsing_exception at the field's value; in a bulk request, that item."""
    for write, key, col in (
        (lambda: es.index(index="meta", id="1", document={"_id": "1", "title": "x"}), "_id", 8),
        (
            lambda: es.create(index="meta", id="1", document={"title": "x", "_index": "meta"}),
            "_index",
            23,
        ),
    ):
        with pytest.raises(BadRequestError) as refused:
            await write()
        cause = {
            "type": "document_parsing_exception",
            "reason": f"[1:{col}] " + _METADATA_REASON.format(key),
        }
        assert error_of(refused) == {"root_cause": [cause], **cause}
    assert not await es.exists(index="meta", id="1")
    # only at the top level: inside an object it is an ordinary field
    await es.index(index="meta", id="2", document={"ref": {"_id": "7"}})

    resp = await es.bulk(
        index="meta",
        operations=[
            {"index": {"_id": "3"}},
            {"title": "fine"},
            {"index": {"_id": "4"}},
            {"title": "carries its index", "_index": "meta"},
            {"create": {"_id": "5"}},
            {"_routing": "r"},
        ],
    )
    assert resp["errors"] is True
    fine, index_in_doc, routing = (i[next(iter(i))] for i in resp["items"])
    assert fine["status"] == 201
    assert index_in_doc == {
        "_index": "meta",
        "_id": "4",
        "status": 400,
        "error": {
            "type": "document_parsing_exception",
            "reason": "[1:39] " + _METADATA_REASON.format("_index"),
        },
    }
    assert (routing["status"], routing["error"]["reason"]) == (
        400,
        "[1:13] " + _METADATA_REASON.format("_routing"),
    )
    # the helpers take them out of the action, as they should
    assert await async_bulk(es, [{"_index": "meta", "_id": "6", "title": "y"}]) == (1, [])

    server.flavor = "opensearch"  # OpenSearch 3: mapper_parsing_exception, no position
    with pytest.raises(BadRequestError) as opensearch:
        await es.index(index="meta", id="7", document={"_id": "7"})
    assert (error_of(opensearch)["type"], error_of(opensearch)["reason"]) == (
        "mapper_parsing_exception",
        _METADATA_REASON.format("_id"),
    )


async def test_async_bulk(es: AsyncElasticsearch, server: ElasticsearchStandIn) -> None:
    success, errors = await async_bulk(
        es, ({"_index": "logs", "_id": str(n), "n": n} for n in range(120)), chunk_size=50
    )
    assert (success, errors) == (120, [])
    assert sum(1 for r in server.requests if r.path == "/_bulk") == 3
    assert (await es.count(index="logs"))["count"] == 120

    actions = [
        {"_index": "logs", "n": 1},
        {"_index": "logs", "n": 2, "_fail": "illegal_argument_exception"},
    ]
    with pytest.raises(BulkIndexError) as failed:
        await async_bulk(es, actions)
    assert failed.value.errors[0]["index"]["error"]["type"] == "illegal_argument_exception"


async def test_async_streaming_bulk(es: AsyncElasticsearch) -> None:
    async def actions() -> AsyncIterator[Dict[str, Any]]:
        for n in range(5):
            doc: Dict[str, Any] = {"_index": "stream", "_id": str(n), "n": n}
            if n == 3:
                doc["_fail"] = "document_parsing_exception"
            yield doc

    results = [
        ok
        async for ok, _ in async_streaming_bulk(es, actions(), chunk_size=2, raise_on_error=False)
    ]
    assert results == [True, True, True, False, True]


async def test_async_scan_and_reindex(es: AsyncElasticsearch, server: ElasticsearchStandIn) -> None:
    await async_bulk(es, ({"_index": "scan", "n": n} for n in range(25)))
    hits = [hit async for hit in async_scan(es, index="scan", size=10)]
    assert sorted(h["_source"]["n"] for h in hits) == list(range(25))
    paths = [(r.method, r.path) for r in server.requests]
    assert paths.count(("POST", "/_search/scroll")) == 3
    assert paths[-1] == ("DELETE", "/_search/scroll")

    assert await async_reindex(es, "scan", "target") == (25, 0)
    assert (await es.count(index="target"))["count"] == 25


async def test_update_by_query(es: AsyncElasticsearch) -> None:
    await seed(es)
    result = await es.update_by_query(
        index="books", query={"match": {"genre": "fable"}}, script={"source": "ctx._source.n = 1"}
    )
    assert result["updated"] == 2
    assert (await es.get(index="books", id="2"))["_source"]["n"] == 1
    assert "n" not in (await es.get(index="books", id="3"))["_source"]


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(("status", "error"), [(404, NotFoundError), (500, ApiError)])
async def test_fault_status(
    es: AsyncElasticsearch, server: ElasticsearchStandIn, status: int, error: Type[ApiError]
) -> None:
    await es.indices.create(index="books")
    server.faults.add(path=r"^/books/_search$", status=status)
    with pytest.raises(error) as raised:
        await es.search(index="books")
    assert raised.value.meta.status == status
    assert raised.value.body["status"] == status
    assert raised.value.body["error"]["type"]
    assert raised.value.meta.headers["x-elastic-product"] == "Elasticsearch"
    assert (await es.search(index="books"))["hits"]["hits"] == []  # used up after one


async def test_fault_custom_body_method_and_times(
    es: AsyncElasticsearch, server: ElasticsearchStandIn
) -> None:
    body = {"error": {"type": "cluster_block_exception", "reason": "read-only"}, "status": 403}
    server.faults.add(path="/_doc/", method="PUT", status=403, body=body, times=2)
    await es.indices.create(index="books")
    assert (await es.count(index="books"))["count"] == 0  # other paths are untouched
    for _ in range(2):
        with pytest.raises(ApiError) as raised:
            await es.index(index="books", id="1", document={"a": 1})
        assert raised.value.body == body
    assert (await es.index(index="books", id="1", document={"a": 1}))["result"] == "created"


async def test_fault_429_then_retry_succeeds(
    es: AsyncElasticsearch, server: ElasticsearchStandIn
) -> None:
    server.faults.add(path="^/$", status=429)
    assert (await es.info())["version"]["number"] == server.version
    assert [r.path for r in server.requests] == ["/", "/"]


async def test_fault_429_exhausts_retries(server: ElasticsearchStandIn, node_class: str) -> None:
    server.faults.add(status=429, times=10)
    async with client(server, node_class, max_retries=2) as es:
        with pytest.raises(ApiError) as raised:
            await es.info()
    assert raised.value.meta.status == 429
    assert raised.value.body["error"]["type"] == "es_rejected_execution_exception"
    assert len(server.requests) == 3


async def test_fault_drop(server: ElasticsearchStandIn, node_class: str) -> None:
    # A POST: aiohttp itself quietly resends idempotent requests (GET, PUT, ...) once when the
    # server hangs up, so a single dropped GET would never reach the Elasticsearch client.
    server.faults.add(path="/_search$", drop=True)
    async with client(server, node_class, max_retries=0) as es:
        with pytest.raises(ConnectionError):
            await es.search()
        assert (await es.search())["hits"]["hits"] == []  # the next one is fine
    server.faults.add(path="/_search$", drop=True)
    async with client(server, node_class, max_retries=1) as es:
        assert (await es.search())["hits"]["hits"] == []  # retried after the drop
    assert [r.path for r in server.requests] == ["/_search"] * 4


async def test_fault_delay(server: ElasticsearchStandIn, node_class: str) -> None:
    server.faults.add(path="^/$", delay=30)
    async with client(server, node_class, request_timeout=0.2, max_retries=0) as es:
        with pytest.raises(ConnectionTimeout):
            await es.info()
    # The client gave up after 0.2 s, perhaps before the stand-in took the request and with it
    # the 30 s fault (a busy machine): that fault must not delay the next request.
    server.faults.clear()
    server.faults.add(path="^/$", delay=0.05)
    async with client(server, node_class) as es:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await es.info()
        assert loop.time() - started >= 0.05


async def test_fault_malformed(es: AsyncElasticsearch, server: ElasticsearchStandIn) -> None:
    server.faults.add(malformed=True)
    with pytest.raises(SerializationError):
        await es.info()
    assert (await es.info())["tagline"] == "You Know, for Search"


async def test_reset(es: AsyncElasticsearch, server: ElasticsearchStandIn) -> None:
    await seed(es)
    server.faults.add(status=500)
    server.reset()
    assert server.requests == []
    assert not await es.indices.exists(index="books")  # no fault: a 404, not a 500


# --------------------------------------------------------------------------- server variants


async def test_missing_product_header(node_class: str) -> None:
    async with running(product_header=False) as standin, client(standin, node_class) as es:
        with pytest.raises(UnsupportedProductError):
            await es.info()


async def test_cloud_headers(node_class: str) -> None:
    async with running(cloud_headers=True, version="8.17.4") as standin:
        async with client(standin, node_class) as es:
            resp = await es.info()
    assert resp.meta.headers["X-Found-Handling-Cluster"] == standin.cloud_cluster
    assert resp.meta.headers["X-Found-Handling-Instance"] == standin.cloud_instance
    assert resp["version"]["number"] == "8.17.4"


def test_in_thread_with_sync_client() -> None:
    with InThread(ElasticsearchStandIn()) as standin:
        es = Elasticsearch(standin.url)
        try:
            assert es.ping()
            es.index(index="sync", id="1", document={"hello": "thread"}, refresh=True)
            assert es.get(index="sync", id="1")["_source"] == {"hello": "thread"}
        finally:
            es.close()
        assert [r.method for r in standin.requests][:2] == ["HEAD", "PUT"]
