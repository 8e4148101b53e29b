"""A plain application: knows nothing of tracing; run under opentelemetry-instrument by the tests."""

import asyncio
import os

from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_scan  # imported after opentelemetry-instrument patched it


async def main() -> None:
    async with AsyncElasticsearch(os.environ["ELASTICSEARCH_URL"]) as es:
        await es.indices.create(index="movies")
        await es.search(index="movies", query={"match": {"title": "secret-title"}})
        async for _ in async_scan(es, index="movies"):
            pass


asyncio.run(main())
