"""The Weaviate stand-in driven by the real ``WeaviateAsyncClient`` (REST over httpx, gRPC)."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from typing import Any, AsyncIterator

import grpc
import pytest
import weaviate
import weaviate.backup.executor as backup_executor
import weaviate.classes as wvc
import weaviate.retry
from weaviate.backup.backup import BackupStatus, BackupStorage
from weaviate.classes.init import AdditionalConfig, Timeout
from weaviate.classes.tenants import Tenant, TenantActivityStatus
from weaviate.exceptions import (
    InsufficientPermissionsError,
    UnexpectedStatusCodeError,
    WeaviateBatchError,
    WeaviateDeleteManyError,
    WeaviateInsertManyAllFailedError,
    WeaviateQueryError,
    WeaviateRetryError,
    WeaviateTenantGetError,
    WeaviateTimeoutError,
)
from weaviate.proto.v1 import health_weaviate_pb2

from tests.servers.threaded import InThread
from tests.servers.weaviate_rest import WeaviateStandIn, connect_async_client

ARTICLE_PROPS = [
    wvc.config.Property(name="title", data_type=wvc.config.DataType.TEXT),
    wvc.config.Property(name="count", data_type=wvc.config.DataType.INT),
    wvc.config.Property(name="score", data_type=wvc.config.DataType.NUMBER),
    wvc.config.Property(name="published", data_type=wvc.config.DataType.DATE),
    wvc.config.Property(name="tags", data_type=wvc.config.DataType.TEXT_ARRAY),
    wvc.config.Property(name="ok", data_type=wvc.config.DataType.BOOL),
]


@pytest.fixture
async def server() -> AsyncIterator[WeaviateStandIn]:
    async with WeaviateStandIn() as stand_in:
        yield stand_in


@pytest.fixture
async def client(server: WeaviateStandIn) -> AsyncIterator[weaviate.WeaviateAsyncClient]:
    c = await connect_async_client(server)
    try:
        yield c
    finally:
        await c.close()


class _FastAsyncio:
    """Stands in for the ``asyncio`` module inside client modules: records sleeps, skips them."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, delay: float, result: Any = None) -> Any:
        self.sleeps.append(delay)
        await asyncio.sleep(0)
        return result


@pytest.fixture
def client_sleeps(monkeypatch: pytest.MonkeyPatch) -> _FastAsyncio:
    """The client's gRPC retry backoff (1, 2, 4... s) and backup polling (1 s), recorded not slept."""
    fake = _FastAsyncio()
    monkeypatch.setattr(weaviate.retry, "asyncio", fake)
    monkeypatch.setattr(backup_executor, "asyncio", fake)
    return fake


async def _articles(client: weaviate.WeaviateAsyncClient) -> Any:
    return await client.collections.create("Article", properties=ARTICLE_PROPS)


# --------------------------------------------------------------------------------------------
# connect / misc
# --------------------------------------------------------------------------------------------


async def test_connect_only_reads_meta(server: WeaviateStandIn) -> None:
    client = await connect_async_client(server)
    async with client:
        assert client.is_connected()
        assert server.rest_paths() == ["GET /v1/meta"]
        assert server.grpc_requests == []
        meta = await client.get_meta()
        assert meta["version"] == server.version
        assert await client.is_ready()
        assert await client.is_live()  # GET /.well-known/live + gRPC Health/Check
    assert server.rest_paths()[-2:] == ["GET /v1/.well-known/ready", "GET /v1/.well-known/live"]
    assert server.grpc_methods() == ["Check"]
    assert server.url == f"http://127.0.0.1:{server.http_port}"
    assert server.rest_requests[0].headers["x-weaviate-client"].startswith("weaviate-client-python")


