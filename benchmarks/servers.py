"""The benchmark's server process: the loopback stand-ins, away from the measured client.

Elasticsearch, Weaviate (REST + gRPC) and the APM Server intake each run on their own thread
(``InThread``) in *this* process, so the CPU they spend answering never lands in the client
process whose CPU time is measured. The process seeds the data the workloads read, prints one JSON
line with the addresses, then obeys one command per stdin line:

* ``stats``: how many requests / APM events arrived since the last ``stats`` (which the runner uses
  to check that every configuration sent what it claims), then forget them, so that a long run
  does not grow the stand-ins' request logs without bound;
* ``quit`` (or end of input): stop everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from typing import Any, Dict

from benchmarks.standins import module
from benchmarks.workloads import (
    ES_DOCUMENTS,
    ES_INDEX,
    WEAVIATE_COLLECTION,
    WeaviateAddress,
    seed_objects,
)

InThread = module("threaded").InThread
ApmIntake = module("apm").ApmIntake
ElasticsearchStandIn = module("elasticsearch").ElasticsearchStandIn
WeaviateStandIn = module("weaviate").WeaviateStandIn


async def _seed_elasticsearch(url: str) -> None:
    from elasticsearch import AsyncElasticsearch

    async with AsyncElasticsearch(url) as es:
        await es.indices.create(index=ES_INDEX)
        for number, document in enumerate(ES_DOCUMENTS):
            await es.index(index=ES_INDEX, id=str(number), document=document)


async def _seed_weaviate(address: WeaviateAddress) -> None:
    import weaviate.classes as wvc

    client = await module("weaviate").connect_async_client(address)  # type: ignore[arg-type]
    async with client:
        collection = await client.collections.create(
            WEAVIATE_COLLECTION,
            properties=[
                wvc.config.Property(name="title", data_type=wvc.config.DataType.TEXT),
                wvc.config.Property(name="year", data_type=wvc.config.DataType.INT),
            ],
        )
        await collection.data.insert_many(seed_objects())


def _stats(es: Any, wv: Any, apm: Any) -> Dict[str, Any]:
    with apm._cond:
        spans = list(apm.spans)
        transactions = len(apm.transactions)
    counts = {
        "elasticsearch_requests": len(es.requests),
        "weaviate_rest_requests": len(wv.rest_requests),
        "weaviate_grpc_requests": len(wv.grpc_requests),
        "apm_transactions": transactions,
        "apm_spans": len(spans),
        # A compressed span stands for several calls (the agent's span compression).
        "apm_calls_in_spans": sum(int((s.get("composite") or {}).get("count", 1)) for s in spans),
        # One span per call, each a child of its transaction: never of another call's span.
        "apm_spans_not_under_transaction": sum(
            1 for s in spans if s.get("parent_id") != s.get("transaction_id")
        ),
    }
    es.requests.clear()
    wv.rest_requests.clear()
    wv.grpc_requests.clear()
    apm.reset()
    return counts


def main() -> None:
    with contextlib.ExitStack() as stack:
        es_thread = InThread(ElasticsearchStandIn())
        wv_thread = InThread(WeaviateStandIn())
        apm_thread = InThread(ApmIntake())
        es = stack.enter_context(es_thread)
        wv = stack.enter_context(wv_thread)
        apm = stack.enter_context(apm_thread)
        address = WeaviateAddress(wv.host, wv.http_port, wv.grpc_port)
        asyncio.run(_seed_elasticsearch(es.url))
        asyncio.run(_seed_weaviate(address))
        _stats(es, wv, apm)
        print(
            json.dumps({"elasticsearch": es.url, "weaviate": address.as_dict(), "apm": apm.url}),
            flush=True,
        )
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                print(json.dumps(_stats(es, wv, apm)), flush=True)
            elif command == "quit":
                break


if __name__ == "__main__":
    main()
