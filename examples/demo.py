"""``make demo``: a short realistic workload under instrumentation, printed as a trace tree.

Run it from the repository root (``python -m examples.demo``). With no configuration it starts the
loopback stand-ins of the test suite (``tests.servers``, not part of the wheel); set
``ELASTICSEARCH_URL`` (and, for Weaviate, ``WEAVIATE_URL`` / ``WEAVIATE_GRPC_PORT``) to use real
servers. With ``OTEL_EXPORTER_OTLP_ENDPOINT`` set (and ``opentelemetry-exporter-otlp`` installed) the
same spans are also exported there. Needs ``opentelemetry-sdk`` (part of the ``dev`` extra).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import warnings
from typing import Any, Dict, Iterator, List, Optional, TextIO, Tuple
from urllib.parse import urlsplit

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import instrumentation

KEY_ATTRIBUTES = (
    "db.collection.name",
    "db.operation.batch.size",
    "db.query.text",
    "db.response.status_code",
    "elasticsearch.helpers.documents",
    "elasticsearch.bulk.failed_items",
    "weaviate.tenant",
    "weaviate.batch.failed_objects",
    "error.type",
)


@contextlib.contextmanager
def _elasticsearch_url() -> Iterator[str]:
    url = os.environ.get("ELASTICSEARCH_URL")
    if url:
        yield url
        return
    from tests.servers.elasticsearch import ElasticsearchStandIn
    from tests.servers.threaded import InThread

    with InThread(ElasticsearchStandIn()) as server:
        yield server.url


@contextlib.contextmanager
def _weaviate_endpoint() -> Iterator[Tuple[str, int, int]]:
    """(host, http port, grpc port): ``WEAVIATE_URL`` / ``WEAVIATE_GRPC_PORT``, else the stand-in."""
    url = os.environ.get("WEAVIATE_URL")
    if url:
        parts = urlsplit(url)
        yield (
            parts.hostname or "localhost",
            parts.port or 8080,
            int(os.environ.get("WEAVIATE_GRPC_PORT", "50051")),
        )
        return
    from tests.servers.threaded import InThread
    from tests.servers.weaviate_rest import WeaviateStandIn

    with InThread(WeaviateStandIn()) as server:
        yield server.host, server.http_port, server.grpc_port


async def weaviate_workload(host: str, http_port: int, grpc_port: int) -> None:
    """The seed-style flow of Weaviate's async docs: create, insert_many, hybrid, aggregate."""
    import weaviate
    import weaviate.classes as wvc

    client = weaviate.use_async_with_custom(
        http_host=host,
        http_port=http_port,
        http_secure=False,
        grpc_host=host,
        grpc_port=grpc_port,
        grpc_secure=False,
        skip_init_checks=True,
    )
    async with client:
        if await client.collections.exists("DemoMovie"):
            await client.collections.delete("DemoMovie")
        movies = await client.collections.create(
            "DemoMovie",
            properties=[
                wvc.config.Property(name="title", data_type=wvc.config.DataType.TEXT),
                wvc.config.Property(name="year", data_type=wvc.config.DataType.INT),
            ],
        )
        await movies.data.insert_many(
            [
                wvc.data.DataObject(properties={"title": t, "year": y}, vector=v)
                for t, y, v in [
                    ("Alien", 1979, [0.9, 0.1]),
                    ("Heat", 1995, [0.2, 0.8]),
                    ("Arrival", 2016, [0.8, 0.3]),
                ]
            ]
        )
        await movies.query.hybrid("alien", vector=[0.9, 0.1], limit=2)
        await movies.aggregate.over_all(total_count=True)


async def elasticsearch_workload(url: str) -> None:
    from elasticsearch import AsyncElasticsearch, NotFoundError
    from elasticsearch.helpers import async_bulk, async_scan

    movies = [
        {"_id": str(i), "title": title, "year": year}
        for i, (title, year) in enumerate(
            [("Alien", 1979), ("Heat", 1995), ("The Matrix", 1999), ("Arrival", 2016)]
        )
    ]
    async with AsyncElasticsearch(url) as es:
        await es.info()
        if await es.indices.exists(index="movies"):
            await es.indices.delete(index="movies")
        await es.indices.create(
            index="movies", mappings={"properties": {"title": {"type": "text"}}}
        )
        await async_bulk(es, movies, index="movies", refresh=True)
        await es.search(index="movies", query={"match": {"title": "matrix"}}, size=5)
        await es.count(index="movies", query={"range": {"year": {"gte": 1990}}})
        await es.get(index="movies", id="1")
        with contextlib.suppress(NotFoundError):
            await es.get(index="movies", id="does-not-exist")
        async for _ in async_scan(es, index="movies", size=2):
            pass


