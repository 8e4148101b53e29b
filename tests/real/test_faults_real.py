"""Faults a real server will not produce on demand, injected by ``FaultProxy`` in front of it.

Every scenario runs plain, instrumented (OpenTelemetry and Elastic APM), plain again, each time with
a fresh client through a fresh proxy in front of the real server: the application must see the same
outcome (value, or exception with the same type, message, attributes and cause chain) every time, and
the instrumented run must leave exactly the expected spans, each ended once with the right status
and ``error.type``, one duration point per span, and the matching APM outcomes.

Elasticsearch and Weaviate REST go through the HTTP proxy (answers 500 / 429 / 502, connection
resets, delays, answers cut off half-way, a node that is gone); Weaviate gRPC through the TCP proxy
(connections reset, answers held back, a node that is gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, List, Optional, Tuple

import grpc
import pytest
import weaviate
import weaviate.classes as wvc
from elasticsearch import AsyncElasticsearch
from opentelemetry.trace import StatusCode
from weaviate.classes.init import AdditionalConfig, Timeout

from tests.real import support
from tests.real.fault_proxy import FaultProxy
from tests.real.support import http, weaviate_client_for
from tests.support.apm import apm_outcomes, expected_apm_outcomes
from tests.support.audit import SpanAudit
from tests.support.differential import plain_traced_plain
from tests.support.in_flight import cancel_when
from tests.support.telemetry import duration_points, exception_events, status_of
from tests.support.weaviate import FastAsyncio

Spans = Tuple[Tuple[str, Optional[str]], ...]


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Weaviate client's gRPC retry backoff sleeps, skipped (not slept)."""
    monkeypatch.setattr(weaviate.retry, "asyncio", FastAsyncio())


def check_run(run: Any, spans: Spans, metric_reader: Any, audit: SpanAudit, raises: bool) -> None:
    run.assert_same_outcome()
    assert run.traced.raised is raises, run.traced
    audit.assert_all_ended_once()
    seen = sorted(((span.name, status_of(span)) for span in run.spans), key=str)
    assert seen == sorted(spans, key=str)
    points = duration_points(metric_reader)
    assert sum(point.count for point in points) == len(spans)
    errors = sorted(
        point.attributes.get("error.type") or "" for point in points for _ in range(point.count)
    )
    assert errors == sorted(error or "" for _, error in spans)
    assert apm_outcomes(run.apm_spans) == expected_apm_outcomes(spans)
    for span in run.spans:  # an exception that passed through the call is its event
        if span.status.status_code is StatusCode.ERROR and run.traced.raised:
            if span.attributes.get("db.operation.name") != "list_collections":
                assert exception_events(span), span.name  # (that one: the test below)


# -- Elasticsearch through the HTTP proxy ---------------------------------------------------------
@dataclass(frozen=True)
class EsCase:
    id: str
    call: Callable[[AsyncElasticsearch, EsEnv], Awaitable[Any]]
    spans: Spans
    faults: Tuple[Dict[str, Any], ...] = ()
    client: Dict[str, Any] = field(default_factory=dict)
    hosts: str = "proxy"  # "proxy" | "gone-then-real" (failover)
    requests: Optional[int] = None  # requests the proxy must see per run
    raises: Optional[bool] = None


class EsEnv:
    def __init__(self, real_es: support.Elasticsearch, index: str) -> None:
        self.real = real_es
        self.index = index
        self.proxy: Optional[FaultProxy] = None
        self.ports: List[int] = []

    def mask(self, text: str) -> str:
        """Each run has a proxy of its own, on its own port: the rest of a message must not vary."""
        for port in self.ports:
            text = text.replace(str(port), "<port>")
        return text

    async def prepare(self, case: EsCase) -> None:
        if self.proxy is not None:
            await self.proxy.stop()
        self.proxy = await FaultProxy(self.real.host, self.real.port, lifetime=120).start()
        self.ports.append(self.proxy.port)
        for fault in case.faults:
            self.proxy.faults.add(**fault)
        if case.hosts == "gone-then-real":
            await self.proxy.gone()

    def hosts(self, case: EsCase) -> List[str]:
        assert self.proxy is not None
        if case.hosts == "gone-then-real":
            return [self.proxy.url, self.real.url]
        return [self.proxy.url]

    async def close(self) -> None:
        if self.proxy is not None:
            await self.proxy.stop()


