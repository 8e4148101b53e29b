"""A plain Weaviate application, run under opentelemetry-instrument by the tests."""

import asyncio
import os

import weaviate


async def main() -> None:
    client = weaviate.use_async_with_custom(
        http_host="127.0.0.1",
        http_port=int(os.environ["WEAVIATE_HTTP_PORT"]),
        http_secure=False,
        grpc_host="127.0.0.1",
        grpc_port=int(os.environ["WEAVIATE_GRPC_PORT"]),
        grpc_secure=False,
        skip_init_checks=True,
    )
    async with client:
        movies = await client.collections.create("Movie")
        await movies.data.insert_many([{"title": "Alien"}, {"title": "Heat"}])
        await movies.query.hybrid("secret-query", limit=2)


asyncio.run(main())
