"""The Elasticsearch stand-in, driven by the real client, helpers and DSL over real sockets."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict, List, Type

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

try:
    from elasticsearch import dsl
except ImportError:  # elasticsearch < 8.18 ships no DSL
    dsl = None  # type: ignore[assignment]

CLIENT_MAJOR = int(__versionstr__.split(".")[0])
NODE_CLASSES = ["aiohttp", "httpxasync"]
needs_dsl = pytest.mark.skipif(dsl is None, reason="elasticsearch.dsl needs elasticsearch>=8.18")


# --------------------------------------------------------------------------- fixtures


@pytest_asyncio.fixture
async def server() -> AsyncIterator[ElasticsearchStandIn]:
    async with ElasticsearchStandIn() as standin:
        yield standin


@pytest.fixture(params=NODE_CLASSES)
def node_class(request: pytest.FixtureRequest) -> str:
    return str(request.param)


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
        {"title": "The Quick Brown Fox", "genre": "fable", "pages": 120, "year": 1999},
        {"title": "Slow Green Turtle", "genre": "fable", "pages": 80, "year": 2005},
        {"title": "Database Internals", "genre": "tech", "pages": 370, "year": 2019},
        {"title": "Quick Search Recipes", "genre": "tech", "pages": 210, "year": 2021},
    ]
    for number, doc in enumerate(docs, 1):
        await es.index(index=index, id=str(number), document=doc)


# --------------------------------------------------------------------------- protocol basics


async def test_info_ping_and_protocol_headers(
    es: AsyncElasticsearch, server: ElasticsearchStandIn
) -> None:
    info = await es.info()
    assert info["version"]["number"] == server.version
    assert info["tagline"] == "You Know, for Search"
    assert info.meta.headers["x-elastic-product"] == "Elasticsearch"
    assert info.meta.headers["content-type"] == (
        f"application/vnd.elasticsearch+json;compatible-with={CLIENT_MAJOR}"
    )
    assert await es.ping() is True

    first = server.requests[0]
    assert (first.method, first.path) == ("GET", "/")
    assert f"compatible-with={CLIENT_MAJOR}" in first.headers["Accept"]
    assert "x-elastic-client-meta" in {k.lower() for k in first.headers}
    assert server.requests[-1].method == "HEAD"


async def test_unknown_endpoint_and_wrong_method(es: AsyncElasticsearch) -> None:
    with pytest.raises(NotFoundError) as unknown:
        await es.perform_request("GET", "/books/_no_such_api")
    assert unknown.value.body["error"]["type"] == "resource_not_found_exception"
    with pytest.raises(ApiError) as wrong:
        await es.perform_request("DELETE", "/_count")
    assert wrong.value.meta.status == 405


async def test_opaque_id_is_echoed(es: AsyncElasticsearch) -> None:
    resp = await es.options(opaque_id="trace-me").info()
    assert resp.meta.headers["x-opaque-id"] == "trace-me"


async def test_gzip_request_bodies(server: ElasticsearchStandIn, node_class: str) -> None:
    async with client(server, node_class, http_compress=True) as es:
        await es.index(index="zipped", id="1", document={"title": "squeezed"})
        resp = await es.search(index="zipped", query={"match": {"title": "squeezed"}})
    assert resp["hits"]["total"]["value"] == 1
    assert server.requests[-1].headers.get("Content-Encoding") == "gzip"


# --------------------------------------------------------------------------- documents


async def test_document_lifecycle(es: AsyncElasticsearch) -> None:
    created = await es.index(index="books", id="1", document={"title": "Dune", "pages": 412})
    assert created["result"] == "created"
    assert created.meta.status == 201
    assert (created["_version"], created["_seq_no"], created["_primary_term"]) == (1, 0, 1)

    got = await es.get(index="books", id="1")
    assert got["found"] is True
    assert got["_source"] == {"title": "Dune", "pages": 412}
    assert await es.exists(index="books", id="1")
    assert await es.get_source(index="books", id="1") == {"title": "Dune", "pages": 412}
    only_title = await es.get(index="books", id="1", source_includes=["title"])
    assert only_title["_source"] == {"title": "Dune"}

    updated = await es.update(index="books", id="1", doc={"pages": 500})
    assert updated["result"] == "updated"
    assert updated["_version"] == 2
    noop = await es.update(index="books", id="1", doc={"pages": 500})
    assert noop["result"] == "noop"
    scripted = await es.update(
        index="books",
        id="1",
        script={"source": "ctx._source.pages += params.n", "params": {"n": 1}},
    )
    assert scripted["_version"] == 3
    assert (await es.get(index="books", id="1"))["_source"]["pages"] == 501

    generated = await es.index(index="books", document={"title": "Emma"})
    assert len(generated["_id"]) == 20
    with pytest.raises(ConflictError):
        await es.create(index="books", id="1", document={"title": "again"})
    with pytest.raises(ConflictError):
        await es.index(
            index="books", id="1", document={"title": "x"}, if_seq_no=0, if_primary_term=1
        )
    with pytest.raises(NotFoundError) as missing_doc:
        await es.update(index="books", id="nope", doc={"a": 1})
    assert missing_doc.value.error == "document_missing_exception"
    upserted = await es.update(index="books", id="nope", doc={"a": 1}, doc_as_upsert=True)
    assert upserted["result"] == "created"

    deleted = await es.delete(index="books", id="1")
    assert deleted["result"] == "deleted"
    assert not await es.exists(index="books", id="1")
    with pytest.raises(NotFoundError) as missing:
        await es.get(index="books", id="1")
    assert missing.value.body == {"_index": "books", "_id": "1", "found": False}
    with pytest.raises(NotFoundError) as missing_delete:
        await es.delete(index="books", id="1")
    assert missing_delete.value.body["result"] == "not_found"
    with pytest.raises(NotFoundError) as no_index:
        await es.get(index="nowhere", id="1")
    assert no_index.value.error == "index_not_found_exception"


async def test_mget(es: AsyncElasticsearch) -> None:
    await seed(es)
    resp = await es.mget(index="books", ids=["1", "404"])
    assert [d["found"] for d in resp["docs"]] == [True, False]
    resp = await es.mget(docs=[{"_index": "books", "_id": "2"}, {"_index": "gone", "_id": "1"}])
    assert resp["docs"][0]["_source"]["title"] == "Slow Green Turtle"
    assert resp["docs"][1]["error"]["type"] == "index_not_found_exception"


# --------------------------------------------------------------------------- search


async def test_search_count_and_msearch(es: AsyncElasticsearch) -> None:
    await seed(es)
    everything = await es.search(index="books", query={"match_all": {}})
    assert everything["hits"]["total"] == {"value": 4, "relation": "eq"}
    assert [h["_id"] for h in everything["hits"]["hits"]] == ["1", "2", "3", "4"]
    assert everything["_shards"]["failed"] == 0

    quick = await es.search(index="books", query={"match": {"title": "quick"}})
    assert {h["_id"] for h in quick["hits"]["hits"]} == {"1", "4"}
    tech = await es.search(index="books", query={"term": {"genre": "tech"}})
    assert {h["_id"] for h in tech["hits"]["hits"]} == {"3", "4"}
    combined = await es.search(
        index="books",
        query={
            "bool": {
                "filter": [{"range": {"pages": {"gte": 100}}}],
                "must_not": [{"term": {"genre.keyword": "tech"}}],
            }
        },
    )
    assert [h["_id"] for h in combined["hits"]["hits"]] == ["1"]

    page = await es.search(index="books", sort=[{"pages": "desc"}], size=2, from_=1)
    assert [h["_id"] for h in page["hits"]["hits"]] == ["4", "1"]
    assert page["hits"]["hits"][0]["sort"] == [210]
    assert page["hits"]["total"]["value"] == 4

    aggs = await es.search(index="books", size=0, aggs={"genres": {"terms": {"field": "genre"}}})
    buckets = aggs["aggregations"]["genres"]["buckets"]
    assert {b["key"]: b["doc_count"] for b in buckets} == {"fable": 2, "tech": 2}

    no_index = await es.search(query={"match_all": {}})
    assert no_index["hits"]["total"]["value"] == 4
    get_search = await es.perform_request("GET", "/books/_search")
    assert get_search["hits"]["total"]["value"] == 4

    assert (await es.count(index="books"))["count"] == 4
    assert (await es.count(index="books", query={"term": {"genre": "fable"}}))["count"] == 2

    multi = await es.msearch(
        searches=[
            {"index": "books"},
            {"query": {"match": {"title": "turtle"}}},
            {"index": "missing"},
            {"query": {"match_all": {}}},
            {},
            {"query": {"match_all": {}}, "size": 1},
        ]
    )
    responses = multi["responses"]
    assert [r["status"] for r in responses] == [200, 404, 200]
    assert responses[0]["hits"]["hits"][0]["_id"] == "2"
    assert responses[1]["error"]["type"] == "index_not_found_exception"
    assert len(responses[2]["hits"]["hits"]) == 1

    with pytest.raises(NotFoundError):
        await es.search(index="missing")
    assert (await es.search(index="missing", ignore_unavailable=True))["hits"]["hits"] == []


async def test_scroll_and_clear_scroll(
    es: AsyncElasticsearch, server: ElasticsearchStandIn
) -> None:
    await seed(es)
    first = await es.search(index="books", scroll="1m", size=3)
    scroll_id = first["_scroll_id"]
    second = await es.scroll(scroll_id=scroll_id, scroll="1m")
    assert len(first["hits"]["hits"]) + len(second["hits"]["hits"]) == 4
    assert (await es.scroll(scroll_id=scroll_id, scroll="1m"))["hits"]["hits"] == []
    cleared = await es.clear_scroll(scroll_id=scroll_id)
    assert cleared["num_freed"] == 1
    with pytest.raises(NotFoundError):
        await es.scroll(scroll_id=scroll_id, scroll="1m")
    assert ("DELETE", "/_search/scroll") in [(r.method, r.path) for r in server.requests]


async def test_other_search_apis(es: AsyncElasticsearch) -> None:
    await seed(es)
    rendered = await es.search_template(
        index="books",
        source={"query": {"term": {"genre": "{{genre}}"}}},
        params={"genre": "tech"},
    )
    assert rendered["hits"]["total"]["value"] == 2
    multi_template = await es.msearch_template(
        index="books",
        search_templates=[
            {},
            {"source": {"query": {"match": {"title": "{{q}}"}}}, "params": {"q": "fox"}},
        ],
    )
    assert multi_template["responses"][0]["hits"]["hits"][0]["_id"] == "1"

    terms = await es.terms_enum(index="books", field="genre", string="fa")
    assert terms["terms"] == ["fable"]

    submitted = await es.async_search.submit(
        index="books", query={"match_all": {}}, keep_on_completion=True
    )
    assert submitted["is_running"] is False
    assert submitted["response"]["hits"]["total"]["value"] == 4
    fetched = await es.async_search.get(id=submitted["id"])
    assert fetched["response"]["hits"]["total"]["value"] == 4
    await es.async_search.delete(id=submitted["id"])

    eql = await es.eql.search(index="books", query='any where genre == "fable"')
    assert len(eql["hits"]["events"]) == 2

    esql = await es.esql.query(query="FROM books | KEEP title, pages | LIMIT 2")
    assert [c["name"] for c in esql["columns"]] == ["pages", "title"]
    assert len(esql["values"]) == 2

    pit = await es.open_point_in_time(index="books", keep_alive="1m")
    await es.index(index="books", id="5", document={"title": "Late Arrival"})
    in_pit = await es.search(pit={"id": pit["id"], "keep_alive": "1m"}, size=10)
    assert in_pit["hits"]["total"]["value"] == 4
    after = await es.search(
        pit={"id": pit["id"], "keep_alive": "1m"},
        sort=["_shard_doc"],
        search_after=in_pit["hits"]["hits"][1]["sort"],
    )
    assert [h["_id"] for h in after["hits"]["hits"]] == ["3", "4"]
    closed = await es.close_point_in_time(id=pit["id"])
    assert closed["succeeded"] is True

    deleted = await es.delete_by_query(index="books", query={"term": {"genre": "fable"}})
    assert deleted["deleted"] == 2
    updated = await es.update_by_query(
        index="books",
        query={"match_all": {}},
        script={"source": "ctx._source.pages = params.p", "params": {"p": 1}},
    )
    assert updated["updated"] == 3
    assert {h["_source"]["pages"] for h in (await es.search(index="books"))["hits"]["hits"]} == {1}


# --------------------------------------------------------------------------- indices and cluster


async def test_indices_apis(es: AsyncElasticsearch) -> None:
    created = await es.indices.create(
        index="library",
        settings={"number_of_shards": 2, "number_of_replicas": 0},
        mappings={"properties": {"title": {"type": "text"}}},
    )
    assert created == {"acknowledged": True, "shards_acknowledged": True, "index": "library"}
    assert await es.indices.exists(index="library")
    assert not await es.indices.exists(index="elsewhere")

    with pytest.raises(BadRequestError) as duplicate:
        await es.indices.create(index="library")
    assert duplicate.value.error == "resource_already_exists_exception"
    with pytest.raises(BadRequestError) as bad_name:
        await es.indices.create(index="Library")
    assert bad_name.value.error == "invalid_index_name_exception"

    described = await es.indices.get(index="library")
    assert described["library"]["settings"]["index"]["number_of_shards"] == "2"

    await es.indices.put_mapping(index="library", properties={"year": {"type": "integer"}})
    mapping = await es.indices.get_mapping(index="library")
    assert set(mapping["library"]["mappings"]["properties"]) == {"title", "year"}
    with pytest.raises(BadRequestError):
        await es.indices.put_mapping(index="library", properties={"year": {"type": "keyword"}})

    await es.indices.put_settings(index="library", settings={"index": {"refresh_interval": "5s"}})
    settings = await es.indices.get_settings(index="library")
    assert settings["library"]["settings"]["index"]["refresh_interval"] == "5s"
    with pytest.raises(BadRequestError):
        await es.indices.put_settings(index="library", settings={"number_of_shards": 3})

    refreshed = await es.indices.refresh(index="library")
    assert refreshed["_shards"]["failed"] == 0
    health = await es.cluster.health()
    assert health["status"] == "green"
    assert health["active_primary_shards"] == 2

    assert (await es.indices.delete(index="library"))["acknowledged"] is True
    assert not await es.indices.exists(index="library")
    with pytest.raises(NotFoundError):
        await es.indices.delete(index="library")


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
            {"delete": {"_index": "shelf", "_id": "2"}},
        ],
        refresh=True,
    )
    assert resp["errors"] is False
    assert [next(iter(i)) for i in resp["items"]] == ["index", "create", "update", "delete"]
    assert [next(iter(i.values()))["status"] for i in resp["items"]] == [201, 201, 200, 200]
    assert (await es.get(index="shelf", id="1"))["_source"] == {"title": "one", "read": True}


async def test_bulk_item_failures(es: AsyncElasticsearch) -> None:
    resp = await es.bulk(
        index="shelf",
        operations=[
            {"index": {"_id": "ok"}},
            {"title": "fine"},
            {"index": {"_id": "bad"}},
            {"title": "broken", "_fail": "mapper_parsing_exception"},
            {"create": {"_id": "ok"}},
            {"title": "duplicate"},
        ],
    )
    assert resp["errors"] is True
    fine, broken, duplicate = (i[next(iter(i))] for i in resp["items"])
    assert fine["status"] == 201
    assert broken["status"] == 400
    assert broken["error"]["type"] == "mapper_parsing_exception"
    assert duplicate["status"] == 409
    assert duplicate["error"]["type"] == "version_conflict_engine_exception"
    assert not await es.exists(index="shelf", id="bad")


async def test_async_bulk(es: AsyncElasticsearch, server: ElasticsearchStandIn) -> None:
    success, errors = await async_bulk(
        es, ({"_index": "logs", "_id": str(n), "n": n} for n in range(120)), chunk_size=50
    )
    assert (success, errors) == (120, [])
    assert sum(1 for r in server.requests if r.path == "/_bulk") == 3
    assert (
        server.requests[-1]
        .headers["Content-Type"]
        .startswith("application/vnd.elasticsearch+x-ndjson")
    )
    assert (await es.count(index="logs"))["count"] == 120

    actions = [
        {"_index": "logs", "n": 1},
        {"_index": "logs", "n": 2, "_fail": "illegal_argument_exception"},
    ]
    with pytest.raises(BulkIndexError) as failed:
        await async_bulk(es, actions)
    assert failed.value.errors[0]["index"]["error"]["type"] == "illegal_argument_exception"
    success, errors = await async_bulk(es, actions, raise_on_error=False)
    assert success == 1
    assert len(errors) == 1  # type: ignore[arg-type]


async def test_async_streaming_bulk(es: AsyncElasticsearch) -> None:
    async def actions() -> AsyncIterator[Dict[str, Any]]:
        for n in range(5):
            doc: Dict[str, Any] = {"_index": "stream", "_id": str(n), "n": n}
            if n == 3:
                doc["_fail"] = "document_parsing_exception"
            yield doc

    results = [
        (ok, item)
        async for ok, item in async_streaming_bulk(
            es, actions(), chunk_size=2, raise_on_error=False
        )
    ]
    assert [ok for ok, _ in results] == [True, True, True, False, True]
    assert results[3][1]["index"]["error"]["type"] == "document_parsing_exception"


async def test_async_scan(es: AsyncElasticsearch, server: ElasticsearchStandIn) -> None:
    await async_bulk(es, ({"_index": "scan", "n": n} for n in range(25)))
    hits = [hit async for hit in async_scan(es, index="scan", size=10)]
    assert sorted(h["_source"]["n"] for h in hits) == list(range(25))
    paths = [(r.method, r.path) for r in server.requests]
    assert paths.count(("POST", "/_search/scroll")) == 3
    assert paths[-1] == ("DELETE", "/_search/scroll")

    filtered = [h async for h in async_scan(es, index="scan", query={"query": {"term": {"n": 7}}})]
    assert [h["_source"]["n"] for h in filtered] == [7]


async def test_async_reindex(es: AsyncElasticsearch) -> None:
    await seed(es, "source")
    success, failed = await async_reindex(es, "source", "target")
    assert (success, failed) == (4, 0)
    assert (await es.count(index="target"))["count"] == 4
    assert (await es.get(index="target", id="3"))["_source"]["title"] == "Database Internals"


# --------------------------------------------------------------------------- DSL


@pytest_asyncio.fixture
async def dsl_alias(es: AsyncElasticsearch) -> AsyncIterator[str]:
    assert dsl is not None
    alias = f"standin-{uuid.uuid4().hex}"
    dsl.async_connections.add_connection(alias, es)
    try:
        yield alias
    finally:
        dsl.async_connections.remove_connection(alias)


@needs_dsl
async def test_dsl_document(es: AsyncElasticsearch, dsl_alias: str) -> None:
    class Article(dsl.AsyncDocument):
        title = dsl.Text()
        category = dsl.Keyword()
        views = dsl.Integer()

        class Index:
            name = "articles"

    await Article.init(using=dsl_alias)
    mapping = await es.indices.get_mapping(index="articles")
    assert mapping["articles"]["mappings"]["properties"]["category"] == {"type": "keyword"}
    await Article.init(using=dsl_alias)  # an existing index is synced, not recreated

    first = Article(meta={"id": "a1"}, title="Hello stand-in", category="news", views=1)
    assert await first.save(using=dsl_alias) == "created"
    first.views = 2
    assert await first.save(using=dsl_alias) == "updated"  # uses if_seq_no/if_primary_term
    second = Article(title="Another story", category="blog", views=5)
    await second.save(using=dsl_alias)
    assert second.meta.id

    loaded = await Article.get(id="a1", using=dsl_alias)
    assert loaded is not None
    assert (loaded.title, loaded.views, loaded.meta.version) == ("Hello stand-in", 2, 2)
    await loaded.update(using=dsl_alias, views=10)
    assert (await Article.get(id="a1", using=dsl_alias)).views == 10  # type: ignore[union-attr]
    assert await Article.exists(id="a1", using=dsl_alias)
    both = await Article.mget(["a1", "zz"], using=dsl_alias)
    assert both[0] is not None and both[1] is None

    search = Article.search(using=dsl_alias).query("match", title="hello")
    response = await search.execute()
    assert [hit.meta.id for hit in response] == ["a1"]
    assert isinstance(response[0], Article)
    assert await Article.search(using=dsl_alias).count() == 2
    iterated = [a.meta.id async for a in Article.search(using=dsl_alias).iterate()]
    assert sorted(iterated) == sorted(["a1", second.meta.id])
    scanned = [a.title async for a in Article.search(using=dsl_alias).scan()]
    assert sorted(scanned) == ["Another story", "Hello stand-in"]

    await loaded.delete(using=dsl_alias)
    with pytest.raises(NotFoundError):
        await Article.get(id="a1", using=dsl_alias)


@needs_dsl
async def test_dsl_search_multisearch_and_update_by_query(
    es: AsyncElasticsearch, dsl_alias: str
) -> None:
    await seed(es)
    search = (
        dsl.AsyncSearch(using=dsl_alias, index="books")
        .filter("term", genre="tech")
        .sort("-pages")
        .extra(size=5)
    )
    search.aggs.bucket("genres", "terms", field="genre").metric("pages", "avg", field="pages")
    response = await search.execute()
    assert response.success()
    assert [hit.title for hit in response] == ["Database Internals", "Quick Search Recipes"]
    assert response.hits.total.value == 2
    assert response.aggregations.genres.buckets[0].pages.value == 290.0

    multi = (
        dsl.AsyncMultiSearch(using=dsl_alias, index="books")
        .add(dsl.AsyncSearch().query("match", title="turtle"))
        .add(dsl.AsyncSearch().query("match_all"))
    )
    turtle, everything = await multi.execute()
    assert [h.meta.id for h in turtle] == ["2"]
    assert everything.hits.total.value == 4

    ubq = (
        dsl.AsyncUpdateByQuery(using=dsl_alias, index="books")
        .query("term", genre="fable")
        .script(source="ctx._source.pages += params.extra", params={"extra": 5})
    )
    result = await ubq.execute()
    assert result.success()
    assert result.updated == 2
    assert (await es.get(index="books", id="2"))["_source"]["pages"] == 85

    deleted = (
        await dsl.AsyncSearch(using=dsl_alias, index="books").query("term", genre="fable").delete()
    )
    assert deleted.deleted == 2


@needs_dsl
async def test_dsl_index(es: AsyncElasticsearch, dsl_alias: str) -> None:
    index = dsl.AsyncIndex("catalog", using=dsl_alias)
    index.settings(number_of_shards=1, number_of_replicas=0)

    @index.document
    class Item(dsl.AsyncDocument):
        name = dsl.Text()

    assert not await index.exists()
    await index.create()
    assert await index.exists()
    settings = await index.get_settings()
    assert settings["catalog"]["settings"]["index"]["number_of_replicas"] == "0"

    index.settings(number_of_replicas=1)
    await index.save()  # existing index: put_settings for the change, then put_mapping
    settings = await index.get_settings()
    assert settings["catalog"]["settings"]["index"]["number_of_replicas"] == "1"
    assert "name" in (await index.get_mapping())["catalog"]["mappings"]["properties"]

    await Item(name="lamp").save(using=dsl_alias, index="catalog")
    await index.refresh()
    assert await Item.search(using=dsl_alias, index="catalog").count() == 1
    await index.delete()
    assert not await index.exists()


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(("status", "error"), [(404, NotFoundError), (500, ApiError)])
async def test_fault_status(
    es: AsyncElasticsearch, server: ElasticsearchStandIn, status: int, error: Type[ApiError]
) -> None:
    server.faults.add(path=r"^/books/_search$", status=status)
    with pytest.raises(error) as raised:
        await es.search(index="books")
    assert raised.value.meta.status == status
    assert raised.value.body["status"] == status
    assert raised.value.body["error"]["type"]
    assert raised.value.meta.headers["x-elastic-product"] == "Elasticsearch"
    await es.indices.create(index="books")
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
    assert server.faults.pending == 0


async def test_fault_429_then_retry_succeeds(
    es: AsyncElasticsearch, server: ElasticsearchStandIn
) -> None:
    server.faults.add(path="^/$", status=429)
    info = await es.info()
    assert info["version"]["number"] == server.version
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
            await es.search(index="_all")
        assert (await es.search(index="_all"))["hits"]["hits"] == []  # the next one is fine
    server.faults.add(path="/_search$", drop=True)
    async with client(server, node_class, max_retries=1) as es:
        assert (await es.search(index="_all"))["hits"]["hits"] == []  # retried after the drop
    assert [r.path for r in server.requests] == ["/_all/_search"] * 4


async def test_fault_delay(server: ElasticsearchStandIn, node_class: str) -> None:
    server.faults.add(path="^/$", delay=30)
    async with client(server, node_class, request_timeout=0.2, max_retries=0) as es:
        with pytest.raises(ConnectionTimeout):
            await es.info()
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
    server.faults.add(status=500, path="never-matches")
    server.reset()
    assert server.requests == []
    assert server.faults.pending == 0
    assert not await es.indices.exists(index="books")


# --------------------------------------------------------------------------- server variants


async def test_missing_product_header(node_class: str) -> None:
    async with ElasticsearchStandIn(product_header=False) as standin:
        async with client(standin, node_class) as es:
            with pytest.raises(UnsupportedProductError):
                await es.info()
        assert "X-Elastic-Product" not in standin.requests[0].headers


async def test_cloud_headers(node_class: str) -> None:
    async with ElasticsearchStandIn(cloud_headers=True, version="8.17.4") as standin:
        async with client(standin, node_class) as es:
            resp = await es.info()
            search = await es.search(index="_all")
    for meta in (resp.meta, search.meta):
        assert meta.headers["X-Found-Handling-Cluster"] == standin.cloud_cluster
        assert meta.headers["X-Found-Handling-Instance"] == standin.cloud_instance
    assert resp["version"]["number"] == "8.17.4"


def test_in_thread_with_sync_client() -> None:
    with InThread(ElasticsearchStandIn()) as standin:
        es = Elasticsearch(standin.url)
        try:
            assert es.ping()
            es.index(index="sync", id="1", document={"hello": "thread"}, refresh=True)
            assert es.get(index="sync", id="1")["_source"] == {"hello": "thread"}
            hits: List[Any] = es.search(index="sync", query={"match": {"hello": "thread"}})["hits"][
                "hits"
            ]
            assert [h["_id"] for h in hits] == ["1"]
        finally:
            es.close()
        assert [r.method for r in standin.requests][:2] == ["HEAD", "PUT"]