async def test_health_check_raw(server: WeaviateStandIn) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_weaviate_pb2.WeaviateHealthCheckRequest.SerializeToString,
            response_deserializer=health_weaviate_pb2.WeaviateHealthCheckResponse.FromString,
        )
        reply = await check(health_weaviate_pb2.WeaviateHealthCheckRequest())
        assert reply.status == health_weaviate_pb2.WeaviateHealthCheckResponse.SERVING
        server.faults.grpc("Check", grpc.StatusCode.UNAVAILABLE)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await check(health_weaviate_pb2.WeaviateHealthCheckRequest())
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_is_live_false_when_grpc_health_fails(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    server.faults.grpc("Check", grpc.StatusCode.UNAVAILABLE)
    assert await client.is_live() is False


async def test_headers_reach_rest_and_grpc_metadata(server: WeaviateStandIn) -> None:
    client = await connect_async_client(server, headers={"X-Custom-Key": "secret"})
    async with client:
        articles = await _articles(client)
        await articles.query.fetch_objects()
    rest = server.rest_requests[-1]
    assert rest.headers["x-custom-key"] == "secret"
    metadata = dict(server.grpc_requests[-1].metadata)
    assert metadata["x-custom-key"] == "secret"
    assert metadata["x-weaviate-client"].startswith("weaviate-client-python")


async def test_nodes_graphql_and_reset(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    articles = await _articles(client)
    await articles.data.insert({"title": "a"})
    nodes = await client.cluster.nodes(output="verbose")
    assert nodes[0].status == "HEALTHY"
    assert nodes[0].stats.object_count == 1
    with pytest.warns(DeprecationWarning):
        raw = await client.graphql_raw_query("{ Aggregate { Article { meta { count } } } }")
    assert raw.aggregate == {"Article": [{"meta": {"count": 1}}]}
    server.reset()
    assert server.rest_requests == [] and server.grpc_requests == []
    assert await client.collections.exists("Article") is False


# --------------------------------------------------------------------------------------------
# collections
# --------------------------------------------------------------------------------------------


async def test_collections_lifecycle(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    created = await client.collections.create("article", properties=ARTICLE_PROPS)
    assert created.name == "Article"
    assert server.rest_requests[-1].method == "POST"
    assert server.rest_requests[-1].path == "/v1/schema"
    assert server.rest_requests[-1].json()["class"] == "Article"

    assert await client.collections.exists("Article") is True
    assert await client.collections.exists("Missing") is False

    same = client.collections.get("Article")  # no request
    config = await same.config.get()
    assert [p.name for p in config.properties] == [p.name for p in ARTICLE_PROPS]
    assert config.properties[1].data_type == wvc.config.DataType.INT
    assert config.multi_tenancy_config.enabled is False

    await same.config.add_property(
        wvc.config.Property(name="extra", data_type=wvc.config.DataType.TEXT)
    )
    await same.config.update(description="updated")
    config = await same.config.get()
    assert config.description == "updated"
    assert "extra" in [p.name for p in config.properties]

    with pytest.raises(UnexpectedStatusCodeError) as info:
        await client.collections.create("Article")
    assert info.value.status_code == 422

    for name in ("A", "B", "C", "D"):
        await client.collections.create(name)
    assert sorted(await client.collections.list_all()) == ["A", "Article", "B", "C", "D"]
    await client.collections.delete("A")
    await client.collections.delete(["B", "C"])
    assert sorted(await client.collections.list_all()) == ["Article", "D"]
    await client.collections.delete_all()
    assert await client.collections.list_all() == {}
    deletes = [p for p in server.rest_paths() if p.startswith("DELETE /v1/schema/")]
    assert sorted(deletes) == sorted(
        f"DELETE /v1/schema/{n}" for n in ("A", "B", "C", "Article", "D")
    )


async def test_multi_tenant_collection_and_tenants(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    coll = await client.collections.create(
        "Docs",
        multi_tenancy_config=wvc.config.Configure.multi_tenancy(enabled=True),
        properties=[wvc.config.Property(name="body", data_type=wvc.config.DataType.TEXT)],
    )
    assert (await coll.config.get()).multi_tenancy_config.enabled is True

    await coll.tenants.create([Tenant(name="alpha"), "beta", "gamma"])
    tenants = await coll.tenants.get()  # gRPC TenantsGet
    assert sorted(tenants) == ["alpha", "beta", "gamma"]
    assert server.grpc_methods()[-1] == "TenantsGet"
    assert all(t.activity_status == TenantActivityStatus.ACTIVE for t in tenants.values())

    await coll.tenants.update(Tenant(name="beta", activity_status=TenantActivityStatus.INACTIVE))
    beta = await coll.tenants.get_by_name("beta")  # REST GET /schema/Docs/tenants/beta
    assert beta is not None and beta.activity_status == TenantActivityStatus.INACTIVE
    assert await coll.tenants.exists("alpha") is True
    assert await coll.tenants.exists("nope") is False
    assert await coll.tenants.get_by_name("nope") is None

    await coll.tenants.remove(["gamma"])
    assert sorted(await coll.tenants.get()) == ["alpha", "beta"]

    alpha = coll.with_tenant("alpha")
    uid = await alpha.data.insert({"body": "in alpha"})
    assert server.rest_requests[-1].json()["tenant"] == "alpha"
    await alpha.data.insert_many([{"body": "more alpha"}])
    assert server.grpc_requests[-1].request.objects[0].tenant == "alpha"
    assert len((await alpha.query.fetch_objects()).objects) == 2
    assert server.grpc_requests[-1].request.tenant == "alpha"
    assert await alpha.query.fetch_object_by_id(uid) is not None

    with pytest.raises(WeaviateQueryError, match="without tenant"):
        await coll.query.fetch_objects()
    with pytest.raises(WeaviateQueryError, match="not active"):
        await coll.with_tenant("beta").query.fetch_objects()
    with pytest.raises(UnexpectedStatusCodeError):
        await coll.with_tenant("missing").data.insert({"body": "x"})
    with pytest.raises(WeaviateTenantGetError):
        plain = await client.collections.create("Plain")
        await plain.tenants.get()


async def test_with_consistency_level(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    articles = (await _articles(client)).with_consistency_level(wvc.config.ConsistencyLevel.ONE)
    uid = await articles.data.insert({"title": "x"})
    assert server.rest_requests[-1].query == {"consistency_level": "ONE"}
    await articles.query.fetch_objects()
    from weaviate.proto.v1 import base_pb2

    assert server.grpc_requests[-1].request.consistency_level == base_pb2.CONSISTENCY_LEVEL_ONE
    assert await articles.data.exists(uid)


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


async def test_insert_and_fetch_round_trip(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    articles = await _articles(client)
    when = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc)
    uid = await articles.data.insert(
        {
            "title": "Hello world",
            "count": 3,
            "score": 0.5,
            "published": when,
            "tags": ["a", "b"],
            "ok": True,
        },
        vector=[0.1, 0.2, 0.3],
    )
    post = server.rest_requests[-1]
    assert (post.method, post.path) == ("POST", "/v1/objects")
    assert post.json()["id"] == str(uid)

    obj = await articles.query.fetch_object_by_id(uid, include_vector=True)
    assert obj is not None
    assert obj.uuid == uid
    assert obj.collection == "Article"
    assert obj.properties == {
        "title": "Hello world",
        "count": 3,
        "score": 0.5,
        "published": when,
        "tags": ["a", "b"],
        "ok": True,
    }
    assert obj.vector["default"] == pytest.approx([0.1, 0.2, 0.3])
    assert server.grpc_methods()[-1] == "Search"
    assert await articles.query.fetch_object_by_id(uuid.uuid4()) is None

    res = await articles.data.insert_many(
        [
            {"title": "second", "count": 7},
            wvc.data.DataObject(properties={"title": "third", "count": 9}, vector=[1.0, 0.0, 0.0]),
        ]
    )
    assert res.has_errors is False
    assert len(res.uuids) == 2
    assert server.grpc_methods()[-1] == "BatchObjects"
    assert len(server.grpc_requests[-1].request.objects) == 2

    fetched = await articles.query.fetch_objects(
        return_metadata=wvc.query.MetadataQuery(creation_time=True, last_update_time=True)
    )
    assert len(fetched.objects) == 3
    assert {o.properties["title"] for o in fetched.objects} == {"Hello world", "second", "third"}
    assert all(o.metadata.creation_time is not None for o in fetched.objects)
    counts = {o.properties["title"]: o.properties["count"] for o in fetched.objects}
    assert counts == {"Hello world": 3, "second": 7, "third": 9}  # ints survive gRPC Struct

    limited = await articles.query.fetch_objects(
        limit=1,
        filters=wvc.query.Filter.by_property("count").greater_than(5),
        return_properties=["title"],
    )
    assert [o.properties for o in limited.objects] == [{"title": "second"}]

    with pytest.raises(UnexpectedStatusCodeError) as info:
        await articles.data.insert({"title": "dup"}, uuid=uid)
    assert info.value.status_code == 422


async def test_insert_many_per_object_errors(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    articles = await _articles(client)
    server.faults.batch_errors({1}, "disk full")
    res = await articles.data.insert_many([{"title": "a"}, {"title": "b"}, {"title": "c"}])
    assert res.has_errors is True
    assert list(res.errors) == [1]
    assert res.errors[1].message == "disk full"
    assert sorted(res.uuids) == [0, 2]

    # a real validation error: text property given an int
    res = await articles.data.insert_many([{"title": "ok"}, {"title": 12}])
    assert res.has_errors and list(res.errors) == [1]
    assert "invalid text property 'title'" in res.errors[1].message

    server.faults.batch_errors(2)
    with pytest.raises(WeaviateInsertManyAllFailedError, match="injected"):
        await articles.data.insert_many([{"title": "x"}, {"title": "y"}])

    total = await articles.aggregate.over_all(total_count=True)
    assert total.total_count == 3


async def test_update_replace_exists_delete(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    articles = await _articles(client)
    uid = await articles.data.insert({"title": "orig", "count": 1})

    await articles.data.update(uid, {"count": 2})
    assert (server.rest_requests[-1].method, server.rest_requests[-1].path) == (
        "PATCH",
        f"/v1/objects/Article/{uid}",
    )
    obj = await articles.query.fetch_object_by_id(uid)
    assert obj is not None and obj.properties == {"title": "orig", "count": 2}

    await articles.data.replace(uid, {"title": "replaced"})
    assert server.rest_requests[-1].method == "PUT"
    obj = await articles.query.fetch_object_by_id(uid)
    assert obj is not None and obj.properties == {"title": "replaced"}

    with pytest.raises(UnexpectedStatusCodeError) as info:
        await articles.data.replace(uuid.uuid4(), {"title": "nope"})
    assert info.value.status_code == 404

    assert await articles.data.exists(uid) is True
    assert server.rest_requests[-1].method == "HEAD"
    assert await articles.data.exists(uuid.uuid4()) is False
    server.faults.http(r"^/v1/objects/Article/", 404, method="HEAD")
    assert await articles.data.exists(uid) is False  # injected HEAD 404
    assert await articles.data.exists(uid) is True

    assert await articles.data.delete_by_id(uid) is True
    assert await articles.data.delete_by_id(uid) is False
    assert server.rest_requests[-1].method == "DELETE"

    await articles.data.insert_many([{"title": t, "count": i} for i, t in enumerate("abcde")])
    dry = await articles.data.delete_many(
        wvc.query.Filter.by_property("count").less_than(2), dry_run=True
    )
    assert (dry.matches, dry.successful) == (2, 0)
    deleted = await articles.data.delete_many(
        wvc.query.Filter.by_property("count").less_than(2), verbose=True
    )
    assert deleted.matches == 2 and deleted.successful == 2
    assert deleted.objects is not None and all(o.successful for o in deleted.objects)
    assert server.grpc_methods()[-1] == "BatchDelete"
    assert (await articles.aggregate.over_all(total_count=True)).total_count == 3


async def test_reference_add(server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient) -> None:
    authors = await client.collections.create(
        "Author", properties=[wvc.config.Property(name="name", data_type=wvc.config.DataType.TEXT)]
    )
    books = await client.collections.create(
        "Book",
        properties=[wvc.config.Property(name="title", data_type=wvc.config.DataType.TEXT)],
        references=[wvc.config.ReferenceProperty(name="writtenBy", target_collection="Author")],
    )
    author = await authors.data.insert({"name": "Ada"})
    book = await books.data.insert({"title": "Notes"})
    await books.data.reference_add(from_uuid=book, from_property="writtenBy", to=author)
    last = server.rest_requests[-1]
    assert (last.method, last.path) == ("POST", f"/v1/objects/Book/{book}/references/writtenBy")
    assert last.json() == {"beacon": f"weaviate://localhost/{author}"}  # no class in the beacon

    obj = await books.query.fetch_object_by_id(
        book,
        return_references=wvc.query.QueryReference(link_on="writtenBy", return_properties=["name"]),
    )
    assert obj is not None and obj.references is not None
    refs = obj.references["writtenBy"].objects
    assert [(r.uuid, r.properties, r.collection) for r in refs] == [
        (author, {"name": "Ada"}, "Author")
    ]

    with pytest.raises(UnexpectedStatusCodeError) as info:
        await books.data.reference_add(from_uuid=book, from_property="title", to=author)
    assert info.value.status_code == 422


# --------------------------------------------------------------------------------------------
# queries
# --------------------------------------------------------------------------------------------


async def _seeded(client: weaviate.WeaviateAsyncClient) -> Any:
    articles = await _articles(client)
    await articles.data.insert_many(
        [
            wvc.data.DataObject(
                properties={"title": "red apple pie", "count": 1}, vector=[1.0, 0.0, 0.0]
            ),
            wvc.data.DataObject(
                properties={"title": "green apple tart", "count": 2}, vector=[0.9, 0.1, 0.0]
            ),
            wvc.data.DataObject(
                properties={"title": "blue ocean", "count": 3}, vector=[0.0, 0.0, 1.0]
            ),
        ]
    )
    return articles


async def test_vector_and_keyword_queries(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    articles = await _seeded(client)
    meta = wvc.query.MetadataQuery(distance=True, score=True, certainty=True)

    res = await articles.query.near_vector([1.0, 0.0, 0.0], limit=2, return_metadata=meta)
    assert [o.properties["title"] for o in res.objects] == ["red apple pie", "green apple tart"]
    assert res.objects[0].metadata.distance == pytest.approx(0.0, abs=1e-6)
    assert server.grpc_requests[-1].request.HasField("near_vector")

    red = res.objects[0].uuid
    res = await articles.query.near_object(red, return_metadata=meta)
    assert res.objects[0].uuid == red
    assert res.objects[-1].properties["title"] == "blue ocean"
    assert server.grpc_requests[-1].request.near_object.id == str(red)

    res = await articles.query.near_text("ocean", return_metadata=meta)
    assert res.objects[0].properties["title"] == "blue ocean"
    assert list(server.grpc_requests[-1].request.near_text.query) == ["ocean"]

    res = await articles.query.bm25("apple", return_metadata=meta)
    assert {o.properties["title"] for o in res.objects} == {"red apple pie", "green apple tart"}
    assert all(o.metadata.score is not None and o.metadata.score > 0 for o in res.objects)
    assert server.grpc_requests[-1].request.bm25_search.query == "apple"

    res = await articles.query.hybrid("tart", alpha=0.0, return_metadata=meta)
    assert res.objects[0].properties["title"] == "green apple tart"
    assert len(res.objects) == 3
    assert server.grpc_requests[-1].request.hybrid_search.query == "tart"

    res = await articles.query.hybrid("anything", vector=[0.0, 0.0, 1.0], alpha=1.0)
    assert res.objects[0].properties["title"] == "blue ocean"

    grouped = await articles.query.fetch_objects(
        sort=wvc.query.Sort.by_property("count", ascending=False)
    )
    assert [o.properties["count"] for o in grouped.objects] == [3, 2, 1]


async def test_generate(server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient) -> None:
    articles = await _seeded(client)
    res = await articles.generate.hybrid(
        "apple", single_prompt="Describe {title}", grouped_task="Summarize", limit=2
    )
    assert res.generated is not None and "Summarize" in res.generated
    first = res.objects[0]
    assert first.generated == "Stand-in generated text for: Describe red apple pie"
    request = server.grpc_requests[-1].request
    assert request.HasField("generative") and request.HasField("hybrid_search")

    server.generated_text = "canned"
    res = await articles.generate.near_text("ocean", grouped_task="Summarize", limit=1)
    assert res.generated == "canned"


async def test_aggregate(server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient) -> None:
    articles = await _seeded(client)
    res = await articles.aggregate.over_all(total_count=True)
    assert res.total_count == 3
    assert server.grpc_methods()[-1] == "Aggregate"
    assert server.grpc_requests[-1].request.objects_count is True

    res = await articles.aggregate.over_all(
        filters=wvc.query.Filter.by_property("title").like("*apple*"),
        total_count=True,
        return_metrics=wvc.query.Metrics("count").integer(sum_=True, maximum=True),
    )
    assert res.total_count == 2
    count = res.properties["count"]
    assert getattr(count, "sum_", None) == 3 and getattr(count, "maximum", None) == 2


# --------------------------------------------------------------------------------------------
# batch stream and backups
# --------------------------------------------------------------------------------------------


async def test_collection_batch_uses_batch_stream(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    articles = await _articles(client)
    server.faults.batch_errors({1}, "rejected")
    async with articles.batch.stream() as batch:
        for i in range(3):
            await batch.add_object({"title": f"t{i}", "count": i})
    assert [e.message for e in articles.batch.failed_objects] == ["rejected"]
    assert articles.batch.failed_objects[0].object_.properties == {"title": "t1", "count": 1}
    assert "GET /v1/nodes" in server.rest_paths()
    stream = next(r for r in server.grpc_requests if r.method == "BatchStream")
    kinds = [m.WhichOneof("message") for m in stream.messages]
    assert kinds[0] == "start" and kinds[-1] == "stop"
    assert set(kinds[1:-1]) == {"data"}  # normally one data message: the client waits ~1 s
    assert (await articles.aggregate.over_all(total_count=True)).total_count == 2


async def test_backup_create_and_restore(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient, client_sleeps: _FastAsyncio
) -> None:
    articles = await _articles(client)
    await articles.data.insert_many([{"title": "keep me"}])
    created = await client.backup.create(
        "nightly",
        BackupStorage.FILESYSTEM,
        include_collections=["Article"],
        wait_for_completion=True,
    )
    assert created.status == BackupStatus.SUCCESS
    assert created.collections == ["Article"]
    polls = [p for p in server.rest_paths() if p == "GET /v1/backups/filesystem/nightly"]
    assert len(polls) == 2  # STARTED, then SUCCESS
    assert client_sleeps.sleeps == [1]

    with pytest.raises(UnexpectedStatusCodeError):
        await client.backup.restore(
            "nightly", BackupStorage.FILESYSTEM
        )  # Article still exists → 422

    await client.collections.delete("Article")
    restored = await client.backup.restore(
        "nightly", BackupStorage.FILESYSTEM, wait_for_completion=True
    )
    assert restored.status == BackupStatus.SUCCESS
    polls = [p for p in server.rest_paths() if p == "GET /v1/backups/filesystem/nightly/restore"]
    assert len(polls) == 2
    objs = await client.collections.use("Article").query.fetch_objects()
    assert [o.properties["title"] for o in objs.objects] == ["keep me"]
    status = await client.backup.get_create_status("nightly", BackupStorage.FILESYSTEM)
    assert status.status == BackupStatus.SUCCESS


# --------------------------------------------------------------------------------------------
# faults
# --------------------------------------------------------------------------------------------


def _grpc_cause(exc: BaseException) -> grpc.aio.AioRpcError:
    """The client raises its wrappers inside ``except AioRpcError``: the original is the
    implicit ``__context__`` (and also ``__cause__`` where the client uses ``from e``)."""
    cause = exc.__cause__ or exc.__context__
    while cause is not None and not isinstance(cause, grpc.aio.AioRpcError):
        cause = cause.__cause__ or cause.__context__
    assert isinstance(cause, grpc.aio.AioRpcError)
    return cause


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.INTERNAL,
    ],
)
async def test_grpc_search_fault(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient, code: grpc.StatusCode
) -> None:
    articles = await _articles(client)
    server.faults.grpc("Search", code, details="boom")
    with pytest.raises(WeaviateQueryError) as info:
        await articles.query.fetch_objects()
    assert info.value.message == "boom"
    assert _grpc_cause(info.value).code() == code
    assert server.grpc_methods() == ["Search"]  # not retried
    assert (await articles.query.fetch_objects()).objects == []  # fault used up


async def test_grpc_permission_denied(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    articles = await _articles(client)
    server.faults.grpc("Search", grpc.StatusCode.PERMISSION_DENIED, details="nope")
    with pytest.raises(InsufficientPermissionsError) as info:
        await articles.query.fetch_objects()
    assert info.value.status_code == grpc.StatusCode.PERMISSION_DENIED.value[0]


async def test_grpc_unavailable_is_retried(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient, client_sleeps: _FastAsyncio
) -> None:
    articles = await _articles(client)
    await articles.data.insert({"title": "x"})
    server.faults.grpc("Search", grpc.StatusCode.UNAVAILABLE, times=2)
    res = await articles.query.fetch_objects()
    assert len(res.objects) == 1
    assert server.grpc_methods() == ["Search", "Search", "Search"]
    assert client_sleeps.sleeps == [1, 2]  # exponential backoff 2**attempt seconds

    server.faults.grpc("Aggregate", grpc.StatusCode.UNAVAILABLE)
    assert (await articles.aggregate.over_all(total_count=True)).total_count == 1


async def test_grpc_unavailable_gives_up(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient, client_sleeps: _FastAsyncio
) -> None:
    articles = await _articles(client)
    server.faults.grpc("Search", grpc.StatusCode.UNAVAILABLE, times=-1)
    with pytest.raises(WeaviateQueryError) as info:
        await articles.query.fetch_objects()
    assert isinstance(info.value.__context__, WeaviateRetryError)
    assert _grpc_cause(info.value).code() == grpc.StatusCode.UNAVAILABLE
    assert server.grpc_methods().count("Search") == 6
    assert client_sleeps.sleeps == [1, 2, 4, 8, 16, 32]

    # insert_many retries twice more (max_retries=2) and lets WeaviateRetryError escape unwrapped
    server.faults.clear()
    server.faults.grpc("BatchObjects", grpc.StatusCode.UNAVAILABLE, times=-1)
    with pytest.raises(WeaviateRetryError):
        await articles.data.insert_many([{"title": "x"}])
    assert server.grpc_methods().count("BatchObjects") == 4

    # BatchDelete is not retried at all
    server.faults.clear()
    server.faults.grpc("BatchDelete", grpc.StatusCode.UNAVAILABLE)
    with pytest.raises(WeaviateDeleteManyError, match=r"\[UNAVAILABLE\] injected"):
        await articles.data.delete_many(wvc.query.Filter.by_property("title").equal("x"))
    assert server.grpc_methods().count("BatchDelete") == 1


async def test_grpc_batch_fault(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    articles = await _articles(client)
    server.faults.grpc("BatchObjects", grpc.StatusCode.RESOURCE_EXHAUSTED, details="too big")
    with pytest.raises(WeaviateBatchError) as info:
        await articles.data.insert_many([{"title": "x"}])
    assert isinstance(info.value.__cause__, grpc.aio.AioRpcError)
    assert info.value.__cause__.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_real_deadline_exceeded(server: WeaviateStandIn) -> None:
    client = await connect_async_client(
        server, additional_config=AdditionalConfig(timeout=Timeout(query=0.2, insert=5, init=5))
    )
    async with client:
        articles = await _articles(client)
        server.faults.delay("Search", 5.0)
        with pytest.raises(WeaviateQueryError, match="Deadline Exceeded") as info:
            await articles.query.fetch_objects()
        assert _grpc_cause(info.value).code() == grpc.StatusCode.DEADLINE_EXCEEDED

        server.faults.delay(r"^/v1/schema/Article$", 5.0)
        client_http = await connect_async_client(
            server, additional_config=AdditionalConfig(timeout=Timeout(query=0.2, insert=5, init=5))
        )
        async with client_http:
            with pytest.raises(WeaviateTimeoutError):
                await client_http.collections.exists("Article")


@pytest.mark.parametrize("status", [401, 404, 422, 500])
async def test_rest_faults(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient, status: int
) -> None:
    server.faults.http(r"^/v1/schema$", status, method="POST", body={"error": [{"message": "bad"}]})
    with pytest.raises(UnexpectedStatusCodeError) as info:
        await client.collections.create("Article")
    assert info.value.status_code == status
    body: Any = info.value.error  # the decoded JSON body (typed Optional[str] by the client)
    assert body == {"error": [{"message": "bad"}]}
    assert await client.collections.create("Article") is not None  # fault used up


async def test_rest_403_is_insufficient_permissions(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    server.faults.http(r"^/v1/objects$", 403)
    articles = await _articles(client)
    with pytest.raises(InsufficientPermissionsError):
        await articles.data.insert({"title": "x"})


# --------------------------------------------------------------------------------------------
# threaded
# --------------------------------------------------------------------------------------------


async def test_stand_in_on_its_own_thread() -> None:
    with InThread(WeaviateStandIn()) as server:
        client = await connect_async_client(server)
        async with client:
            articles = await _articles(client)
            await articles.data.insert_many([{"title": "from main thread"}])
            res = await articles.query.fetch_objects()
            assert [o.properties["title"] for o in res.objects] == ["from main thread"]
            server.faults.grpc("Search", grpc.StatusCode.NOT_FOUND)
            with pytest.raises(WeaviateQueryError):
                await articles.query.fetch_objects()
            assert await client.is_live()
        assert server.grpc_methods() == ["BatchObjects", "Search", "Search", "Check"]
