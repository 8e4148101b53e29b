"""A small FastAPI search service traced by async-search-instrumentation and Elastic APM.

Shaped the way the clients' own async docs recommend: one ``AsyncElasticsearch`` and one
``WeaviateAsyncClient``, opened in ``lifespan`` and closed on shutdown; the ``ElasticAPM``
middleware makes every request a transaction; ``instrumentation.instrument()`` (or running under
``opentelemetry-instrument``) turns every client call into a span.

Configuration comes from the environment only: ``ELASTICSEARCH_URL``, ``WEAVIATE_URL``,
``WEAVIATE_GRPC_PORT``, ``ELASTIC_APM_SERVER_URL``, ``ELASTIC_APM_SERVICE_NAME`` and the standard
``OTEL_*`` variables. What is not set runs on the loopback stand-ins of this repository's test
suite (``tests/servers``), so ``python examples/fastapi-apm/app.py`` works with nothing else running.

    uvicorn app:create_app --factory --port 8000        # or: python app.py
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List, Mapping, Optional
from urllib.parse import urlsplit

import weaviate
import weaviate.classes as wvc
from elasticapm.contrib.starlette import ElasticAPM, make_apm_client
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


async def _ensure_schema(es: AsyncElasticsearch, wv: weaviate.WeaviateAsyncClient) -> None:
    if not await es.indices.exists(index=INDEX):
        await es.indices.create(
            index=INDEX,
            mappings={"properties": {"title": {"type": "text"}, "year": {"type": "integer"}}},
        )
    if not await wv.collections.exists(COLLECTION):
        await wv.collections.create(
            COLLECTION,
            properties=[
                wvc.config.Property(name="title", data_type=wvc.config.DataType.TEXT),
                wvc.config.Property(name="year", data_type=wvc.config.DataType.INT),
                wvc.config.Property(name="plot", data_type=wvc.config.DataType.TEXT),
            ],
        )


def create_app(environ: Mapping[str, str] = os.environ) -> FastAPI:
    stand_ins = StandIns(environ)
    apm = make_apm_client(
        {
            "SERVICE_NAME": environ.get("ELASTIC_APM_SERVICE_NAME", "fastapi-search"),
            "SERVER_URL": stand_ins.apm_server_url,
            "CENTRAL_CONFIG": False,
            "CLOUD_PROVIDER": "none",
            "METRICS_INTERVAL": "0ms",
        }
    )
    # Idempotent: a no-op under opentelemetry-instrument, which has instrumented already.
    instrumentation.instrument()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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
        app.state.es, app.state.weaviate = es, wv
        try:
            await wv.connect()
            await _ensure_schema(es, wv)
            yield
        finally:
            await wv.close()
            await es.close()  # closing is what avoids aiohttp's "Unclosed client session"
            apm.close()
            stand_ins.close()

    app = FastAPI(title="movie search", lifespan=lifespan)
    app.add_middleware(ElasticAPM, client=apm)
    app.state.apm = apm
    app.state.stand_ins = stand_ins

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
        movies = request.app.state.weaviate.collections.use(COLLECTION)
        lexical, semantic = await asyncio.gather(
            es.search(index=INDEX, query={"match": {"title": q}}, size=5),
            movies.query.hybrid(q, limit=5),
        )
        hits: List[Dict[str, Any]] = [
            {"source": "elasticsearch", "title": h["_source"]["title"], "score": h["_score"]}
            for h in lexical["hits"]["hits"]
        ]
        hits += [
            {"source": "weaviate", "title": o.properties.get("title"), "score": o.metadata.score}
            for o in semantic.objects
        ]
        return {"query": q, "hits": hits}

    @app.post("/movies", status_code=201)
    async def add_movie(request: Request, movie: Movie) -> Dict[str, Any]:
        es: AsyncElasticsearch = request.app.state.es
        movies = request.app.state.weaviate.collections.use(COLLECTION)
        document = movie.model_dump()
        indexed, uuid = await asyncio.gather(
            es.index(index=INDEX, document=document, refresh=True),
            movies.data.insert(document),
        )
        return {"elasticsearch_id": indexed["_id"], "weaviate_id": str(uuid)}

    @app.get("/healthz")
    async def healthz(request: Request, response: Response) -> Dict[str, bool]:
        es_ok = await _ready(request.app.state.es.ping())
        wv_ok = await _ready(request.app.state.weaviate.is_ready())
        if not (es_ok and wv_ok):
            response.status_code = 503
        return {"elasticsearch": es_ok, "weaviate": wv_ok}

    return app


async def _ready(check: Any) -> bool:
    try:
        return bool(await asyncio.wait_for(check, timeout=2))
    except Exception:
        return False


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(create_app(), host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