async def _search(es: AsyncElasticsearch, env: EsEnv) -> Any:
    return await es.search(index=env.index, query={"match": {"title": "alien"}})


async def _info(es: AsyncElasticsearch, env: EsEnv) -> Any:
    return await es.info()


async def _search_then_node_gone(es: AsyncElasticsearch, env: EsEnv) -> Any:
    await _search(es, env)
    assert env.proxy is not None
    await env.proxy.gone()
    return await _search(es, env)


async def _cancelled_search(es: AsyncElasticsearch, env: EsEnv) -> Any:
    assert env.proxy is not None
    return await cancel_when(env.proxy.rearm(), _search(es, env))


_GATEWAY_502 = {
    "status": 502,
    "body": "<html><body><h1>502 Bad Gateway</h1></body></html>",
    "headers": {"Content-Type": "text/html"},
}
_RETRYING = {"max_retries": 2, "retry_on_status": (429, 502, 503)}
_ES_429 = {
    "status": 429,
    "body": (
        '{"error":{"root_cause":[{"type":"es_rejected_execution_exception","reason":'
        '"rejected execution of search"}],"type":"es_rejected_execution_exception",'
        '"reason":"rejected execution of search"},"status":429}'
    ),
}

ES_CASES = [
    EsCase(
        "http-500",
        _search,
        (("search {index}", "500"),),
        faults=({"path": "_search", "status": 500, "times": -1},),
        requests=1,
    ),
    EsCase(
        "http-429-retried-then-exhausted",
        _search,
        (("search {index}", "429"),),
        faults=({"path": "_search", **_ES_429, "times": -1},),
        client=_RETRYING,
        requests=3,
    ),
    EsCase(
        "http-429-retried-then-answered",
        _search,
        (("search {index}", None),),
        faults=({"path": "_search", **_ES_429, "times": 1},),
        client=_RETRYING,
        requests=2,
    ),
    EsCase(
        "http-502-from-a-gateway-retried-then-exhausted",
        _search,
        (("search {index}", "502"),),
        faults=({"path": "_search", **_GATEWAY_502, "times": -1},),
        client=_RETRYING,
        requests=3,
    ),
    EsCase(
        "connection-reset-before-the-answer",
        _search,
        (("search {index}", "ConnectionError"),),
        faults=({"path": "_search", "reset": True, "times": -1},),
        client={"max_retries": 1},
        requests=2,
    ),
    EsCase(
        "answer-cut-off-mid-response",
        _search,
        (("search {index}", "ConnectionError"),),
        faults=({"path": "_search", "drop_mid_response": True, "times": -1},),
        client={"max_retries": 0},
        requests=1,
    ),
    EsCase(
        "read-timeout",
        _search,
        (("search {index}", "ConnectionTimeout"),),
        faults=({"path": "_search", "delay": 2.0, "times": -1},),
        client={"request_timeout": 0.2, "max_retries": 0},
        requests=1,
    ),
    EsCase(
        "node-gone-mid-session",
        _search_then_node_gone,
        (("search {index}", None), ("search {index}", "ConnectionError")),
        client={"max_retries": 1},
    ),
    EsCase(
        "failover-from-a-gone-node-to-the-live-one",
        _info,
        (("info", None),),
        client={"max_retries": 2, "randomize_nodes_in_pool": False},
        hosts="gone-then-real",
    ),
    EsCase(
        "cancelled-in-flight",
        _cancelled_search,
        (("search {index}", "CancelledError"),),
        faults=({"path": "_search", "delay": 5.0, "times": -1},),
    ),
]


