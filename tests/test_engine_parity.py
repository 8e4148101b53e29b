"""One engine: what OpenTelemetry records of a call does not depend on which other backend records it.

Every scenario runs twice on the same servers: with OpenTelemetry alone (the engine runs the
traced call over that one backend's methods) and with OpenTelemetry and Elastic APM both recording
inside an agent transaction (the engine fans each step out to both). The OpenTelemetry output is
compared field by field: span names, kinds, attributes, status, events and parentage, and the
duration metric's points with their attributes. In both runs the metric's duration is each span's
own duration: one window. The scenarios cover every client (and ``tests.support.toy_client``, a
fourth one instrumented through its module and its registration only), errors, cancellation, a
partially failed bulk, the helpers (async generators too), raising hooks and propagation.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, Iterator, List, NamedTuple, Tuple

import pytest
import weaviate.classes as wvc
from elasticsearch import NotFoundError
from elasticsearch.helpers import async_bulk, async_scan
from opensearchpy.exceptions import NotFoundError as OpenSearchNotFound
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.trace import SpanKind
from weaviate.exceptions import WeaviateQueryError

import instrumentation
from instrumentation import _registry
from tests.support.in_flight import HELD_BACK
from tests.support.telemetry import DURATION_METRIC
from tests.support.toy_client import ToyClient, ToyError

TOY = "tests.support.toy_instrumentation"


@pytest.fixture(autouse=True)
def _toy_registered() -> Iterator[None]:
    """The toy client is known while these tests run, and only then."""
    _registry.register(TOY)
    yield
    instrumentation.uninstrument()
    _registry.forget(TOY)


class Clients(NamedTuple):
    es: Any
    opensearch: Any
    weaviate: Any
    toy: ToyClient
    elasticsearch_server: Any


@pytest.fixture
async def clients(
    es: Any, weaviate_client: Any, elasticsearch_server: Any
) -> AsyncIterator[Clients]:
    """The clients, on one Elasticsearch imitation (OpenSearch and the toy client speak its API)."""
    from opensearchpy import AsyncOpenSearch

    toy = ToyClient(elasticsearch_server.url)
    opensearch = AsyncOpenSearch([elasticsearch_server.url])
    await es.index(index="movies", id="0", document={"title": "Alien", "n": 1979}, refresh=True)
    try:
        yield Clients(es, opensearch, weaviate_client, toy, elasticsearch_server)
    finally:
        await toy.close()
        await opensearch.close()


# -- the scenarios ----------------------------------------------------------------------------------
async def es_calls(c: Clients) -> None:
    await c.es.search(index="movies", query={"match": {"title": "secret-alien"}})
    await c.es.count(index="movies")
    with contextlib.suppress(NotFoundError):
        await c.es.get(index="movies", id="missing")


async def es_bulk_partial_failure(c: Clients) -> None:
    await c.es.bulk(
        index="movies",
        operations=[
            {"index": {"_id": "1"}},
            {"title": "fine", "n": 1},
            {"index": {"_id": "2"}},
            {"title": "bad", "n": "secret-bulk-value"},
            {"create": {"_id": "0"}},
            {"title": "exists already"},
        ],
    )


async def es_helpers(c: Clients) -> None:
    actions = [{"_index": "movies", "_id": f"h{n}", "title": f"t{n}"} for n in range(3)]
    await async_bulk(c.es, actions, refresh=True)
    assert [hit async for hit in async_scan(c.es, index="movies", size=2)]


async def es_cancelled(c: Clients) -> None:
    c.elasticsearch_server.faults.add(path="_search", delay=HELD_BACK)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(c.es.search(index="movies"), timeout=0.1)


async def opensearch_calls(c: Clients) -> None:
    await c.opensearch.search(index="movies", body={"query": {"match": {"title": "x"}}})
    with contextlib.suppress(OpenSearchNotFound):
        await c.opensearch.get(index="movies", id="missing")
    await c.opensearch.bulk(body=[{"index": {"_index": "movies", "_id": "o"}}, {"title": "o"}])


async def weaviate_calls(c: Clients) -> None:
    """REST (schema, one object) and gRPC (batch, searches, aggregate), and a failed query."""
    client = c.weaviate
    await client.collections.exists("Parity")
    movies = await client.collections.create(
        "Parity", properties=[wvc.config.Property(name="title", data_type=wvc.config.DataType.TEXT)]
    )
    try:
        await movies.data.insert({"title": "Alien"}, vector=[1.0, 0.0])
        await movies.data.insert_many(
            [
                wvc.data.DataObject(properties={"title": "Heat"}, vector=[0.0, 1.0]),
                wvc.data.DataObject(properties={"title": "Ran"}, vector=[1.0, 1.0]),
            ]
        )
        await movies.query.fetch_objects(limit=2)
        await movies.query.near_vector([1.0, 0.0], limit=1)
        await movies.aggregate.over_all(total_count=True)
        with contextlib.suppress(WeaviateQueryError):
            await client.collections.get("Missing").query.fetch_objects()
    finally:
        await client.collections.delete("Parity")


async def toy_calls(c: Clients) -> None:
    await c.toy.get("movies", "0")
    await c.toy.search("movies", {"match": {"title": "secret-toy"}})
    with contextlib.suppress(ToyError):
        await c.toy.get("movies", "missing")


async def hooks_that_raise(c: Clients) -> None:
    await es_calls(c)
    await toy_calls(c)


async def propagation(c: Clients) -> None:
    await c.es.search(index="movies")
    await c.opensearch.search(index="movies")
    await weaviate_calls(c)


def _raising_hook(*args: Any) -> None:
    raise RuntimeError("hook bug")


Scenario = Tuple[Callable[[Clients], Awaitable[None]], Dict[str, Any]]
SCENARIOS: Dict[str, Scenario] = {
    "elasticsearch": (es_calls, {}),
    "elasticsearch-bulk-partial-failure": (es_bulk_partial_failure, {}),
    "elasticsearch-helpers": (es_helpers, {}),
    "elasticsearch-cancelled": (es_cancelled, {}),
    "opensearch": (opensearch_calls, {}),
    "weaviate-rest-and-grpc": (weaviate_calls, {}),
    "toy-client": (toy_calls, {}),
    "raising-hooks": (
        hooks_that_raise,
        {"request_hook": _raising_hook, "response_hook": _raising_hook},
    ),
    "raw-capture": (es_calls, {"capture_query": "raw"}),
    "propagation": (propagation, {"propagate_context": True}),
}


# -- what OpenTelemetry recorded ------------------------------------------------------------------
_METRIC_KEYS = (
    "db.system.name",
    "db.operation.name",
    "db.collection.name",
    "server.address",
    "server.port",
    "error.type",
)


def _spans(exporter: Any) -> List[Tuple[Any, ...]]:
    spans = exporter.get_finished_spans()
    names = {span.context.span_id: span.name for span in spans}
    return [
        (
            span.name,
            span.kind.name,
            {  # the server's own time (``took``) is the server's, different every run
                key: "<took>" if key.endswith(".took") else value
                for key, value in (span.attributes or {}).items()
            },
            span.status.status_code.name,
            span.status.description,
            [(event.name, dict(event.attributes or {})) for event in span.events],
            names.get(span.parent.span_id) if span.parent is not None else None,
        )
        for span in spans
    ]


def _points(reader: InMemoryMetricReader) -> List[Tuple[Any, ...]]:
    found = []
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data is not None else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    found.append((metric.name, point))
    return found


def _assert_one_window(exporter: Any, points: List[Tuple[str, Any]]) -> None:
    """Each duration point's sum is the sum of the durations of the spans it counts."""
    durations: Dict[Tuple[Any, ...], List[int]] = {}
    for span in exporter.get_finished_spans():
        if span.kind is SpanKind.CLIENT:
            key = tuple(span.attributes.get(name) for name in _METRIC_KEYS)
            durations.setdefault(key, []).append(span.end_time - span.start_time)
    counted = 0
    for name, point in points:
        if name != DURATION_METRIC:
            continue
        key = tuple(point.attributes.get(name) for name in _METRIC_KEYS)
        spans = durations.get(key, [])
        assert point.count == len(spans), (key, point.count, len(spans))
        assert point.sum == pytest.approx(sum(d / 1e9 for d in spans), abs=1e-9), key
        counted += point.count
    assert counted == sum(len(spans) for spans in durations.values())


