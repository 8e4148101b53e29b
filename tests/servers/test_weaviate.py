"""The Weaviate imitation driven by the real ``WeaviateAsyncClient`` (REST over httpx, gRPC).

Only what the instrumentation tests, the demo, the example app and the benchmarks rely on.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, AsyncIterator

import grpc
import httpx
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
    WeaviateInsertManyAllFailedError,
    WeaviateQueryError,
    WeaviateRetryError,
    WeaviateTimeoutError,
)

from tests.servers.threaded import InThread
from tests.servers.weaviate_rest import WeaviateStandIn, connect_async_client
from tests.support.weaviate import CLIENT_VERSION, needs_batch_stream

PROPS = [
    wvc.config.Property(name="title", data_type=wvc.config.DataType.TEXT),
    wvc.config.Property(name="count", data_type=wvc.config.DataType.INT),
]


@pytest.fixture
async def server() -> AsyncIterator[WeaviateStandIn]:
    stand_in = WeaviateStandIn()
    await stand_in.start()
    try:
        yield stand_in
    finally:
        await stand_in.stop()


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
    return await client.collections.create("Article", properties=PROPS)


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


# --------------------------------------------------------------------------------------------
# connect, cluster, schema
# --------------------------------------------------------------------------------------------


async def test_connect_reads_meta_and_ready(server: WeaviateStandIn) -> None:
    client = await connect_async_client(server)
    async with client:
        assert client.is_connected()
        assert server.rest_paths() == ["GET /v1/meta"]
        assert await client.is_ready()
        nodes = await client.cluster.nodes()
        assert nodes[0].status == "HEALTHY"
    assert server.rest_paths()[-2:] == ["GET /v1/.well-known/ready", "GET /v1/nodes"]
    assert server.url == f"http://127.0.0.1:{server.http_port}"
    if CLIENT_VERSION >= (4, 20):  # the client names itself from 4.20 on
        sent = server.rest_requests[0].headers
        assert sent["x-weaviate-client"].startswith("weaviate-client-python")


async def test_collections(server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient) -> None:
    created = await client.collections.create("article", properties=PROPS)
    assert created.name == "Article"
    assert await client.collections.exists("Missing") is False
    config = await client.collections.use("Article").config.get()
    assert [p.name for p in config.properties] == ["title", "count"]
    assert config.properties[1].data_type == wvc.config.DataType.INT
    assert config.multi_tenancy_config.enabled is False

    await client.collections.create("Other")
    assert sorted(await client.collections.list_all()) == ["Article", "Other"]
    await client.collections.delete("Other")
    assert sorted(await client.collections.list_all()) == ["Article"]
    assert "DELETE /v1/schema/Other" in server.rest_paths()

    server.reset()
    assert server.rest_requests == [] and server.grpc_requests == []
    assert await client.collections.list_all() == {}


async def test_tenants(server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient) -> None:
    coll = await client.collections.create(
        "Docs",
        multi_tenancy_config=wvc.config.Configure.multi_tenancy(enabled=True),
        properties=[wvc.config.Property(name="body", data_type=wvc.config.DataType.TEXT)],
    )
    await coll.tenants.create([Tenant(name="alpha"), "beta"])
    tenants = await coll.tenants.get()  # gRPC TenantsGet
    assert sorted(tenants) == ["alpha", "beta"]
    assert server.grpc_methods()[-1] == "TenantsGet"

    await coll.tenants.update(Tenant(name="beta", activity_status=TenantActivityStatus.INACTIVE))
    beta = await coll.tenants.get_by_name("beta")  # REST GET /schema/Docs/tenants/beta
    assert beta is not None and beta.activity_status == TenantActivityStatus.INACTIVE
    assert await coll.tenants.exists("nope") is False

    alpha = coll.with_tenant("alpha")
    await alpha.data.insert({"body": "in alpha"})
    assert json.loads(server.rest_requests[-1].body)["tenant"] == "alpha"
    await alpha.data.insert_many([{"body": "more alpha"}])
    assert len((await alpha.query.fetch_objects()).objects) == 2
    assert server.grpc_requests[-1].request.tenant == "alpha"
    await coll.tenants.update(Tenant(name="beta", activity_status=TenantActivityStatus.ACTIVE))
    assert (await coll.with_tenant("beta").query.fetch_objects()).objects == []


async def test_multi_tenancy_mistakes_are_refused(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    """What a real 1.39 server answers, on a collection with multi-tenancy enabled, to a request
    without a tenant or naming a tenant it does not have: 422 over REST, UNKNOWN over gRPC."""
    coll = await client.collections.create(
        "Docs",
        multi_tenancy_config=wvc.config.Configure.multi_tenancy(enabled=True),
        properties=[wvc.config.Property(name="body", data_type=wvc.config.DataType.TEXT)],
    )
    await coll.tenants.create(["alpha"])
    uid = await coll.with_tenant("alpha").data.insert({"body": "x"})
    without = "class Docs has multi-tenancy enabled, but request was without tenant"
    for target, message in ((coll, without), (coll.with_tenant("x"), 'tenant not found: "x"')):
        with pytest.raises(UnexpectedStatusCodeError) as insert:
            await target.data.insert({"body": "y"})
        assert insert.value.status_code == 422
        assert insert.value.error == {"error": [{"message": INSERT_PREFIX + message}]}

        with pytest.raises(WeaviateQueryError) as search:
            await target.query.fetch_objects()
        assert server.grpc_methods()[-1] == "Search"
        assert (_grpc_cause(search.value).code(), _grpc_cause(search.value).details()) == (
            grpc.StatusCode.UNKNOWN,
            SEARCH_PREFIX.format(index="docs") + message,
        )

        with pytest.raises(WeaviateInsertManyAllFailedError) as batch:  # a batch object error
            await target.data.insert_many([{"body": "z"}])
        assert str(batch.value).endswith(f"Here is the set of all errors: {message}")

    async with httpx.AsyncClient(base_url=server.url) as http:
        for query, message in (("", without), ("?tenant=x", 'tenant not found: "x"')):
            answer = await http.get(f"/v1/objects/Docs/{uid}{query}")
            assert (answer.status_code, answer.json()) == (422, {"error": [{"message": message}]})
            head = await http.head(f"/v1/objects/Docs/{uid}{query}")
            assert (head.status_code, head.content) == (422, b"")
        found = await http.get(f"/v1/objects/Docs/{uid}?tenant=alpha")
        assert found.status_code == 200
    # nothing was stored, and no shard was made for the unknown tenant
    assert len((await coll.with_tenant("alpha").query.fetch_objects()).objects) == 1
    assert set(server.store.require("Docs").shards) == {"alpha"}


#: What a real 1.39 server puts before a tenant mistake's message (seen on the real tier's server:
#: tests/real/test_weaviate_real.py): an object insert's 422, and a search's gRPC details.
INSERT_PREFIX = "determine shard: "
SEARCH_PREFIX = "explorer: list class: search: object search at index {index}: "


async def _assert_tenant_refused(
    server: WeaviateStandIn, target: Any, path: str, tenant: str, message: str
) -> None:
    """``target`` (a collection with a tenant) is refused with ``message`` as a real 1.39 server
    refuses it: insert, get, ``HEAD`` and delete a 422 over REST, a search ``UNKNOWN`` over gRPC,
    a batch an object error."""
    with pytest.raises(UnexpectedStatusCodeError) as insert:
        await target.data.insert({"body": "y"})
    assert (insert.value.status_code, insert.value.error) == (
        422,
        {"error": [{"message": INSERT_PREFIX + message}]},
    )
    with pytest.raises(WeaviateQueryError) as search:
        await target.query.fetch_objects()
    assert server.grpc_methods()[-1] == "Search"
    assert (_grpc_cause(search.value).code(), _grpc_cause(search.value).details()) == (
        grpc.StatusCode.UNKNOWN,
        SEARCH_PREFIX.format(index=path.split("/")[3].lower()) + message,
    )
    with pytest.raises(WeaviateInsertManyAllFailedError) as batch:
        await target.data.insert_many([{"body": "z"}])
    assert str(batch.value).endswith(f"Here is the set of all errors: {message}")
    async with httpx.AsyncClient(base_url=server.url) as http:
        answer = await http.get(f"{path}?tenant={tenant}")
        assert (answer.status_code, answer.json()) == (422, {"error": [{"message": message}]})
        head = await http.head(f"{path}?tenant={tenant}")
        assert (head.status_code, head.content) == (422, b"")
        deleted = await http.delete(f"{path}?tenant={tenant}")
        assert (deleted.status_code, deleted.json()) == (422, {"error": [{"message": message}]})


async def test_a_tenant_on_a_collection_without_multi_tenancy_is_refused(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    """A real 1.39 server refuses a tenant on a collection without multi-tenancy (its
    single-tenant router's validation) instead of ignoring it."""
    coll = await client.collections.create(
        "Plain", properties=[wvc.config.Property(name="body", data_type=wvc.config.DataType.TEXT)]
    )
    uid = await coll.data.insert({"body": "x"})
    message = "class Plain has multi-tenancy disabled, but request was with tenant"
    await _assert_tenant_refused(
        server, coll.with_tenant("alpha"), f"/v1/objects/Plain/{uid}", "alpha", message
    )
    # the object is still there, alone, and without a tenant it is found as before
    assert [str(o.uuid) for o in (await coll.query.fetch_objects()).objects] == [str(uid)]
    assert set(server.store.require("Plain").shards) == {""}


async def test_a_tenant_that_is_not_active_is_refused(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    """A real 1.39 server refuses a tenant that exists but is not active (INACTIVE, created so
    or deactivated; OFFLOADED) with ``tenant not active: 'name'``; active again, it answers."""
    coll = await client.collections.create(
        "Docs",
        multi_tenancy_config=wvc.config.Configure.multi_tenancy(enabled=True),
        properties=[wvc.config.Property(name="body", data_type=wvc.config.DataType.TEXT)],
    )
    await coll.tenants.create(
        ["beta", Tenant(name="gamma", activity_status=TenantActivityStatus.INACTIVE)]
    )
    uid = await coll.with_tenant("beta").data.insert({"body": "in beta"})
    await coll.tenants.update(Tenant(name="beta", activity_status=TenantActivityStatus.INACTIVE))
    server.store.require("Docs").tenants["delta"] = "OFFLOADED"
    path = f"/v1/objects/Docs/{uid}"
    for name in ("beta", "gamma", "delta"):
        message = f"tenant not active: '{name}'"
        await _assert_tenant_refused(server, coll.with_tenant(name), path, name, message)

    await coll.tenants.update(Tenant(name="beta", activity_status=TenantActivityStatus.ACTIVE))
    beta = (await coll.with_tenant("beta").query.fetch_objects()).objects
    assert [str(o.uuid) for o in beta] == [str(uid)]  # nothing was added, nothing deleted


async def test_auto_tenant_activation_activates_a_tenant_on_use(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    """With ``autoTenantActivation`` a real server activates an inactive tenant on use."""
    coll = await client.collections.create(
        "Docs",
        multi_tenancy_config=wvc.config.Configure.multi_tenancy(
            enabled=True, auto_tenant_activation=True
        ),
        properties=[wvc.config.Property(name="body", data_type=wvc.config.DataType.TEXT)],
    )
    await coll.tenants.create(Tenant(name="beta", activity_status=TenantActivityStatus.INACTIVE))
    assert (await coll.with_tenant("beta").query.fetch_objects()).objects == []
    beta = await coll.tenants.get_by_name("beta")
    assert beta is not None and beta.activity_status == TenantActivityStatus.ACTIVE


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


async def test_insert_fetch_exists_and_delete(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    articles = await _articles(client)
    uid = await articles.data.insert({"title": "Hello world", "count": 3}, vector=[0.1, 0.2, 0.3])
    post = server.rest_requests[-1]
    assert (post.method, post.path) == ("POST", "/v1/objects")

    obj = await articles.query.fetch_object_by_id(uid)
    assert obj is not None and obj.uuid == uid
    assert obj.properties == {"title": "Hello world", "count": 3}
    assert server.grpc_methods()[-1] == "Search"
    assert await articles.query.fetch_object_by_id(uuid.uuid4()) is None
    assert await articles.data.exists(uuid.uuid4()) is False

    res = await articles.data.insert_many([{"title": "second", "count": 7}, {"title": "third"}])
    assert (res.has_errors, len(res.uuids)) == (False, 2)
    assert server.grpc_methods()[-1] == "BatchObjects"
    fetched = await articles.query.fetch_objects(
        return_metadata=wvc.query.MetadataQuery(creation_time=True)
    )
    assert {o.properties["title"] for o in fetched.objects} == {"Hello world", "second", "third"}
    assert all(o.metadata.creation_time is not None for o in fetched.objects)
    counts = {o.properties["title"]: o.properties.get("count") for o in fetched.objects}
    assert counts == {"Hello world": 3, "second": 7, "third": None}  # ints survive gRPC Struct

    deleted = await articles.data.delete_many(wvc.query.Filter.by_property("title").equal("second"))
    assert (deleted.matches, deleted.successful) == (1, 1)
    assert server.grpc_methods()[-1] == "BatchDelete"
    assert (await articles.aggregate.over_all(total_count=True)).total_count == 2
    assert server.grpc_methods()[-1] == "Aggregate"


async def test_insert_many_per_object_errors(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    articles = await _articles(client)
    server.faults.batch_errors({1}, "disk full")
    res = await articles.data.insert_many([{"title": "a"}, {"title": "b"}, {"title": "c"}])
    assert list(res.errors) == [1]
    assert res.errors[1].message == "disk full"
    assert sorted(res.uuids) == [0, 2]
    assert (await articles.aggregate.over_all(total_count=True)).total_count == 2


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


@needs_batch_stream
async def test_batch_stream(server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient) -> None:
    articles = await _articles(client)
    server.faults.batch_errors({1}, "rejected")
    async with articles.batch.stream() as batch:
        for i in range(3):
            await batch.add_object({"title": f"t{i}", "count": i})
    assert [e.message for e in articles.batch.failed_objects] == ["rejected"]
    assert "GET /v1/nodes" in server.rest_paths()
    assert "BatchStream" in server.grpc_methods()
    assert (await articles.aggregate.over_all(total_count=True)).total_count == 2


# --------------------------------------------------------------------------------------------
# queries
# --------------------------------------------------------------------------------------------


async def test_queries_rank(server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient) -> None:
    articles = await _seeded(client)
    res = await articles.query.near_vector([1.0, 0.0, 0.0], limit=2)
    assert [o.properties["title"] for o in res.objects] == ["red apple pie", "green apple tart"]
    res = await articles.query.near_text("ocean")
    assert res.objects[0].properties["title"] == "blue ocean"
    res = await articles.query.bm25("apple")
    assert {o.properties["title"] for o in res.objects} == {"red apple pie", "green apple tart"}
    res = await articles.query.hybrid("tart", alpha=0.0)
    assert (res.objects[0].properties["title"], len(res.objects)) == ("green apple tart", 3)
    res = await articles.query.hybrid("anything", vector=[0.0, 0.0, 1.0], alpha=1.0)
    assert res.objects[0].properties["title"] == "blue ocean"
    assert server.grpc_requests[-1].request.hybrid_search.query == "anything"


async def test_generate(server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient) -> None:
    articles = await _seeded(client)
    res = await articles.generate.hybrid(
        "apple", single_prompt="Describe {title}", grouped_task="Summarize", limit=2
    )
    assert res.generated is not None and "Summarize" in res.generated
    assert res.objects[0].generated == "Stand-in generated text for: Describe red apple pie"


# --------------------------------------------------------------------------------------------
# backups
# --------------------------------------------------------------------------------------------


async def test_backup_create(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient, client_sleeps: _FastAsyncio
) -> None:
    await _articles(client)
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


@pytest.mark.parametrize("code", [grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INTERNAL])
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


async def test_grpc_unavailable_is_retried_then_given_up(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient, client_sleeps: _FastAsyncio
) -> None:
    articles = await _articles(client)
    await articles.data.insert({"title": "x"})
    server.faults.grpc("Search", grpc.StatusCode.UNAVAILABLE, times=2)
    assert len((await articles.query.fetch_objects()).objects) == 1
    assert server.grpc_methods() == ["Search", "Search", "Search"]
    assert client_sleeps.sleeps == [1, 2]  # exponential backoff 2**attempt seconds

    server.faults.grpc("Search", grpc.StatusCode.UNAVAILABLE, times=-1)
    with pytest.raises(WeaviateQueryError) as info:
        await articles.query.fetch_objects()
    assert isinstance(info.value.__context__, WeaviateRetryError)
    assert server.grpc_methods().count("Search") == 9


async def test_grpc_batch_fault(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    articles = await _articles(client)
    server.faults.grpc("BatchObjects", grpc.StatusCode.RESOURCE_EXHAUSTED, details="too big")
    with pytest.raises(WeaviateBatchError) as info:
        await articles.data.insert_many([{"title": "x"}])
    assert isinstance(info.value.__cause__, grpc.aio.AioRpcError)
    assert info.value.__cause__.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_delays_exceed_deadlines(server: WeaviateStandIn) -> None:
    timeout = AdditionalConfig(timeout=Timeout(query=0.2, insert=5, init=5))
    client = await connect_async_client(server, additional_config=timeout)
    async with client:
        articles = await _articles(client)
        server.faults.delay("Search", 5.0)
        with pytest.raises(WeaviateQueryError, match="Deadline Exceeded") as info:
            await articles.query.fetch_objects()
        assert _grpc_cause(info.value).code() == grpc.StatusCode.DEADLINE_EXCEEDED
        server.faults.delay(r"^/v1/schema/Article$", 5.0)
        with pytest.raises(WeaviateTimeoutError):
            await client.collections.exists("Article")


@pytest.mark.parametrize("status", [401, 500])
async def test_rest_faults(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient, status: int
) -> None:
    server.faults.http(r"^/v1/schema$", status, method="POST", body={"error": [{"message": "bad"}]})
    with pytest.raises(UnexpectedStatusCodeError) as info:
        await client.collections.create("Article")
    assert info.value.status_code == status
    assert await client.collections.create("Article") is not None  # fault used up


async def test_rest_403_is_insufficient_permissions(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    server.faults.http(r"^/v1/objects$", 403)
    articles = await _articles(client)
    with pytest.raises(InsufficientPermissionsError):
        await articles.data.insert({"title": "x"})


async def test_stand_in_on_its_own_thread() -> None:
    with InThread(WeaviateStandIn()) as server:
        client = await connect_async_client(server)
        async with client:
            articles = await _articles(client)
            await articles.data.insert_many([{"title": "from main thread"}])
            res = await articles.query.fetch_objects()
            assert [o.properties["title"] for o in res.objects] == ["from main thread"]
        assert server.grpc_methods() == ["BatchObjects", "Search"]


# --------------------------------------------------------------------------------------------
# what a real server refuses (answers checked against Weaviate 1.39 by tests/real)
# --------------------------------------------------------------------------------------------


async def test_an_object_of_an_unknown_collection_creates_it(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    await client.collections.use("Auto").data.insert({"title": "x", "year": 3, "seen": True})
    config = await client.collections.use("Auto").config.get()
    assert {p.name: p.data_type for p in config.properties} == {
        "title": wvc.config.DataType.TEXT,
        "year": wvc.config.DataType.NUMBER,  # a JSON number is "number", never "int"
        "seen": wvc.config.DataType.BOOL,
    }
    assert config.description.startswith("This property was generated by Weaviate's auto-schema")
    res = await client.collections.use("AutoBatch").data.insert_many([{"title": "y"}])
    assert not res.has_errors
    assert await client.collections.exists("AutoBatch")


async def test_unknown_things_over_rest(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    articles = await _articles(client)
    missing = "00000000-0000-0000-0000-0000000000ff"
    for call in (
        lambda: client.collections.use("Nope").config.get(),
        lambda: articles.data.update(uuid=missing, properties={"title": "x"}),
        lambda: articles.data.replace(uuid=missing, properties={"title": "x"}),
    ):
        with pytest.raises(UnexpectedStatusCodeError) as raised:
            await call()
        assert (raised.value.status_code, raised.value.error) == (404, None)
    async with httpx.AsyncClient(base_url=server.url) as http:
        for method, path in [
            ("GET", "/v1/schema/Nope"),
            ("PATCH", f"/v1/objects/Article/{missing}"),
            ("PUT", f"/v1/objects/Article/{missing}"),
            ("PATCH", f"/v1/objects/Nope/{missing}"),
        ]:
            answer = await http.request(method, path, json={"class": "Article"})
            assert (answer.status_code, answer.content) == (404, b"")  # no body at all
    assert await articles.data.delete_by_id(missing) is True  # real: 204 for a missing object

    with pytest.raises(UnexpectedStatusCodeError) as exists:
        await client.collections.create("Article")
    assert exists.value.status_code == 422
    assert exists.value.error == {
        "allowed": None,
        "error": [{"message": "class name Article already exists"}],
    }
    async with httpx.AsyncClient() as http:
        unknown = await http.get(f"{server.url}/v1/nothing-here")
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"code": 404, "message": "path /v1/nothing-here was not found"},
    )


async def test_update_replace_and_delete(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    articles = await _articles(client)
    uid = await articles.data.insert({"title": "a", "count": 1})
    await articles.data.update(uuid=uid, properties={"count": 2})
    assert (await articles.query.fetch_object_by_id(uid)).properties == {"title": "a", "count": 2}
    await articles.data.replace(uuid=uid, properties={"title": "b"})
    assert (await articles.query.fetch_object_by_id(uid)).properties == {"title": "b"}
    assert await articles.data.delete_by_id(uid) is True
    assert await articles.query.fetch_object_by_id(uid) is None


async def test_values_and_vectors_the_real_server_refuses(
    server: WeaviateStandIn, client: weaviate.WeaviateAsyncClient
) -> None:
    articles = await _articles(client)
    with pytest.raises(UnexpectedStatusCodeError) as bad_int:
        await articles.data.insert({"title": "x", "count": "secret-int"})
    assert bad_int.value.status_code == 422
    assert bad_int.value.error["error"][0]["message"] == (
        "invalid object: invalid integer property 'count' on class 'Article': requires an "
        "integer, the given value is 'secret-int'"
    )

    await articles.data.insert({"title": "v"}, vector=[1.0, 0.0])  # the index takes length 2
    wrong = "00000000-0000-0000-0000-0000000000aa"
    with pytest.raises(UnexpectedStatusCodeError) as bad_vector:
        await articles.data.insert({"title": "w"}, vector=[1.0, 2.0, 3.0], uuid=wrong)
    assert bad_vector.value.status_code == 500
    message = bad_vector.value.error["error"][0]["message"]
    assert message.startswith("put object: import into index article: put local object: shard=")
    assert message.endswith(
        f"store object in LSM store: Validate vector index default for target vector {wrong}: "
        "new node has a vector with length 3. Existing nodes have vectors with length 2: "
        "vector dimensions do not match the index dimensions"
    )

    res = await articles.data.insert_many(
        [
            wvc.data.DataObject({"title": "ok", "count": 1}),
            wvc.data.DataObject({"title": "bad", "count": "secret-many"}),
            wvc.data.DataObject({"title": "long"}, vector=[1.0, 2.0, 3.0], uuid=wrong),
        ]
    )
    assert sorted(res.errors) == [1, 2]
    assert res.errors[1].message == (
        "invalid integer property 'count' on class 'Article': requires an integer, "
        "the given value is 'secret-many'"
    )
    assert res.errors[2].message.startswith(
        f"Validate vector index default for target vector {wrong}: new node has a vector"
    )


@pytest.mark.parametrize(
    ("method", "call", "details"),
    [
        ("Search", lambda c: c.query.fetch_objects(), "could not find class Nope in schema"),
        ("Search", lambda c: c.query.bm25("x"), "could not find class Nope in schema"),
        (
            "Aggregate",
            lambda c: c.aggregate.over_all(total_count=True),
            "parse params: could not find class Nope in schema",
        ),
        (
            "BatchDelete",
            lambda c: c.data.delete_many(wvc.query.Filter.by_property("t").equal("x")),
            "batch delete params: could not find class Nope in schema",
        ),
        (
            "TenantsGet",
            lambda c: c.tenants.get(),
            "get tenants: failed to execute query: could not get tenants: could not get "
            "tenants: class not found",
        ),
    ],
)
async def test_an_unknown_collection_over_grpc_is_status_unknown(
    server: WeaviateStandIn,
    client: weaviate.WeaviateAsyncClient,
    method: str,
    call: Any,
    details: str,
) -> None:
    """The real server's answer: status UNKNOWN, its message as the details (the client's
    exception quotes it; the status is read off the call, which the client wraps)."""
    with pytest.raises(Exception) as raised:
        await call(client.collections.use("Nope"))
    assert details in str(raised.value)
    assert server.grpc_methods()[-1] == method
    cause = raised.value.__cause__ or raised.value.__context__
    while cause is not None and not hasattr(cause, "code"):
        cause = cause.__cause__ or cause.__context__
    assert cause is not None, repr(raised.value)
    assert (cause.code(), cause.details()) == (grpc.StatusCode.UNKNOWN, details)
