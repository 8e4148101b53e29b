"""``propagate_context`` on the wire: what reaches real Elasticsearch, OpenSearch and Weaviate
servers, as the fault proxy (HTTP) and a gRPC recorder in front of them record it (each retry too):
every request of a traced call carries that call's span; off, not one header is added."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest
import weaviate
import weaviate.classes as wvc
from elasticsearch import AsyncElasticsearch
from opensearchpy import AsyncOpenSearch
from weaviate.connect import executor
from weaviate.connect.v4 import ConnectionAsync

from tests.real import support
from tests.real.fault_proxy import FaultProxy
from tests.real.grpc_recorder import GrpcRecorder
from tests.support.telemetry import finished

TRACE_HEADERS = ("traceparent", "tracestate", "elastic-apm-traceparent")


def _traceparent(span: Any) -> str:
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def _trace_headers(request: Any) -> dict:
    return {name: request.header(name) for name in TRACE_HEADERS if request.header(name)}


@pytest.mark.parametrize("on", [True, False], ids=["propagating", "off"])
async def test_elasticsearch_every_attempt_carries_the_call_span(
    real_es: support.Elasticsearch, index: str, instrumented: Any, span_exporter: Any, on: bool
) -> None:
    instrumented(propagate_context=on)
    async with FaultProxy(real_es.host, real_es.port) as proxy:
        proxy.faults.add(status=503, times=2)  # two attempts answered 503 by the proxy, then real
        async with AsyncElasticsearch(proxy.url, retry_on_status=(503,), max_retries=3) as es:
            await es.search(index=index, query={"match_all": {}})
    [span] = finished(span_exporter)
    attempts = [r for r in proxy.requests if r.path.startswith(f"/{index}/_search")]
    assert len(attempts) == 3
    if on:
        assert {r.header("traceparent") for r in attempts} == {_traceparent(span)}
    else:
        assert [_trace_headers(r) for r in attempts] == [{}, {}, {}]


@pytest.mark.parametrize("on", [True, False], ids=["propagating", "off"])
async def test_weaviate_rest_requests_carry_the_call_span(
    real_weaviate: support.Weaviate, instrumented: Any, span_exporter: Any, on: bool
) -> None:
    async with FaultProxy(real_weaviate.host, real_weaviate.http_port) as proxy:
        client: Optional[weaviate.WeaviateAsyncClient] = weaviate.use_async_with_custom(
            http_host="127.0.0.1",
            http_port=proxy.port,
            http_secure=False,
            grpc_host=real_weaviate.host,
            grpc_port=real_weaviate.grpc_port,
            grpc_secure=False,
            skip_init_checks=True,
        )
        assert client is not None
        await client.connect()
        try:
            instrumented(propagate_context=on)
            await client.collections.list_all()
        finally:
            await client.close()
    [span] = [s for s in finished(span_exporter) if s.name == "list_collections"]
    [request] = [r for r in proxy.requests if r.path.startswith("/v1/schema")]
    if on:
        assert request.header("traceparent") == _traceparent(span)
    else:
        assert _trace_headers(request) == {}


async def test_opensearch_every_attempt_carries_the_call_span(
    real_os: support.OpenSearch, instrumented: Any, span_exporter: Any
) -> None:
    instrumented(propagate_context=True)
    async with FaultProxy(real_os.host, real_os.port) as proxy:
        proxy.faults.add(path=r"^/propagation-os", status=503, times=1)
        async with AsyncOpenSearch([proxy.url], retry_on_status=(503,), max_retries=2) as client:
            await client.indices.exists(index="propagation-os")
    [span] = finished(span_exporter)
    attempts = [r for r in proxy.requests if r.path.startswith("/propagation-os")]
    assert len(attempts) == 2
    assert [r.header("traceparent") for r in attempts] == [_traceparent(span)] * 2


async def test_weaviate_every_request_of_a_session_carries_its_call_span(
    real_weaviate: support.Weaviate,
    new_collection: Any,
    instrumented: Any,
    span_exporter: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An ordinary session, with the init checks on (``connect``'s OIDC discovery and gRPC health
    check; the PyPI version check, on the internet, replaced by nothing): every REST request and
    every gRPC call reaches the server with the span of the call that made it."""
    monkeypatch.setattr(
        ConnectionAsync, "_check_package_version", lambda self, colour: executor.empty(colour)
    )
    instrumented(propagate_context=True)
    name = new_collection("Propagation")
    streamed = False
    async with FaultProxy(real_weaviate.host, real_weaviate.http_port) as proxy:
        async with GrpcRecorder(real_weaviate.host, real_weaviate.grpc_port) as recorder:
            client = weaviate.use_async_with_custom(
                http_host="127.0.0.1",
                http_port=proxy.port,
                http_secure=False,
                grpc_host="127.0.0.1",
                grpc_port=recorder.port,
                grpc_secure=False,
            )
            await client.connect()
            try:
                assert not await client.collections.exists(name)
                movies = await client.collections.create(
                    name,
                    properties=[wvc.config.Property(name="t", data_type=wvc.config.DataType.TEXT)],
                    vector_config=wvc.config.Configure.Vectors.self_provided(),
                )
                await movies.data.insert({"t": "Alien"}, vector=[1.0, 0.0])
                await movies.data.insert_many(
                    [wvc.data.DataObject(properties={"t": "Heat"}, vector=[0.0, 1.0])]
                )
                if hasattr(movies.batch, "stream"):  # weaviate-client 4.20 on
                    async with movies.batch.stream() as batch:
                        await batch.add_object({"t": "Ran"}, vector=[0.5, 0.5])
                    streamed = True
                await movies.query.fetch_objects(limit=2)
                await movies.query.near_vector([1.0, 0.0], limit=1)
                await movies.aggregate.over_all(total_count=True)
                assert await client.collections.exists(name)
                await client.collections.delete(name)
            finally:
                await client.close()
    spans = finished(span_exporter)
    assert streamed == [s.name.startswith("batch.stream") for s in spans].count(True)
    by_traceparent: Dict[str, str] = {_traceparent(s): s.name for s in spans}
    assert len(by_traceparent) == len(spans)
    rest = [(f"{r.method} {r.path.split('?')[0]}", r.header("traceparent")) for r in proxy.requests]
    grpc_calls = [(c.method, c.metadata.get("traceparent")) for c in recorder.calls]
    # which call's span each request carried, in the order they were sent
    carried: List[Any] = [
        (request, by_traceparent.get(value or "", value)) for request, value in rest + grpc_calls
    ]
    schema = f"/v1/schema/{name}"
    for expected in [
        ("GET /v1/.well-known/openid-configuration", "connect"),
        ("GET /v1/meta", "connect"),
        ("/grpc.health.v1.Health/Check", "connect"),
        (f"GET {schema}", f"collection_exists {name}"),
        ("POST /v1/schema", f"create_collection {name}"),
        ("POST /v1/objects", f"insert {name}"),
        ("/weaviate.v1.Weaviate/BatchObjects", f"insert_many {name}"),
        *(
            ("/weaviate.v1.Weaviate/BatchStream", span.name)
            for span in spans
            if span.name.startswith("batch.stream")
        ),
        ("/weaviate.v1.Weaviate/Search", f"fetch_objects {name}"),
        ("/weaviate.v1.Weaviate/Search", f"near_vector {name}"),
        ("/weaviate.v1.Weaviate/Aggregate", f"aggregate {name}"),
        (f"DELETE {schema}", f"delete_collection {name}"),
    ]:
        assert expected in carried, carried
    assert all(span in by_traceparent.values() for _, span in carried), carried