def _tree(spans: List[ReadableSpan], out: TextIO) -> None:
    by_parent: Dict[Optional[int], List[ReadableSpan]] = {}
    ids = {span.context.span_id for span in spans if span.context}
    for span in spans:
        parent = span.parent.span_id if span.parent and span.parent.span_id in ids else None
        by_parent.setdefault(parent, []).append(span)

    def show(span: ReadableSpan, depth: int) -> None:
        duration_ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
        attrs: Dict[str, Any] = dict(span.attributes or {})
        status = " ERROR" if span.status.status_code.name == "ERROR" else ""
        server = ""
        if "server.address" in attrs:
            server = f"  -> {attrs['server.address']}:{attrs.get('server.port', '')}"
        out.write(
            f"{'  ' * depth}{span.name}  [{span.kind.name}, {duration_ms:.1f} ms]{status}{server}\n"
        )
        for key in KEY_ATTRIBUTES:
            if key in attrs:
                out.write(f"{'  ' * depth}    {key} = {attrs[key]}\n")
        children = sorted(by_parent.get(span.context.span_id, []), key=lambda s: s.start_time or 0)
        for child in children:
            show(child, depth + 1)

    for root in sorted(by_parent.get(None, []), key=lambda s: s.start_time or 0):
        show(root, 0)


def _otlp(provider: TracerProvider) -> bool:
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    except ImportError:
        print("OTEL_EXPORTER_OTLP_ENDPOINT is set but opentelemetry-exporter-otlp is not installed")
        return False
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
    return True


async def opensearch_workload(url: str) -> None:
    """AsyncOpenSearch, on ``OPENSEARCH_URL`` (else the Elasticsearch imitation, which answers the
    same REST calls): the same span contract with ``db.system.name = opensearch``."""
    from opensearchpy import AsyncOpenSearch

    async with AsyncOpenSearch([url]) as client:
        if await client.indices.exists(index="films"):
            await client.indices.delete(index="films")
        await client.indices.create(index="films")
        await client.index(index="films", id="1", body={"title": "Alien"}, refresh=True)
        await client.search(index="films", body={"query": {"match": {"title": "alien"}}})


async def workload(
    tracer: Any, es_url: str, weaviate_endpoint: Tuple[str, int, int], os_url: str
) -> None:
    with tracer.start_as_current_span("GET /search (demo request)"):
        await elasticsearch_workload(es_url)
        await opensearch_workload(os_url)
        await weaviate_workload(*weaviate_endpoint)


def quiet_authlib() -> None:
    """Ignore ``AuthlibDeprecationWarning`` (authlib warns about itself when weaviate imports it).

    ``authlib.deprecate`` sets that warning to "always" when it is imported, so it is imported
    first; this must run before ``weaviate`` is imported. Only our entry points do this: the
    library itself changes no warning filter.
    """
    try:
        from authlib.deprecate import AuthlibDeprecationWarning
    except ImportError:
        return
    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)


def main(out: TextIO = sys.stdout) -> int:
    quiet_authlib()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    exported = _otlp(provider)
    instrumentation.instrument(tracer_provider=provider, backends=["otel"])
    try:
        with _elasticsearch_url() as es_url, _weaviate_endpoint() as weaviate_endpoint:
            host, http_port, grpc_port = weaviate_endpoint
            os_url = os.environ.get("OPENSEARCH_URL") or es_url
            out.write(f"Elasticsearch: {es_url}\n")
            out.write(f"OpenSearch: {os_url}\n")
            out.write(f"Weaviate: http://{host}:{http_port} (gRPC {grpc_port})\n\n")
            asyncio.run(workload(provider.get_tracer("demo"), es_url, weaviate_endpoint, os_url))
    finally:
        instrumentation.uninstrument()
        provider.shutdown()
    _tree(list(exporter.get_finished_spans()), out)
    out.write("\n")
    if exported:
        out.write(f"Also exported to {os.environ['OTEL_EXPORTER_OTLP_ENDPOINT']}\n")
    else:
        out.write(
            "To send this trace to a real backend: pip install opentelemetry-exporter-otlp, then\n"
            "  OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 make demo\n"
            "Real servers instead of the stand-ins (make servers starts local ones):\n"
            "  ELASTICSEARCH_URL=http://localhost:9200 WEAVIATE_URL=http://localhost:8080 \\\n"
            "  WEAVIATE_GRPC_PORT=50051 make demo\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
