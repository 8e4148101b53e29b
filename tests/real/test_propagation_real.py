"""``propagate_context`` on the wire: what reaches real Elasticsearch and Weaviate servers, as the
fault proxy in front of them records it (each retry too); off, not one header is added."""

from __future__ import annotations

from typing import Any, Optional

import pytest
import weaviate
from elasticsearch import AsyncElasticsearch

from tests.real import support
from tests.real.fault_proxy import FaultProxy
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