@pytest.mark.parametrize("node_class", ["aiohttp", "httpxasync"])
async def test_elasticsearch_one_trace_per_request_with_both_backends(
    real_es: support.Elasticsearch,
    index: str,
    instrumented: Any,
    make_agent: Any,
    span_exporter: Any,
    node_class: str,
) -> None:
    """OpenTelemetry and an APM transaction both record, and the application sends a stale
    ``Traceparent`` of its own: each request reaches Elasticsearch (which refuses two values) with
    one value of each trace header, all of the APM span's trace."""
    agent = make_agent()
    instrumented(propagate_context=True, backends=["otel", "apm"])
    stale = "00-11111111111111111111111111111111-2222222222222222-01"
    async with FaultProxy(real_es.host, real_es.port) as proxy:
        async with AsyncElasticsearch(proxy.url, node_class=node_class) as es:
            agent.begin_transaction("request")
            await es.search(index=index, query={"match_all": {}})
            await es.perform_request(
                "POST",
                f"/{index}/_search",
                headers={
                    "accept": "application/json",
                    "content-type": "application/json",
                    "Traceparent": stale,
                },
                body={"query": {"match_all": {}}},
            )
            transaction = agent.end_transaction("GET /movies", "HTTP 2xx")
    requests = [r for r in proxy.requests if r.path.startswith(f"/{index}/_search")]
    assert len(requests) == 2
    for request in requests:
        names = sorted(k.lower() for k, _ in request.headers if k.lower() in TRACE_HEADERS)
        assert names == sorted(TRACE_HEADERS)  # one value each
        traceparent = request.header("traceparent")
        assert traceparent == request.header("elastic-apm-traceparent")
        assert traceparent.split("-")[1] == transaction.trace_parent.trace_id
        assert request.header("tracestate") == "es=s:1.0"
    assert len(finished(span_exporter)) == 2  # recorded, not propagated