@pytest.mark.parametrize("case", ES_CASES, ids=[case.id for case in ES_CASES])
async def test_elasticsearch_fault_changes_nothing_the_application_sees(
    case: EsCase,
    real_es: support.Elasticsearch,
    index: str,
    instrumented: Any,
    span_exporter: Any,
    metric_reader: Any,
    audit: SpanAudit,
    apm: Any,
) -> None:
    env = EsEnv(real_es, index)
    http("PUT", f"{real_es.url}/{index}/_doc/1?refresh=true", {"title": "Alien"})
    current: Dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def open_client() -> AsyncIterator[AsyncElasticsearch]:
        await env.prepare(case)
        async with AsyncElasticsearch(env.hosts(case), **case.client) as client:
            current["proxy"] = env.proxy
            yield client
        if case.requests is not None:
            assert env.proxy is not None
            assert len(env.proxy.requests) == case.requests, env.proxy.paths()

    try:
        run = await plain_traced_plain(
            open_client,
            functools.partial(_call, case, env),
            instrumented,
            span_exporter,
            apm=apm,
            mask=env.mask,
        )
    finally:
        await env.close()
    spans = tuple((name.format(index=index), error) for name, error in case.spans)
    raises = case.spans[-1][1] is not None if case.raises is None else case.raises
    check_run(run, spans, metric_reader, audit, raises)
    if case.hosts == "gone-then-real":
        [span] = run.spans
        assert span.attributes["server.port"] == real_es.port  # the node that answered
    if case.id == "http-500":
        [span] = run.spans
        assert span.status.description == "proxy_fault: injected by the fault proxy"
    if case.id == "http-429-retried-then-exhausted":
        [span] = run.spans
        assert span.status.description == (
            "es_rejected_execution_exception: rejected execution of search"
        )
        assert span.attributes["db.response.status_code"] == "429"


async def _call(case: EsCase, env: EsEnv, client: AsyncElasticsearch) -> Any:
    return await case.call(client, env)


async def test_the_proxy_records_the_requests_it_forwards(
    real_es: support.Elasticsearch, index: str, instrumented: Any, span_exporter: Any
) -> None:
    """Method, path and headers of what went over the wire, for the trace-context tests."""
    instrumented()
    async with FaultProxy(real_es.host, real_es.port) as proxy:
        async with AsyncElasticsearch(proxy.url) as es:
            await es.search(index=index, query={"match_all": {}})
    [request] = proxy.requests
    assert (request.method, request.path) == ("POST", f"/{index}/_search")
    assert request.header(
        "content-type",
    ).startswith("application/vnd.elasticsearch+json")
    assert request.header("user-agent").startswith("elasticsearch-py/")
    assert request.body_size > 0
    [span] = span_exporter.get_finished_spans()
    assert span.attributes["server.port"] == proxy.port
    assert span.attributes["url.full"] == f"{proxy.url}/{index}/_search"


# -- Weaviate through the HTTP proxy (REST) and the TCP proxy (gRPC) ----------------------------
@dataclass(frozen=True)
class WvCase:
    id: str
    call: Callable[[Any, WvEnv], Awaitable[Any]]
    spans: Spans
    rest_faults: Tuple[Dict[str, Any], ...] = ()
    grpc: str = ""  # "reset-next", "delay", "gone" (applied after connecting)
    client: Dict[str, Any] = field(default_factory=dict)
    raises: Optional[bool] = None


class WvEnv:
    def __init__(self, real: support.Weaviate, collection: str) -> None:
        self.real = real
        self.collection = collection
        self.rest: Optional[FaultProxy] = None
        self.grpc: Optional[FaultProxy] = None
        self.ports: List[int] = []

    async def prepare(self) -> None:
        await self.close()
        self.rest = await FaultProxy(self.real.host, self.real.http_port, lifetime=120).start()
        self.grpc = await FaultProxy(
            self.real.host, self.real.grpc_port, mode="tcp", lifetime=120
        ).start()
        self.ports += [self.rest.port, self.grpc.port]

    def arm(self, case: WvCase) -> None:
        assert self.rest is not None and self.grpc is not None
        for fault in case.rest_faults:
            self.rest.faults.add(**fault)
        if case.grpc == "reset-next":
            self.grpc.reset_next_request()
        elif case.grpc == "delay":
            self.grpc.delay_answers(2.0)

    def mask(self, text: str) -> str:
        """The proxies' ports differ between runs: the rest of a message must not."""
        for port in self.ports:
            text = text.replace(str(port), "<port>")
        return text

    async def close(self) -> None:
        for proxy in (self.rest, self.grpc):
            if proxy is not None:
                await proxy.stop()


