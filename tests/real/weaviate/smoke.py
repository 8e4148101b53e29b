"""Smoke check of the real Weaviate server with the async weaviate-client (not a pytest test).

    .venv/bin/python -m tests.real.weaviate.smoke                  # starts its own server
    .venv/bin/python -m tests.real.weaviate.smoke --http http://127.0.0.1:PORT --grpc-port N

Without ``--http`` it builds (if needed) into ``--cache`` (default
``.real-servers/cache``), starts a server in a fresh temporary run directory (never
``.real-servers/run``, so it cannot stop the orchestrator's server) and stops it
at the end. Prints one line per check: ``ok``, ``EXPECTED-ERROR`` (an error we
provoke on purpose, with its type and message) or ``FAIL``. Exit 1 if any FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import sys
import tempfile
import time
import traceback
import urllib.parse
import uuid
from typing import Any, Awaitable, Callable, List, Tuple

import weaviate
import weaviate.classes as wvc
from tests.real import weaviate_server
from weaviate.backup.backup import BackupStorage
from weaviate.classes.config import Configure, DataType, Property, ReferenceProperty
from weaviate.classes.data import DataObject, DataReference
from weaviate.classes.query import Filter, MetadataQuery
from weaviate.classes.tenants import Tenant

RESULTS: List[Tuple[str, str, str]] = []


async def check(name: str, fn: Callable[[], Awaitable[Any]], *, expect_error: bool = False) -> Any:
    t0 = time.perf_counter()
    try:
        value = await fn()
    except Exception as e:
        ms = (time.perf_counter() - t0) * 1000
        detail = f"{type(e).__module__}.{type(e).__name__}: {str(e).splitlines()[0][:300]}"
        RESULTS.append(
            (name, "EXPECTED-ERROR" if expect_error else "FAIL", f"{ms:.0f} ms {detail}")
        )
        if not expect_error:
            traceback.print_exc()
        return None
    ms = (time.perf_counter() - t0) * 1000
    if expect_error:
        RESULTS.append((name, "FAIL", f"{ms:.0f} ms no error raised; got {value!r:.200}"))
    else:
        RESULTS.append((name, "ok", f"{ms:.0f} ms {value!r:.200}"))
    return value


def vec(*xs: float) -> List[float]:
    return [float(x) for x in xs]


async def run_smoke(http: str, grpc_port: int) -> None:
    url = urllib.parse.urlsplit(http)
    client = weaviate.use_async_with_custom(
        http_host=url.hostname,
        http_port=url.port,
        http_secure=False,
        grpc_host=url.hostname,
        grpc_port=grpc_port,
        grpc_secure=False,
        skip_init_checks=True,
    )
    await client.connect()
    try:
        await smoke(client)
    finally:
        await client.close()


async def smoke(client: weaviate.WeaviateAsyncClient) -> None:
    await check("is_ready", client.is_ready)
    await check("get_meta", lambda: _meta(client))
    await check("cluster.nodes", lambda: _nodes(client))

    for name in ("Article", "Author", "MtDoc", "Nope"):
        await client.collections.delete(name)

    # --- collections ---------------------------------------------------------------
    await check(
        "collections.create Article (self-provided vectors)",
        lambda: client.collections.create(
            "Article",
            properties=[
                Property(name="title", data_type=DataType.TEXT),
                Property(name="body", data_type=DataType.TEXT),
                Property(name="n", data_type=DataType.INT),
            ],
            vector_config=Configure.Vectors.self_provided(),
        ),
    )
    await check(
        "collections.create Author (+ reference property on Article)",
        lambda: _authors(client),
    )
    await check("collections.exists Article", lambda: client.collections.exists("Article"))
    await check("collections.exists Nope", lambda: client.collections.exists("Nope"))
    await check("collections.list_all", lambda: _names(client.collections.list_all()))
    art = client.collections.use("Article")
    await check("collection.config.get", lambda: _vectorizer(art))

    # --- data ---------------------------------------------------------------------------
    u1 = await check(
        "data.insert",
        lambda: art.data.insert(
            {"title": "hello world", "body": "the quick brown fox", "n": 1}, vector=vec(1, 0, 0, 0)
        ),
    )
    await check(
        "data.insert_many",
        lambda: _insert_many(art),
    )
    await check("data.update", lambda: art.data.update(uuid=u1, properties={"n": 100}))
    await check(
        "data.replace",
        lambda: art.data.replace(
            uuid=u1,
            properties={"title": "hello world", "body": "quick fox", "n": 101},
            vector=vec(1, 0, 0, 0),
        ),
    )
    await check("query.fetch_object_by_id", lambda: _props(art.query.fetch_object_by_id(u1)))
    await check("data.exists", lambda: art.data.exists(u1))
    author = await check(
        "data.insert Author", lambda: client.collections.use("Author").data.insert({"name": "Ann"})
    )
    await check("data.reference_add", lambda: art.data.reference_add(u1, "writtenBy", author))
    await check(
        "data.reference_add_many",
        lambda: _ref_many(art, u1, author),
    )

    # --- batch (server-side streaming over gRPC, needs >= 1.36) ------------------------------
    await check("client.batch.stream (20 objects)", lambda: _batch_client(client))
    await check("collection.batch.stream (20 objects)", lambda: _batch_collection(art))
    await check("client.batch.stream with a bad object", lambda: _batch_bad(client))

    # --- queries ------------------------------------------------------------------------
    await check("query.fetch_objects", lambda: _count(art.query.fetch_objects(limit=100)))
    await check(
        "query.fetch_objects filter",
        lambda: _count(art.query.fetch_objects(filters=Filter.by_property("n").greater_than(50))),
    )
    await check(
        "query.near_vector",
        lambda: _first(
            art.query.near_vector(
                near_vector=vec(1, 0, 0, 0), limit=3, return_metadata=MetadataQuery(distance=True)
            )
        ),
    )
    await check("query.bm25", lambda: _first(art.query.bm25(query="fox", limit=3)))
    await check(
        "query.hybrid (with vector)",
        lambda: _first(art.query.hybrid(query="fox", vector=vec(0, 1, 0, 0), alpha=0.5, limit=3)),
    )
    await check("query.near_object", lambda: _first(art.query.near_object(near_object=u1, limit=3)))
    await check(
        "query.fetch_objects group_by? (near_vector group_by)",
        lambda: _groups(art),
    )
    await check("aggregate.over_all", lambda: _total(art.aggregate.over_all(total_count=True)))
    await check(
        "aggregate.near_vector",
        lambda: _total(
            art.aggregate.near_vector(near_vector=vec(1, 0, 0, 0), distance=0.9, total_count=True)
        ),
    )
    await check("collection.length", art.length)
    await check("graphql_raw_query", lambda: _gql(client))

    # --- deletes ------------------------------------------------------------------------
    u_del = await art.data.insert({"title": "doomed", "n": 7}, vector=vec(0, 0, 0, 1))
    await check("data.delete_by_id", lambda: art.data.delete_by_id(u_del))
    await check(
        "data.delete_many (n >= 1000)",
        lambda: _deleted(
            art.data.delete_many(where=Filter.by_property("n").greater_or_equal(1000))
        ),
    )

    # --- multi-tenancy ------------------------------------------------------------------
    await check(
        "collections.create MtDoc (multi-tenancy)",
        lambda: client.collections.create(
            "MtDoc",
            properties=[Property(name="text", data_type=DataType.TEXT)],
            vector_config=Configure.Vectors.self_provided(),
            multi_tenancy_config=Configure.multi_tenancy(enabled=True),
        ),
    )
    mt = client.collections.use("MtDoc")
    await check("tenants.create", lambda: mt.tenants.create([Tenant(name="t1"), Tenant(name="t2")]))
    await check("tenants.get", lambda: _keys(mt.tenants.get()))
    await check("tenants.get_by_name", lambda: mt.tenants.get_by_name("t1"))
    await check("tenants.exists", lambda: mt.tenants.exists("t2"))
    await check(
        "with_tenant(t1).data.insert",
        lambda: mt.with_tenant("t1").data.insert({"text": "tenant data"}, vector=vec(1, 1, 0, 0)),
    )
    await check(
        "with_tenant(t1).query.fetch_objects",
        lambda: _count(mt.with_tenant("t1").query.fetch_objects()),
    )
    await check(
        "tenants.update (t2 -> INACTIVE)",
        lambda: mt.tenants.update(
            Tenant(name="t2", activity_status=wvc.tenants.TenantActivityStatus.INACTIVE)
        ),
    )
    await check("tenants.remove", lambda: mt.tenants.remove(["t2"]))

    # --- backups (backup-filesystem module) -----------------------------------------------
    bid = f"smoke-{uuid.uuid4().hex[:8]}"
    await check(
        "backup.create (filesystem, wait)",
        lambda: _status(
            client.backup.create(
                backup_id=bid,
                backend=BackupStorage.FILESYSTEM,
                include_collections=["Article", "Author"],
                wait_for_completion=True,
            )
        ),
    )
    await check(
        "backup.get_create_status",
        lambda: _status(client.backup.get_create_status(bid, BackupStorage.FILESYSTEM)),
    )
    await check("backup.list_backups", lambda: _backups(client))
    await client.collections.delete(["Article", "Author"])
    await check(
        "backup.restore (after deleting the collections, wait)",
        lambda: _status(
            client.backup.restore(
                backup_id=bid,
                backend=BackupStorage.FILESYSTEM,
                include_collections=["Article", "Author"],
                wait_for_completion=True,
            )
        ),
    )
    await check(
        "backup.get_restore_status",
        lambda: _status(client.backup.get_restore_status(bid, BackupStorage.FILESYSTEM)),
    )
    await check("restored Article length", art.length)

    # --- errors we provoke ------------------------------------------------------------
    nope = client.collections.use("Nope")
    await check(
        "query on unknown collection (gRPC)", lambda: nope.query.fetch_objects(), expect_error=True
    )
    await check(
        "bm25 on unknown collection (gRPC)", lambda: nope.query.bm25(query="x"), expect_error=True
    )
    await check(
        "aggregate on unknown collection",
        lambda: nope.aggregate.over_all(total_count=True),
        expect_error=True,
    )
    await check(
        "config.get of unknown collection (REST 404)", lambda: nope.config.get(), expect_error=True
    )
    await check(
        "data.insert wrong property type (REST 422)",
        lambda: art.data.insert({"title": "bad", "n": "not a number"}, vector=vec(1, 0, 0, 0)),
        expect_error=True,
    )
    await check(
        "data.insert_many wrong property type (per-object errors)",
        lambda: _insert_many_bad(art),
    )
    await check(
        "data.insert wrong vector length",
        lambda: art.data.insert({"title": "bad vec"}, vector=vec(1, 0)),
        expect_error=True,
    )
    missing = uuid.uuid4()
    await check(
        "fetch_object_by_id of a missing id (404 -> None)",
        lambda: art.query.fetch_object_by_id(missing),
    )
    await check(
        "data.update of a missing id (REST 404)",
        lambda: art.data.update(uuid=missing, properties={"n": 1}),
        expect_error=True,
    )
    await check("data.delete_by_id of a missing id", lambda: art.data.delete_by_id(missing))
    await check(
        "collections.create duplicate (REST 422)",
        lambda: client.collections.create(
            "Article", vector_config=Configure.Vectors.self_provided()
        ),
        expect_error=True,
    )
    await check(
        "query.near_text without a vectorizer",
        lambda: art.query.near_text(query="fox"),
        expect_error=True,
    )
    # The server has generative modules, the collection none of its own: the server refuses
    # ("client not found, empty provider").
    await check(
        "generate.near_vector without a generative module",
        lambda: _generate(art),
        expect_error=True,
    )
    await check(
        "backup.create to an unconfigured backend (s3)",
        lambda: client.backup.create(backup_id="nos3", backend=BackupStorage.S3),
        expect_error=True,
    )

    # --- cleanup ------------------------------------------------------------------------
    await check(
        "collections.delete", lambda: client.collections.delete(["Article", "Author", "MtDoc"])
    )
    await check("collections.list_all after delete", lambda: _names(client.collections.list_all()))


async def _meta(client: weaviate.WeaviateAsyncClient) -> Any:
    meta = await client.get_meta()
    return {"version": meta["version"], "modules": sorted(meta.get("modules", {}))}


async def _nodes(client: weaviate.WeaviateAsyncClient) -> Any:
    nodes = await client.cluster.nodes()
    return [(n.name, n.status, n.version) for n in nodes]


async def _authors(client: weaviate.WeaviateAsyncClient) -> Any:
    await client.collections.create(
        "Author",
        properties=[Property(name="name", data_type=DataType.TEXT)],
        vector_config=Configure.Vectors.self_provided(),
    )
    await client.collections.use("Article").config.add_reference(
        ReferenceProperty(name="writtenBy", target_collection="Author")
    )
    return "created + reference property added"


async def _names(aw: Awaitable[Any]) -> Any:
    return sorted(await aw)


async def _vectorizer(col: Any) -> Any:
    cfg = await col.config.get()
    return {name: vc.vectorizer.vectorizer for name, vc in (cfg.vector_config or {}).items()}


async def _insert_many(col: Any) -> Any:
    objs = [
        DataObject(
            properties={
                "title": f"title {i}",
                "body": "lorem ipsum fox" if i % 2 else "dolor sit",
                "n": i,
            },
            vector=vec(i % 4 == 0, i % 4 == 1, i % 4 == 2, i % 4 == 3),
        )
        for i in range(2, 12)
    ]
    res = await col.data.insert_many(objs)
    return {"errors": res.errors, "n": len(res.uuids)}


async def _insert_many_bad(col: Any) -> Any:
    res = await col.data.insert_many(
        [
            DataObject(properties={"title": "fine", "n": 5}, vector=vec(0, 1, 1, 0)),
            DataObject(properties={"title": "bad", "n": "five"}, vector=vec(0, 1, 1, 0)),
        ]
    )
    return {
        "has_errors": res.has_errors,
        "errors": {k: v.message[:150] for k, v in res.errors.items()},
    }


async def _ref_many(col: Any, u1: Any, author: Any) -> Any:
    res = await col.data.reference_add_many(
        [DataReference(from_uuid=u1, from_property="writtenBy", to_uuid=author)]
    )
    return {"has_errors": res.has_errors}


async def _batch_client(client: weaviate.WeaviateAsyncClient) -> Any:
    async with client.batch.stream() as batch:
        for i in range(20):
            await batch.add_object(
                collection="Article",
                properties={"title": f"batch {i}", "body": "streamed fox", "n": 1000 + i},
                vector=vec(0, 0, 1, i / 20),
            )
    failed = client.batch.failed_objects
    return {"failed": len(failed), "results": len(client.batch.results.objs.all_responses)}


async def _batch_collection(col: Any) -> Any:
    async with col.batch.stream() as batch:
        for i in range(20):
            await batch.add_object(
                properties={"title": f"cbatch {i}", "body": "collection streamed", "n": 2000 + i},
                vector=vec(0, 1, 0, i / 20),
            )
    return {"failed": len(col.batch.failed_objects)}


async def _batch_bad(client: weaviate.WeaviateAsyncClient) -> Any:
    async with client.batch.stream() as batch:
        await batch.add_object(
            collection="Article", properties={"title": "ok", "n": 3000}, vector=vec(1, 1, 1, 1)
        )
        await batch.add_object(
            collection="Article", properties={"title": "bad", "n": "x"}, vector=vec(1, 1, 1, 1)
        )
    return {"failed": [f.message[:150] for f in client.batch.failed_objects]}


async def _props(aw: Awaitable[Any]) -> Any:
    obj = await aw
    return None if obj is None else obj.properties


async def _count(aw: Awaitable[Any]) -> Any:
    return len((await aw).objects)


async def _first(aw: Awaitable[Any]) -> Any:
    res = await aw
    return [(o.properties.get("title"), o.metadata.distance, o.metadata.score) for o in res.objects]


async def _groups(col: Any) -> Any:
    res = await col.query.near_vector(
        near_vector=vec(1, 0, 0, 0),
        group_by=wvc.query.GroupBy(prop="n", number_of_groups=2, objects_per_group=1),
    )
    return sorted(res.groups)


async def _generate(col: Any) -> Any:
    res = await col.generate.near_vector(
        near_vector=vec(1, 0, 0, 0), limit=2, single_prompt="Say {title}", grouped_task="Summarize"
    )
    return {
        "objects": len(res.objects),
        "grouped": res.generative,
        "single": [o.generative for o in res.objects],
    }


async def _total(aw: Awaitable[Any]) -> Any:
    return (await aw).total_count


async def _gql(client: weaviate.WeaviateAsyncClient) -> Any:
    res = await client.graphql_raw_query("{ Aggregate { Article { meta { count } } } }")
    return {"errors": res.errors, "aggregate": res.aggregate}


async def _deleted(aw: Awaitable[Any]) -> Any:
    res = await aw
    return {"matches": res.matches, "successful": res.successful, "failed": res.failed}


async def _keys(aw: Awaitable[Any]) -> Any:
    return sorted(await aw)


async def _status(aw: Awaitable[Any]) -> Any:
    res = await aw
    return {
        "status": str(res.status),
        "collections": getattr(res, "collections", None),
        "error": res.error,
    }


async def _backups(client: weaviate.WeaviateAsyncClient) -> Any:
    return [
        (b.backup_id, str(b.status))
        for b in await client.backup.list_backups(BackupStorage.FILESYSTEM)
    ]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--http", help="use this running server (http://127.0.0.1:PORT)")
    ap.add_argument("--grpc-port", type=int)
    ap.add_argument("--cache", type=pathlib.Path, default=pathlib.Path(".real-servers/cache"))
    args = ap.parse_args()

    run = None
    if args.http:
        http, grpc_port = args.http, args.grpc_port
    else:
        t0 = time.perf_counter()
        weaviate_server.build(args.cache)
        print(f"build: {time.perf_counter() - t0:.2f} s")
        run = pathlib.Path(tempfile.mkdtemp(prefix="weaviate-smoke-"))
        t0 = time.perf_counter()
        info = weaviate_server.start(args.cache, run)
        print(f"start: {time.perf_counter() - t0:.2f} s -> {info}")
        http, grpc_port = info["weaviate_http"], info["weaviate_grpc_port"]
    try:
        asyncio.run(run_smoke(http, grpc_port))
    finally:
        if run is not None:
            t0 = time.perf_counter()
            weaviate_server.stop(run)
            print(f"stop: {time.perf_counter() - t0:.2f} s (log: {run / 'weaviate.log'})")

    width = max(len(n) for n, _, _ in RESULTS)
    for name, verdict, detail in RESULTS:
        print(f"{verdict:14} {name:{width}}  {detail}")
    fails = sum(v == "FAIL" for _, v, _ in RESULTS)
    print(f"\n{len(RESULTS)} checks, {fails} FAIL")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
