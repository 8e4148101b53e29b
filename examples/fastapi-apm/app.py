"""A small FastAPI search service traced by async-search-instrumentation and Elastic APM.

Shaped the way the clients' own async docs recommend: one ``AsyncElasticsearch`` and one
``WeaviateAsyncClient`` (and, with ``OPENSEARCH_URL``, one ``AsyncOpenSearch``), opened in
``lifespan`` and closed on shutdown; the ``ElasticAPM`` middleware makes every request a
transaction; ``instrumentation.instrument()`` (or running under ``opentelemetry-instrument``) turns
every client call into a span.

Configuration comes from the environment only: ``ELASTICSEARCH_URL``, ``WEAVIATE_URL``,
``WEAVIATE_GRPC_PORT``, ``OPENSEARCH_URL`` (optional: searches and indexes OpenSearch too),
``ELASTIC_APM_SERVER_URL``, ``ELASTIC_APM_SERVICE_NAME`` and the standard ``OTEL_*`` variables.
What is not set runs on the loopback stand-ins of this repository's test suite
(``tests/servers``), so ``python examples/fastapi-apm/app.py`` works with nothing else running.
With no ``ELASTIC_APM_SERVER_URL`` the APM events go to an in-process intake, and every transaction
is printed to stdout with its spans.

    uvicorn app:app --port 8000        # or: fastapi run app.py, or: python app.py
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import warnings
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, List, Mapping, Optional, TextIO
from urllib.parse import urlsplit

# weaviate-client imports authlib, which warns about itself on import (AuthlibDeprecationWarning):
# nothing this service can act on. authlib.deprecate turns that warning to "always" when imported,
# so it is imported first and then ignored, before weaviate is imported.
with contextlib.suppress(ImportError):
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)

import elasticapm
import weaviate
import weaviate.classes as wvc
from elasticapm.contrib.starlette import ElasticAPM, make_apm_client
from elasticapm.transport.http import Transport
from elasticsearch import AsyncElasticsearch
from fastapi import FastAPI, Request, Response
from pydantic import BaseModel

import instrumentation

INDEX = "movies"
COLLECTION = "Movie"


class Movie(BaseModel):
    title: str
    year: Optional[int] = None
    plot: str = ""


class ClosingTransport(Transport):
    """The agent's HTTP transport, closing the gzip buffer it drops unused after a flush with
    nothing to send. elastic-apm 6.x leaves that buffer to the garbage collector, and CPython
    3.13.0 to 3.13.2 report every one collected: ``Exception ignored ... gzip.py ... ValueError:
    I/O operation on closed file`` (see docs/troubleshooting.md)."""

    _buffer: Any = None

    def _init_buffer(self) -> Any:
        if self._buffer is not None and not self._buffer.closed:
            self._buffer.close()  # dropped unused (a buffer that was sent is closed already)
        self._buffer = super()._init_buffer()
        return self._buffer

    def close(self) -> None:
        super().close()
        thread = getattr(self, "_thread", None)
        if self._buffer is not None and not (thread is not None and thread.is_alive()):
            self._buffer.close()


class StandIns:
    """The loopback servers for whatever the environment does not point at (stopped on exit)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._stack = contextlib.ExitStack()
        self.elasticsearch_url = environ.get("ELASTICSEARCH_URL") or ""
        self.apm_server_url = environ.get("ELASTIC_APM_SERVER_URL") or ""
        self.weaviate = _weaviate_from_env(environ)
        self.weaviate_server: Any = None
        self.intake: Any = None
        if not (self.elasticsearch_url and self.apm_server_url and self.weaviate):
            self._start_missing()

    def _start_missing(self) -> None:
        # The stand-ins live in the repository's tests, not in the package: found from here.
        root = str(Path(__file__).resolve().parents[2])
        if root not in sys.path:
            sys.path.append(root)
        from tests.servers.threaded import InThread

        if not self.elasticsearch_url:
            from tests.servers.elasticsearch import ElasticsearchStandIn

            self.elasticsearch_url = self._stack.enter_context(InThread(ElasticsearchStandIn())).url
        if not self.weaviate:
            from tests.servers.weaviate_rest import WeaviateStandIn

            server = self._stack.enter_context(InThread(WeaviateStandIn()))
            self.weaviate_server = server
            self.weaviate = {
                "host": server.host,
                "port": server.http_port,
                "grpc": server.grpc_port,
            }
        if not self.apm_server_url:
            from tests.servers.apm_intake import ApmIntake

            self.intake = self._stack.enter_context(InThread(ApmIntake()))
            self.apm_server_url = self.intake.url

    def close(self) -> None:
        self._stack.close()


