"""``propagate_context``: the call's trace context travels in the requests, as the servers receive
them (HTTP headers, gRPC metadata); off, not one extra header is sent."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Optional, Set

import elasticapm
import pytest
import weaviate
import weaviate.classes as wvc
from elasticsearch import AsyncElasticsearch
from opensearchpy import AsyncOpenSearch
from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import instrumentation
from instrumentation.backends import _w3c
from tests.support.telemetry import finished
from tests.support.weaviate import needs_batch_stream

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


@needs_batch_stream
@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
async def test_weaviate_batch_stream_carries_its_span(
    instrumented: Any,
    weaviate_client: weaviate.WeaviateAsyncClient,
    weaviate_server: Any,
    span_exporter: Any,
    on: bool,
) -> None:
    """``batch.stream()``: the bidirectional stream's metadata (read in its first step, inside
    the stream's span) carries that span."""
    movies = await weaviate_client.collections.create(
        "Movie", properties=[wvc.config.Property(name="t", data_type=wvc.config.DataType.TEXT)]
    )
    instrumented(propagate_context=on)
    async with movies.batch.stream() as batch:
        for number in range(3):
            await batch.add_object({"t": f"t{number}"})
    [stream] = [s for s in finished(span_exporter) if s.name == "batch.stream"]
    requests = [r for r in weaviate_server.grpc_requests if r.method == "BatchStream"]
    assert requests
    if on:
        assert {r.metadata.get("traceparent") for r in requests} == {_traceparent(stream)}
    else:
        assert [_trace_headers(r.metadata) for r in requests] == [{}] * len(requests)


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


# -- the fast path: the same headers as the global propagator -----------------------------------
class _Custom(TextMapPropagator):
    """A vendor's propagator beside W3C: its header must still be written."""

    def extract(self, carrier: Any, context: Any = None, getter: Any = None) -> Any:
        return context

    def inject(self, carrier: Any, context: Any = None, setter: Any = None) -> None:
        span_context = trace.get_current_span(context).get_span_context()
        carrier["x-vendor-trace"] = f"{span_context.trace_id:x}"

    @property
    def fields(self) -> Set[str]:
        return {"x-vendor-trace"}


_PROPAGATORS: Dict[str, Callable[[], TextMapPropagator]] = {
    # What the API builds with no OTEL_PROPAGATORS (the SDK and opentelemetry-distro leave it).
    "default": lambda: CompositePropagator(
        [TraceContextTextMapPropagator(), W3CBaggagePropagator()]
    ),
    "tracecontext": TraceContextTextMapPropagator,
    "with-vendor": lambda: CompositePropagator(
        [TraceContextTextMapPropagator(), W3CBaggagePropagator(), _Custom()]
    ),
    "none": lambda: CompositePropagator([]),
}


@pytest.fixture
def global_propagator() -> Iterator[Callable[[TextMapPropagator], None]]:
    before = propagate.get_global_textmap()
    yield propagate.set_global_textmap
    propagate.set_global_textmap(before)


def _call_context(sampled: bool, tracestate: Optional[str], with_baggage: bool) -> Any:
    """A call span's context as the backend injects it: its parent continued from an upstream
    request (with that request's ``tracestate``), and the application's baggage, if any."""
    upstream = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState.from_header([tracestate]) if tracestate else TraceState(),
    )
    parent = trace.set_span_in_context(NonRecordingSpan(upstream))
    if with_baggage:
        parent = baggage.set_baggage("tenant", "acme", parent)
    provider = TracerProvider(sampler=ALWAYS_ON if sampled else ALWAYS_OFF)
    span = provider.get_tracer("test").start_span("search movies", parent)
    return span, trace.set_span_in_context(span, parent)