def _movies(client: Any, env: WvEnv) -> Any:
    return client.collections.use(env.collection)


async def _fetch(client: Any, env: WvEnv) -> Any:
    return await _movies(client, env).query.fetch_objects()


async def _insert(client: Any, env: WvEnv) -> Any:
    return await _movies(client, env).data.insert(
        {"title": "new"}, uuid="10000000-0000-0000-0000-000000000001"
    )


async def _list(client: Any, env: WvEnv) -> Any:
    return sorted(name for name in await client.collections.list_all() if name == env.collection)


async def _fetch_then_gone(client: Any, env: WvEnv) -> Any:
    await _fetch(client, env)
    assert env.grpc is not None
    await env.grpc.gone()
    await _channel_saw_its_connection_go(client)
    return await _fetch(client, env)


async def _channel_saw_its_connection_go(client: Any) -> None:
    """Wait until the client's gRPC channel has left READY (it saw the reset): the next call then
    finds the node gone (connection refused) however busy the machine, instead of racing the reset
    on the old connection (connection reset by peer) in some runs only."""
    channel = client._connection._grpc_channel
    state = channel.get_state()
    while state is grpc.ChannelConnectivity.READY:
        await channel.wait_for_state_change(state)
        state = channel.get_state()


async def _insert_then_gone(client: Any, env: WvEnv) -> Any:
    await _insert(client, env)
    assert env.rest is not None
    await env.rest.gone()
    return await _insert(client, env)


async def _fetch_reset_mid_call(client: Any, env: WvEnv) -> Any:
    """The answer is held back; while the call waits for it, the node goes (connection reset,
    new connections refused): the client's retries find no server."""
    assert env.grpc is not None
    arrived = env.grpc.rearm()
    task = asyncio.ensure_future(_fetch(client, env))
    await arrived.wait()
    await env.grpc.gone()
    return await task


async def _cancelled_fetch(client: Any, env: WvEnv) -> Any:
    assert env.grpc is not None
    return await cancel_when(env.grpc.rearm(), _fetch(client, env))


async def _cancelled_insert(client: Any, env: WvEnv) -> Any:
    assert env.rest is not None
    return await cancel_when(env.rest.rearm(), _insert(client, env))


_WV_500 = {"status": 500, "body": '{"error":[{"message":"injected by the fault proxy"}]}'}

WV_CASES = [
    WvCase(
        "rest-500-insert",
        _insert,
        (("insert {name}", "500"),),
        rest_faults=({"path": r"^/v1/objects$", "method": "POST", **_WV_500, "times": -1},),
    ),
    WvCase(
        "rest-429-list-collections",
        _list,
        (("list_collections", "429"),),
        rest_faults=({"path": r"^/v1/schema$", "method": "GET", "status": 429, "times": -1},),
    ),
    WvCase(
        "rest-502-from-a-gateway-insert",
        _insert,
        (("insert {name}", "502"),),
        rest_faults=({"path": r"^/v1/objects$", **_GATEWAY_502, "times": -1},),
    ),
    WvCase(
        "rest-connection-reset",
        _insert,
        (("insert {name}", "ReadError"),),  # httpx's, not wrapped by the client
        rest_faults=({"path": r"^/v1/objects$", "reset": True, "times": -1},),
    ),
    WvCase(
        "rest-answer-cut-off-mid-response",
        _insert,
        (("insert {name}", "ReadError"),),
        rest_faults=({"path": r"^/v1/objects$", "drop_mid_response": True, "times": -1},),
    ),
    WvCase(
        "rest-read-timeout",
        _insert,
        (("insert {name}", "WeaviateTimeoutError"),),
        rest_faults=({"path": r"^/v1/objects$", "delay": 2.0, "times": -1},),
        client={"additional_config": AdditionalConfig(timeout=Timeout(insert=0.3))},
    ),
    WvCase(
        "rest-node-gone-mid-session",
        _insert_then_gone,
        (("insert {name}", None), ("insert {name}", "WeaviateConnectionError")),
    ),
    WvCase(
        "rest-cancelled-in-flight",
        _cancelled_insert,
        (("insert {name}", "CancelledError"),),
        rest_faults=({"path": r"^/v1/objects$", "delay": 5.0, "times": -1},),
    ),
    WvCase(
        "grpc-connection-reset-mid-call-and-node-gone",
        _fetch_reset_mid_call,
        (("fetch_objects {name}", "UNAVAILABLE"),),
        grpc="delay",
    ),
    WvCase(
        "grpc-deadline-exceeded-for-real",
        _fetch,
        (("fetch_objects {name}", "DEADLINE_EXCEEDED"),),
        grpc="delay",
        client={"additional_config": AdditionalConfig(timeout=Timeout(query=0.3))},
    ),
    WvCase(
        "grpc-node-gone-mid-session",
        _fetch_then_gone,
        (("fetch_objects {name}", None), ("fetch_objects {name}", "UNAVAILABLE")),
    ),
    WvCase(
        "grpc-cancelled-in-flight",
        _cancelled_fetch,
        (("fetch_objects {name}", "CancelledError"),),
        grpc="delay",
    ),
]