async def _run(
    scenario: Scenario,
    backends: List[str],
    clients: Clients,
    tracer_provider: Any,
    span_exporter: Any,
    apm: Any,
) -> Tuple[List[Any], List[Any]]:
    run, options = scenario
    span_exporter.clear()
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    instrumentation.instrument(
        clients=["elasticsearch", "opensearch", "weaviate", "toy"],
        backends=backends,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        **options,
    )
    try:
        if "apm" in backends:
            with apm.transaction():
                await run(clients)
            recorded = await apm.spans()
            assert recorded, "Elastic APM recorded nothing: the fan-out was not exercised"
        else:
            await run(clients)
    finally:
        instrumentation.uninstrument()
    points = _points(reader)
    meter_provider.shutdown()
    _assert_one_window(span_exporter, points)
    metric = sorted((name, sorted(point.attributes.items()), point.count) for name, point in points)
    return _spans(span_exporter), metric


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_opentelemetry_output_is_the_same_with_elastic_apm_recording_too(
    name: str, clients: Clients, tracer_provider: Any, span_exporter: Any, apm: Any
) -> None:
    scenario = SCENARIOS[name]
    alone = await _run(scenario, ["otel"], clients, tracer_provider, span_exporter, apm)
    both = await _run(scenario, ["otel", "apm"], clients, tracer_provider, span_exporter, apm)
    assert alone[0], "the scenario recorded no span"
    assert both[0] == alone[0]
    assert both[1] == alone[1]