@pytest.mark.parametrize("propagator", list(_PROPAGATORS))
@pytest.mark.parametrize("with_baggage", [False, True], ids=["no-baggage", "baggage"])
@pytest.mark.parametrize("tracestate", [None, "es=s:1.0,congo=t61rcWkgMzE"], ids=["", "tracestate"])
@pytest.mark.parametrize("sampled", [True, False], ids=["sampled", "sampled-out"])
def test_the_headers_written_are_the_global_propagator_s(
    global_propagator: Callable[[TextMapPropagator], None],
    propagator: str,
    with_baggage: bool,
    tracestate: Optional[str],
    sampled: bool,
) -> None:
    global_propagator(_PROPAGATORS[propagator]())
    span, context = _call_context(sampled, tracestate, with_baggage)
    expected: Dict[str, str] = {}
    propagate.inject(expected, context=context)
    given: Dict[str, str] = {}
    _w3c.inject(given, span, context)
    current: Dict[str, str] = {}  # the context not given: the current one, the span set in it
    token = otel_context.attach(context)
    try:
        _w3c.inject(current, span)
    finally:
        otel_context.detach(token)
    assert given == current == expected
    assert list(given) == list(expected)  # and in the same order
    if propagator != "none":
        assert given["traceparent"].endswith("-01" if sampled else "-00")


@pytest.mark.parametrize(
    ("propagator", "with_baggage", "through_inject"),
    [
        ("default", False, False),
        ("tracecontext", False, False),
        ("default", True, True),
        ("with-vendor", False, True),
        ("none", False, True),
    ],
)
def test_only_plain_w3c_without_baggage_skips_the_propagator(
    global_propagator: Callable[[TextMapPropagator], None],
    monkeypatch: pytest.MonkeyPatch,
    propagator: str,
    with_baggage: bool,
    through_inject: bool,
) -> None:
    global_propagator(_PROPAGATORS[propagator]())
    calls: List[Any] = []
    real_inject = propagate.inject
    monkeypatch.setattr(
        propagate, "inject", lambda *args, **kwargs: calls.append(real_inject(*args, **kwargs))
    )
    span, context = _call_context(True, None, with_baggage)
    _w3c.inject({}, span, context)
    assert len(calls) == (1 if through_inject else 0)


async def test_tracestate_and_baggage_reach_the_server(
    instrumented: Any, elasticsearch_server: Any, span_exporter: Any
) -> None:
    """A call inside an incoming request's trace (its ``tracestate``) and the application's
    baggage: the request carries all three, as the propagator writes them."""
    instrumented(propagate_context=True)
    span, parent = _call_context(True, "es=s:1.0", with_baggage=True)
    span.end()
    token = otel_context.attach(parent)
    try:
        await _es_calls(elasticsearch_server.url)
    finally:
        otel_context.detach(token)
    search = finished(span_exporter)[-1]
    [request] = [r for r in elasticsearch_server.requests if r.path == "/movies/_search"]
    assert request.headers["traceparent"] == _traceparent(search)
    assert request.headers["tracestate"] == "es=s:1.0"
    assert request.headers["baggage"] == "tenant=acme"


# -- one trace per request, whatever the backends -------------------------------------------------
async def _apm_and_otel_call(agent: elasticapm.Client, apm_intake: Any, es: Any) -> Dict[str, Any]:
    agent.begin_transaction("request")
    await es.search(index="movies", query={"match_all": {}})
    agent.end_transaction("GET /movies", "HTTP 2xx")
    await apm_intake.flush(agent)
    [transaction] = apm_intake.transactions
    [span] = apm_intake.spans
    return {"trace_id": transaction["trace_id"], "span_id": span["id"]}


@pytest.mark.parametrize("agent_http", [False, True], ids=["agent-http-off", "agent-http-on"])
async def test_with_both_backends_recording_the_request_carries_the_apm_trace_alone(
    instrumented: Any,
    make_agent: Any,
    apm_intake: Any,
    es: Any,
    elasticsearch_server: Any,
    span_exporter: Any,
    agent_http: bool,
) -> None:
    """OpenTelemetry and an APM transaction both record the call: every trace header is the APM
    span's (as the agent's own aiohttp instrumentation, when on, writes it too), none the OTel
    span's."""
    agent = make_agent(instrument=agent_http)
    if agent_http:
        elasticapm.instrument()
    instrumented(propagate_context=True, backends=["otel", "apm"])
    apm_span = await _apm_and_otel_call(agent, apm_intake, es)
    [request] = [r for r in elasticsearch_server.requests if r.path == "/movies/_search"]
    expected = f"00-{apm_span['trace_id']}-{apm_span['span_id']}-01"
    assert _trace_headers(request.headers) == {
        "traceparent": expected,
        "elastic-apm-traceparent": expected,
        "tracestate": "es=s:1.0",
    }
    [otel_span] = finished(span_exporter)  # recorded, in a trace of its own
    assert f"{otel_span.get_span_context().trace_id:032x}" not in request.headers["traceparent"]