@pytest.mark.parametrize("case", WV_CASES, ids=[case.id for case in WV_CASES])
async def test_weaviate_fault_changes_nothing_the_application_sees(
    case: WvCase,
    real_weaviate: support.Weaviate,
    new_collection: Any,
    wv: Any,
    instrumented: Any,
    span_exporter: Any,
    metric_reader: Any,
    audit: SpanAudit,
    apm: Any,
) -> None:
    name = new_collection("Fault")
    movies = await wv.collections.create(
        name,
        properties=[wvc.config.Property(name="title", data_type=wvc.config.DataType.TEXT)],
        vector_config=wvc.config.Configure.Vectors.self_provided(),
    )
    await movies.data.insert({"title": "Alien"}, uuid="00000000-0000-0000-0000-000000000001")
    env = WvEnv(real_weaviate, name)

    @contextlib.asynccontextmanager
    async def open_client() -> AsyncIterator[Any]:
        await env.prepare()
        assert env.rest is not None and env.grpc is not None
        client = weaviate_client_for(
            real_weaviate, http_port=env.rest.port, grpc_port=env.grpc.port, **case.client
        )
        await client.connect()
        try:
            await client.collections.use(name).query.fetch_objects(limit=1)  # gRPC channel up
            http("DELETE", f"{real_weaviate.http_url}/v1/objects/{name}/{_NEW}")
            env.arm(case)
            yield client
        finally:
            await client.close()

    async def call(client: Any) -> Any:
        return await case.call(client, env)

    try:
        run = await plain_traced_plain(
            open_client, call, instrumented, span_exporter, apm=apm, mask=env.mask
        )
    finally:
        await env.close()
    spans = tuple((span.format(name=name), error) for span, error in case.spans)
    raises = case.spans[-1][1] is not None if case.raises is None else case.raises
    check_run(run, spans, metric_reader, audit, raises)
    if case.id == "rest-500-insert":
        [span] = run.spans
        assert span.status.description == "injected by the fault proxy"


_NEW = "10000000-0000-0000-0000-000000000001"


async def test_an_error_the_client_raises_after_the_answer_is_an_exception_event(
    real_weaviate: support.Weaviate, instrumented: Any, span_exporter: Any
) -> None:
    """docs/attributes.md: "When an exception was raised, it is recorded as an ``exception``
    event". ``collections.list_all()`` sends ``GET /v1/schema`` with no expected status codes and
    raises ``UnexpectedStatusCodeError`` itself once ``_send`` has returned the 429: the span is
    ERROR (429) but, ended before the raise, has no exception event."""
    async with FaultProxy(real_weaviate.host, real_weaviate.http_port) as rest:
        client = weaviate_client_for(real_weaviate, http_port=rest.port)
        await client.connect()
        try:
            rest.faults.add(r"^/v1/schema$", method="GET", status=429, times=-1)
            instrumented()
            with pytest.raises(weaviate.exceptions.UnexpectedStatusCodeError):
                await client.collections.list_all()
        finally:
            await client.close()
    [span] = span_exporter.get_finished_spans()
    assert span.name == "list_collections"
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "429"
    [event] = exception_events(span)
    assert event.attributes["exception.type"].endswith("UnexpectedStatusCodeError")