async def test_the_toy_client_is_traced_through_its_module_and_registration_alone(
    clients: Clients, instrumented: Any, span_exporter: Any
) -> None:
    instrumented(clients=["toy"])
    await toy_calls(clients)
    spans = {span.name: span for span in span_exporter.get_finished_spans()}
    assert set(spans) == {"get movies", "search movies"}
    search = spans["search movies"]
    assert search.kind is SpanKind.CLIENT
    assert search.attributes["db.system.name"] == "toy"
    assert search.attributes["db.query.text"] == '{"query":{"match":{"title":"?"}}}'
    failed = [s for s in span_exporter.get_finished_spans() if s.status.description]
    assert [
        (s.attributes["db.operation.parameter.id"], s.attributes["error.type"]) for s in failed
    ] == [("missing", "404")]
    instrumentation.uninstrument()
    from tests.support.toy_client import ToyClient as Reloaded

    assert "_request" in vars(Reloaded) and not hasattr(Reloaded._request, "__wrapped__")


class _RaisingSampler:
    """A sampler that fails: the SDK's ``start_span`` raises through it."""

    def should_sample(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("sampler bug")

    def get_description(self) -> str:
        return "raising"


@pytest.mark.parametrize("backends", [["otel"], ["otel", "apm"]])
async def test_a_failing_span_start_leaves_opentelemetry_out_of_that_call_on_every_path(
    backends: List[str], clients: Clients, apm: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """No span and no metric point from OpenTelemetry, whichever path the call took; the
    application's result as without us, and one warning."""
    from opentelemetry.sdk.trace import TracerProvider

    expected = await clients.es.search(index="movies", query={"match": {"title": "alien"}})
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    tracer_provider = TracerProvider(sampler=_RaisingSampler())  # type: ignore[arg-type]
    instrumentation.instrument(
        clients=["elasticsearch"],
        backends=backends,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )
    try:
        with apm.transaction():
            response = await clients.es.search(index="movies", query={"match": {"title": "alien"}})
        spans = await apm.spans()
    finally:
        instrumentation.uninstrument()
    assert response.body == expected.body
    assert _points(reader) == []
    assert [span["name"] for span in spans] == (["search movies"] if "apm" in backends else [])
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "otel backend failed; the traced call is unaffected (logged once per cause)"
    ]