def _weaviate_from_env(environ: Mapping[str, str]) -> Dict[str, Any]:
    url = environ.get("WEAVIATE_URL")
    if not url:
        return {}
    parts = urlsplit(url)
    return {
        "host": parts.hostname or "localhost",
        "port": parts.port or (443 if parts.scheme == "https" else 8080),
        "grpc": int(environ.get("WEAVIATE_GRPC_PORT", "50051")),
        "secure": parts.scheme == "https",
    }


async def _ensure_schema(
    es: AsyncElasticsearch, wv: weaviate.WeaviateAsyncClient, opensearch: Any = None
) -> None:
    mappings = {"properties": {"title": {"type": "text"}, "year": {"type": "integer"}}}
    if not await es.indices.exists(index=INDEX):
        await es.indices.create(index=INDEX, mappings=mappings)
    if opensearch is not None and not await opensearch.indices.exists(index=INDEX):
        await opensearch.indices.create(index=INDEX, body={"mappings": mappings})
    if not await wv.collections.exists(COLLECTION):
        await wv.collections.create(
            COLLECTION,
            properties=[
                wvc.config.Property(name="title", data_type=wvc.config.DataType.TEXT),
                wvc.config.Property(name="year", data_type=wvc.config.DataType.INT),
                wvc.config.Property(name="plot", data_type=wvc.config.DataType.TEXT),
            ],
        )


def describe_transaction(transaction: Dict[str, Any], spans: List[Dict[str, Any]]) -> str:
    """One line for an APM transaction, then one per span: what Kibana's waterfall would show."""
    lines = [
        f"APM transaction {transaction.get('name')}  {transaction.get('result')}  "
        f"{float(transaction.get('duration', 0)):.1f} ms"
    ]
    for span in sorted(spans, key=lambda s: s.get("timestamp", 0)):
        lines.append(
            f"    span {span.get('name')}  {span.get('type')}/{span.get('subtype')}  "
            f"{float(span.get('duration', 0)):.1f} ms  {span.get('outcome')}"
        )
    return "\n".join(lines)


async def print_transactions(intake: Any, out: Optional[TextIO] = None) -> None:
    """Print every transaction the in-process intake receives, as it arrives (until cancelled)."""
    printed = 0
    while True:
        with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
            await intake.wait_for(lambda i, n=printed: len(i.transactions) > n, timeout=3600)
        for transaction in list(intake.transactions[printed:]):
            stream = out or sys.stdout
            stream.write(describe_transaction(transaction, intake.spans_of(transaction)) + "\n")
            stream.flush()
            printed += 1


