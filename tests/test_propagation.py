"""``propagate_context``: the call's trace context travels in the requests, as the servers receive
them (HTTP headers, gRPC metadata); off, not one extra header is sent."""

from __future__ import annotations

from typing import Any, Dict, List

import elasticapm
import pytest
import weaviate
import weaviate.classes as wvc
from elasticsearch import AsyncElasticsearch
from opensearchpy import AsyncOpenSearch
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

import instrumentation
from tests.support.telemetry import finished

TRACE_HEADERS = {"traceparent", "tracestate", "elastic-apm-traceparent"}


def _traceparent(span: Any) -> str:
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def _trace_headers(headers: Dict[str, str]) -> Dict[str, str]:
    return {key: value for key, value in headers.items() if key.lower() in TRACE_HEADERS}


async def _es_calls(url: str) -> None:
    async with AsyncElasticsearch(url) as es:
        await es.indices.create(index="movies")
        await es.search(index="movies", query={"match_all": {}})


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
async def test_elasticsearch_requests_carry_the_call_span(
    instrumented: Any, elasticsearch_server: Any, span_exporter: Any, on: bool
) -> None:
    instrumented(propagate_context=on)
    await _es_calls(elasticsearch_server.url)
    requests = [r for r in elasticsearch_server.requests if r.path.startswith("/movies")]
    spans = finished(span_exporter)
    assert [s.name for s in spans] == ["indices.create movies", "search movies"]
    if on:
        assert [r.headers["traceparent"] for r in requests] == [_traceparent(s) for s in spans]
    else:
        assert [_trace_headers(r.headers) for r in requests] == [{}, {}]


async def test_every_retry_carries_the_same_span(
    instrumented: Any, elasticsearch_server: Any, span_exporter: Any
) -> None:
    instrumented(propagate_context=True)
    elasticsearch_server.faults.add(path="/movies/_search", status=503, times=2)
    async with AsyncElasticsearch(elasticsearch_server.url, retry_on_status=(503,)) as es:
        await es.options(ignore_status=404).search(index="movies", query={"match_all": {}})
    attempts = [r for r in elasticsearch_server.requests if r.path == "/movies/_search"]
    [span] = finished(span_exporter)
    assert len(attempts) == 3
    assert {r.headers["traceparent"] for r in attempts} == {_traceparent(span)}


async def test_sampled_out_call_propagates_with_the_sampled_flag_off(
    elasticsearch_server: Any,
) -> None:
    provider = TracerProvider(sampler=ALWAYS_OFF)
    instrumentation.instrument(
        clients=["elasticsearch"],
        backends=["otel"],
        tracer_provider=provider,
        propagate_context=True,
    )
    try:
        await _es_calls(elasticsearch_server.url)
    finally:
        instrumentation.uninstrument()
    headers = [r.headers["traceparent"] for r in elasticsearch_server.requests if r.path != "/"]
    assert len(headers) == 2
    assert all(int(header[-2:], 16) & 0x01 == 0 for header in headers)  # not sampled


async def test_opensearch_requests_carry_the_call_span(
    instrumented: Any, elasticsearch_server: Any, span_exporter: Any
) -> None:
    instrumented(propagate_context=True)
    async with AsyncOpenSearch([elasticsearch_server.url]) as client:
        await client.indices.create(index="movies")
    [span] = finished(span_exporter)
    [request] = [r for r in elasticsearch_server.requests if r.path == "/movies"]
    assert request.headers["traceparent"] == _traceparent(span)


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
async def test_weaviate_rest_headers_and_grpc_metadata_carry_the_call_span(
    instrumented: Any,
    weaviate_client: weaviate.WeaviateAsyncClient,
    weaviate_server: Any,
    span_exporter: Any,
    on: bool,
) -> None:
    instrumented(propagate_context=on)
    movies = await weaviate_client.collections.create(
        "Movie", properties=[wvc.config.Property(name="t", data_type=wvc.config.DataType.TEXT)]
    )
    await movies.query.fetch_objects()
    await weaviate_client.collections.delete("Movie")  # several requests, one span
    create, fetch, delete = finished(span_exporter)
    rest = [r for r in weaviate_server.rest_requests if r.path.startswith("/v1/schema")]
    [search] = [r for r in weaviate_server.grpc_requests if r.method == "Search"]
    if on:
        assert rest[0].headers["traceparent"] == _traceparent(create)
        assert search.metadata["traceparent"] == _traceparent(fetch)
        assert {r.headers["traceparent"] for r in rest[1:]} == {_traceparent(delete)}
    else:
        assert [_trace_headers(r.headers) for r in rest] == [{}] * len(rest)
        assert _trace_headers(search.metadata) == {}


def test_propagation_patches_come_and_go_with_the_option() -> None:
    from weaviate.connect.v4 import ConnectionAsync

    before = dict(ConnectionAsync.__dict__)
    instrumentation.instrument(clients=["weaviate"], propagate_context=False)
    assert "grpc_headers" not in ConnectionAsync.__dict__  # off: nothing extra is wrapped
    instrumentation.uninstrument()
    instrumentation.instrument(clients=["weaviate"], propagate_context=True)
    assert "grpc_headers" in ConnectionAsync.__dict__
    instrumentation.uninstrument()
    assert dict(ConnectionAsync.__dict__) == before


async def test_with_the_apm_backend_alone_the_apm_span_is_propagated(
    agent: elasticapm.Client, apm_intake: Any, elasticsearch_server: Any
) -> None:
    instrumentation.instrument(clients=["elasticsearch"], backends=["apm"], propagate_context=True)
    agent.begin_transaction("request")
    await _es_calls(elasticsearch_server.url)
    agent.end_transaction("GET /movies", "HTTP 2xx")
    await apm_intake.flush(agent)
    spans: List[Any] = apm_intake.spans
    [transaction] = apm_intake.transactions
    headers = [r.headers["traceparent"] for r in elasticsearch_server.requests if r.path != "/"]
    assert headers == [f"00-{transaction['trace_id']}-{span['id']}-01" for span in spans]
