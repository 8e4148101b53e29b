"""Smoke check of a running real node with elasticsearch-py's AsyncElasticsearch (not a pytest test).

    python tests/real/elasticsearch/smoke.py http://127.0.0.1:PORT

Prints one line per call: ok, or the error class, status and message the client raised.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Awaitable, Callable

from elasticsearch import AsyncElasticsearch, helpers

INDEX = "smoke"


async def check(name: str, call: Callable[[], Awaitable[Any]]) -> Any:
    try:
        result = await call()
    except Exception as exc:
        status = getattr(exc, "status_code", getattr(exc, "status", ""))
        print(f"{name:28} {type(exc).__name__} {status} {str(exc)[:160]}")
        return exc
    print(f"{name:28} ok {str(result)[:110]}")
    return result


async def main(url: str) -> None:
    async with AsyncElasticsearch(url, request_timeout=30) as es:
        await check("info", es.info)
        await check("ping", es.ping)
        await check(
            "indices.create",
            lambda: es.indices.create(
                index=INDEX, mappings={"properties": {"n": {"type": "integer"}}}
            ),
        )
        await check(
            "index refresh",
            lambda: es.index(index=INDEX, id="1", document={"n": 1, "t": "a b"}, refresh=True),
        )
        await check("search", lambda: es.search(index=INDEX, query={"match": {"t": "a"}}))
        await check("get 404", lambda: es.get(index=INDEX, id="missing"))
        await check("create 409", lambda: es.create(index=INDEX, id="1", document={"n": 2}))
        await check(
            "index op_type=create 409",
            lambda: es.index(index=INDEX, id="1", document={"n": 2}, op_type="create"),
        )
        await check("search 400", lambda: es.search(index=INDEX, query={"no_such_query": {}}))
        bulk = await check(
            "bulk item error",
            lambda: es.bulk(
                operations=[
                    {"index": {"_index": INDEX, "_id": "2"}},
                    {"n": 2},
                    {"create": {"_index": INDEX, "_id": "1"}},
                    {"n": 3},
                ],
                refresh=True,
            ),
        )
        if isinstance(bulk, dict) or hasattr(bulk, "body"):
            print(
                f"{'':28} errors={bulk['errors']} statuses={[next(iter(i.values()))['status'] for i in bulk['items']]}"
            )
        await check(
            "update (doc)", lambda: es.update(index=INDEX, id="2", doc={"n": 20}, refresh=True)
        )
        await check(
            "update (script)",
            lambda: es.update(index=INDEX, id="2", script={"source": "ctx._source.n += 1"}),
        )
        await check("count", lambda: es.count(index=INDEX))
        await check(
            "terms agg",
            lambda: es.search(index=INDEX, size=0, aggs={"n": {"terms": {"field": "n"}}}),
        )
        await check("mget", lambda: es.mget(index=INDEX, ids=["1", "2"]))
        await check(
            "msearch", lambda: es.msearch(searches=[{"index": INDEX}, {"query": {"match_all": {}}}])
        )
        await check(
            "delete_by_query",
            lambda: es.delete_by_query(index=INDEX, query={"term": {"n": 999}}, refresh=True),
        )
        await check(
            "update_by_query",
            lambda: es.update_by_query(index=INDEX, query={"match_all": {}}, refresh=True),
        )
        await check(
            "reindex", lambda: es.reindex(source={"index": INDEX}, dest={"index": INDEX + "-copy"})
        )

        async def bulk_helper() -> Any:
            return await helpers.async_bulk(
                es, ({"_index": INDEX, "_id": f"h{i}", "n": i} for i in range(50)), refresh=True
            )

        await check("helpers.async_bulk", bulk_helper)

        async def scan_helper() -> Any:
            return len(
                [
                    hit
                    async for hit in helpers.async_scan(
                        es, index=INDEX, query={"query": {"match_all": {}}}
                    )
                ]
            )

        await check("helpers.async_scan", scan_helper)
        await check("esql.query", lambda: es.esql.query(query=f"FROM {INDEX} | LIMIT 1"))
        await check("ilm.get_lifecycle", lambda: es.ilm.get_lifecycle())
        await check("security.authenticate", lambda: es.security.authenticate())
        await check("license.get", lambda: es.license.get())
        await check(
            "search_template",
            lambda: es.search_template(index=INDEX, source='{"query":{"match_all":{}}}'),
        )
        await check(
            "indices.put_index_template",
            lambda: es.indices.put_index_template(
                name="t", index_patterns=["ds-*"], data_stream={}
            ),
        )
        await check(
            "index into data stream",
            lambda: es.index(index="ds-1", document={"@timestamp": "2024-01-01"}),
        )
        await check(
            "ingest.put_pipeline",
            lambda: es.ingest.put_pipeline(
                id="p", processors=[{"set": {"field": "x", "value": 1}}]
            ),
        )
        await check("indices.delete", lambda: es.indices.delete(index=INDEX))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