class DeferredElasticAPM:
    """The ``ElasticAPM`` middleware, on the APM client that ``lifespan`` creates.

    The client may send to a stand-in intake that only exists once the app has started, so the
    middleware cannot be given it when the app is built (at import, for ``uvicorn app:app``).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._apm: Optional[ElasticAPM] = None

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        client = getattr(scope["app"].state, "apm", None) if scope["type"] == "http" else None
        if client is None:
            return await self.app(scope, receive, send)
        if self._apm is None or self._apm.client is not client:
            self._apm = ElasticAPM(self.app, client=client)
        return await self._apm(scope, receive, send)


def create_app(environ: Mapping[str, str] = os.environ, out: Optional[TextIO] = None) -> FastAPI:
    """The service. Nothing starts before ``lifespan``: servers, APM client and clients start there.

    ``out`` is where the transactions of the in-process APM intake are printed (stdout).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stand_ins = StandIns(environ)
        local_intake = stand_ins.intake is not None
        apm = make_apm_client(
            {
                "SERVICE_NAME": environ.get("ELASTIC_APM_SERVICE_NAME", "fastapi-search"),
                "SERVER_URL": stand_ins.apm_server_url,
                "CENTRAL_CONFIG": False,
                "CLOUD_PROVIDER": "none",
                "METRICS_INTERVAL": "0ms",
                "TRANSPORT_CLASS": f"{__name__}.{ClosingTransport.__name__}",
                # the in-process intake prints what it gets: send it at once, not every 10 s
                **({"API_REQUEST_TIME": "100ms"} if local_intake else {}),
            }
        )
        if apm.config.instrument and apm.config.enabled:
            # What ElasticAPM() would do on the first request: too late for that request, whose
            # transaction is ended by the agent's patch of Starlette's outermost middleware.
            elasticapm.instrument()
        # A no-op under opentelemetry-instrument, which has instrumented already; what this
        # startup instruments, its shutdown uninstruments.
        instrumented_here = not instrumentation.is_instrumented()
        instrumentation.instrument()
        wv_conf = stand_ins.weaviate
        es = AsyncElasticsearch(stand_ins.elasticsearch_url)
        wv = weaviate.use_async_with_custom(
            http_host=wv_conf["host"],
            http_port=wv_conf["port"],
            http_secure=wv_conf.get("secure", False),
            grpc_host=wv_conf["host"],
            grpc_port=wv_conf["grpc"],
            grpc_secure=wv_conf.get("secure", False),
            skip_init_checks=True,
        )
        opensearch = None
        if environ.get("OPENSEARCH_URL"):
            from opensearchpy import AsyncOpenSearch

            opensearch = AsyncOpenSearch([environ["OPENSEARCH_URL"]])
        app.state.es, app.state.weaviate, app.state.opensearch = es, wv, opensearch
        app.state.apm, app.state.stand_ins = apm, stand_ins
        printer = None
        if local_intake:
            printer = asyncio.ensure_future(print_transactions(stand_ins.intake, out))
        try:
            await wv.connect()
            await _ensure_schema(es, wv, opensearch)
            _banner(stand_ins, environ, out)
            yield
        finally:
            await wv.close()
            await es.close()  # closing is what avoids aiohttp's "Unclosed client session"
            if opensearch is not None:
                await opensearch.close()
            apm.close()
            if printer is not None:
                await asyncio.sleep(0.2)  # the last transactions, sent by close()
                printer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await printer
            stand_ins.close()
            if instrumented_here:
                instrumentation.uninstrument()

    app = FastAPI(title="movie search", lifespan=lifespan)
    app.add_middleware(DeferredElasticAPM)

    @app.get("/")
    async def root(request: Request) -> Dict[str, Any]:
        es: AsyncElasticsearch = request.app.state.es
        wv: weaviate.WeaviateAsyncClient = request.app.state.weaviate
        info, count = await asyncio.gather(
            es.info(), wv.collections.use(COLLECTION).aggregate.over_all(total_count=True)
        )
        return {
            "elasticsearch": {
                "cluster": info["cluster_name"],
                "version": info["version"]["number"],
            },
            "weaviate": {"objects": count.total_count},
        }

    @app.get("/search")
    async def search(request: Request, q: str) -> Dict[str, Any]:
        es: AsyncElasticsearch = request.app.state.es
        opensearch = request.app.state.opensearch
        movies = request.app.state.weaviate.collections.use(COLLECTION)
        query = {"match": {"title": q}}
        searches: List[Awaitable[Any]] = [
            es.search(index=INDEX, query=query, size=5),
            movies.query.hybrid(q, limit=5),
        ]
        if opensearch is not None:
            searches.append(opensearch.search(index=INDEX, body={"query": query, "size": 5}))
        lexical, semantic, *more = await asyncio.gather(*searches)
        hits: List[Dict[str, Any]] = [
            {"source": "elasticsearch", "title": h["_source"]["title"], "score": h["_score"]}
            for h in lexical["hits"]["hits"]
        ]
        hits += [
            {"source": "weaviate", "title": o.properties.get("title"), "score": o.metadata.score}
            for o in semantic.objects
        ]
        for response in more:
            hits += [
                {"source": "opensearch", "title": h["_source"]["title"], "score": h["_score"]}
                for h in response["hits"]["hits"]
            ]
        return {"query": q, "hits": hits}

    @app.post("/movies", status_code=201)
    async def add_movie(request: Request, movie: Movie) -> Dict[str, Any]:
        es: AsyncElasticsearch = request.app.state.es
        opensearch = request.app.state.opensearch
        movies = request.app.state.weaviate.collections.use(COLLECTION)
        document = movie.model_dump()
        writes: List[Awaitable[Any]] = [
            es.index(index=INDEX, document=document, refresh=True),
            movies.data.insert(document),
        ]
        if opensearch is not None:
            writes.append(opensearch.index(index=INDEX, body=document, refresh=True))
        indexed, uuid, *more = await asyncio.gather(*writes)
        ids = {"elasticsearch_id": indexed["_id"], "weaviate_id": str(uuid)}
        if more:
            ids["opensearch_id"] = more[0]["_id"]
        return ids

    @app.get("/healthz")
    async def healthz(request: Request, response: Response) -> Dict[str, bool]:
        checks: Dict[str, Callable[[], Awaitable[Any]]] = {
            "elasticsearch": request.app.state.es.ping,
            "weaviate": request.app.state.weaviate.is_ready,
        }
        if request.app.state.opensearch is not None:
            checks["opensearch"] = request.app.state.opensearch.ping
        results = await asyncio.gather(*(_ready(check()) for check in checks.values()))
        status = dict(zip(checks, results))
        if not all(results):
            response.status_code = 503
        return status

    return app