async def test_with_both_backends_and_no_transaction_the_otel_span_is_propagated(
    instrumented: Any, agent: elasticapm.Client, elasticsearch_server: Any, span_exporter: Any
) -> None:
    instrumented(propagate_context=True, backends=["otel", "apm"])
    await _es_calls(elasticsearch_server.url)
    spans = finished(span_exporter)
    requests = [r for r in elasticsearch_server.requests if r.path.startswith("/movies")]
    assert [_trace_headers(r.headers) for r in requests] == [
        {"traceparent": _traceparent(s)} for s in spans
    ]


@pytest.mark.parametrize("backends", [["otel"], ["otel", "apm"]], ids=["otel", "otel+apm"])
async def test_the_application_s_own_trace_headers_give_way_to_the_call_s(
    instrumented: Any,
    agent: elasticapm.Client,
    es: Any,
    elasticsearch_server: Any,
    span_exporter: Any,
    backends: List[str],
) -> None:
    """Trace headers the application sends itself with a request (another trace, another letter
    case) are replaced by the call's, not sent beside them."""
    instrumented(propagate_context=True, backends=backends)
    stale = "00-11111111111111111111111111111111-2222222222222222-01"
    await es.perform_request(
        "POST",
        "/movies/_search",
        headers={
            "content-type": "application/json",
            "Traceparent": stale,
            "TraceState": "x=1",
            "Elastic-Apm-Traceparent": stale,
        },
        body={"query": {"match_all": {}}},
    )
    [span] = finished(span_exporter)
    [request] = [r for r in elasticsearch_server.requests if r.path == "/movies/_search"]
    assert _trace_headers(request.headers) == {"traceparent": _traceparent(span)}


async def test_weaviate_exists_look_up_carries_its_span(
    instrumented: Any,
    weaviate_client: weaviate.WeaviateAsyncClient,
    weaviate_server: Any,
    span_exporter: Any,
) -> None:
    """``collections.exists`` builds its request as it is called, before its span starts: the
    request is built inside the span instead, and carries it."""
    instrumented(propagate_context=True)
    assert not await weaviate_client.collections.exists("Movie")
    [span] = finished(span_exporter)
    assert span.name == "collection_exists Movie"
    [request] = [r for r in weaviate_server.rest_requests if r.path == "/v1/schema/Movie"]
    assert request.headers["traceparent"] == _traceparent(span)


async def test_weaviate_connection_traceparent_gives_way_to_the_call_s(
    instrumented: Any, weaviate_server: Any, span_exporter: Any
) -> None:
    """A ``traceparent`` among the connection's own headers (another letter case): each request
    and gRPC call sends the call's instead, one value."""
    from tests.servers.weaviate_rest import connect_async_client

    stale = "00-11111111111111111111111111111111-2222222222222222-01"
    client = await connect_async_client(weaviate_server, headers={"Traceparent": stale})
    try:
        await client.collections.create("Movie")  # before instrument(): no span
        instrumented(propagate_context=True)
        await client.collections.list_all()
        await client.collections.use("Movie").query.fetch_objects()
    finally:
        await client.close()
    listed, fetched = finished(span_exporter)
    [rest] = [
        r for r in weaviate_server.rest_requests if r.method == "GET" and r.path == "/v1/schema"
    ]
    [search] = [r for r in weaviate_server.grpc_requests if r.method == "Search"]
    assert _trace_headers(rest.headers) == {"traceparent": _traceparent(listed)}
    assert _trace_headers(search.metadata) == {"traceparent": _traceparent(fetched)}