def _banner(stand_ins: StandIns, environ: Mapping[str, str], out: Optional[TextIO]) -> None:
    def where(name: str, url: str) -> str:
        return url if environ.get(name) else f"{url} (imitation)"

    weaviate_url = f"http://{stand_ins.weaviate['host']}:{stand_ins.weaviate['port']}"
    lines = [
        f"Elasticsearch: {where('ELASTICSEARCH_URL', stand_ins.elasticsearch_url)}",
        f"Weaviate: {where('WEAVIATE_URL', weaviate_url)}",
    ]
    if environ.get("OPENSEARCH_URL"):
        lines.append(f"OpenSearch: {environ['OPENSEARCH_URL']}")
    if stand_ins.intake is not None:
        lines.append("Elastic APM: in-process intake; every transaction is printed below")
    else:
        lines.append(f"Elastic APM: {stand_ins.apm_server_url}")
    stream = out or sys.stdout
    stream.write("\n".join(lines) + "\n")
    stream.flush()


async def _ready(check: Any) -> bool:
    try:
        return bool(await asyncio.wait_for(check, timeout=2))
    except Exception:
        return False


#: ``uvicorn app:app`` / ``fastapi run app.py``: building it starts nothing (see ``lifespan``).
app = create_app()


if __name__ == "__main__":
    import uvicorn

    port = int(os.environ.get("PORT", "8000"))
    print(f"Try: curl 'http://127.0.0.1:{port}/search?q=alien'", flush=True)
    try:
        uvicorn.run(app, host="127.0.0.1", port=port)
    except KeyboardInterrupt:  # Ctrl-C once shut down: uvicorn re-raises it (a traceback on 3.9)
        pass
