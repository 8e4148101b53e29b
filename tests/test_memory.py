"""Memory: nothing grows with the number of calls, with either backend.

What runs, and why (a CI budget of seconds, not minutes):

* **100,000 operations through our core, per backend.** ``Engine.call`` with the real engine
  and the real backend: a real SDK ``TracerProvider`` and ``MeterProvider`` for OpenTelemetry; a
  real agent ``Client`` in sampled transactions for Elastic APM. The operations go through the
  Elasticsearch client module's own request details, query capture, response and error readers:
  everything of ours on a call's path except the patched client method. Client libraries cost
  100-300 µs a call, which 100,000 times would not fit the budget.
* **The real clients through our wrappers**, fewer calls: ``AsyncElasticsearch`` with an
  in-process node and ``WeaviateAsyncClient`` with an in-process gRPC stub (see
  ``tests.support.in_process``), instrumented with both backends.

How growth is measured: after a warm-up (caches, the SDK's instruments, the agent's first
transaction), ``sys.getallocatedblocks()`` over the whole run, which costs nothing per call and
catches a leak of even one small object every hundred calls; and a ``tracemalloc`` snapshot diff
over the last 5,000 operations (``tracemalloc`` makes every allocation 3-4 times slower, so not
over all 100,000), which names the lines that allocated whatever stayed. The agent sends nothing
here (``disable_send``): its send buffer and the intake's store would be noise, not ours.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from typing import Any, Awaitable, Callable, Iterator, List, Optional

import elasticapm
import pytest
from elasticsearch import NotFoundError
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from instrumentation._config import build_settings
from instrumentation._engine import Backend, Engine
from instrumentation.backends.apm import ElasticApmBackend
from instrumentation.backends.otel import OpenTelemetryBackend
from instrumentation.clients import elasticsearch as es_client
from tests.servers.apm_intake import close_apm_client
from tests.support.in_process import in_process_elasticsearch, use_gate

#: The work here is bounded by the number of calls, not by a clock: ~35 s on an idle machine, and as
#: many times that as the machine is busy. Room for a loaded CI runner, not a limit on speed.
pytestmark = pytest.mark.timeout(600)

CORE_CALLS = 100_000
CLIENT_CALLS = 2_000
TRACED_WINDOW = 5_000
#: Allowed growth whatever the number of calls: interpreter and library jitter, far below a leak.
ALLOWED_BLOCKS = 500
ALLOWED_BYTES = 48 * 1024
PER_TRANSACTION = 100

Run = Callable[[int], Awaitable[None]]


class Discard(SpanExporter):
    """Exports nowhere (an in-memory exporter would be the leak)."""

    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


class Growth:
    def __init__(self, blocks: int, traced_bytes: int, top: List[str]) -> None:
        self.blocks = blocks
        self.traced_bytes = traced_bytes
        self.top = top

    def __repr__(self) -> str:
        return f"{self.blocks} blocks, {self.traced_bytes} B; top: " + "\n".join(self.top)


async def growth(run: Run, calls: int, window: int, warm_up: int) -> Growth:
    """What ``run(calls)`` left allocated, measured as the module docstring says."""
    await run(warm_up)
    gc.collect()
    blocks = sys.getallocatedblocks()
    await run(calls - window)
    gc.collect()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    await run(window)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    diff = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "lineno")
    traced_bytes = sum(stat.size_diff for stat in diff)
    top = [str(stat) for stat in diff[:10]]
    del before, after, diff
    gc.collect()
    return Growth(sys.getallocatedblocks() - blocks, traced_bytes, top)


def assert_no_growth(grown: Growth) -> None:
    assert grown.blocks < ALLOWED_BLOCKS, grown
    assert grown.traced_bytes < ALLOWED_BYTES, grown


# -- 100,000 operations through the core, per backend -------------------------------------------
class _Response:
    meta = None
    body = {"hits": {"hits": [{"_id": "1"}]}}


async def _answer() -> Any:
    return _Response()


async def _fail() -> Any:
    raise NotFoundError("not found", None, {"error": "missing"})  # type: ignore[arg-type]


BODY = {
    "query": {"bool": {"must": [{"match": {"title": "alien"}}, {"range": {"year": {"gte": 1}}}]}}
}


def core_run(engine: Engine, agent: Optional[Any] = None) -> Run:
    """Searches on 50 indices: one in ten with a body to capture, one in ten failing."""

    async def run(calls: int) -> None:
        for number in range(calls):
            if agent is not None and number % PER_TRANSACTION == 0:
                if number:
                    agent.end_transaction("GET /movies", "HTTP 2xx")
                agent.begin_transaction("request")
            op = es_client.ApiRecord(
                "elasticsearch", "search", f"movies-{number % 50}", {"id": str(number)}
            )
            if number % 10 == 1:
                op.body = BODY
            failing = number % 10 == 0
            try:
                await engine.call(op, es_client.API, (_fail if failing else _answer)())
            except NotFoundError:
                assert failing
        if agent is not None:
            agent.end_transaction("GET /movies", "HTTP 2xx")

    return run


@pytest.fixture
def otel_backend() -> Iterator[Backend]:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(Discard()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    settings = build_settings(
        backends=["otel"], tracer_provider=tracer_provider, meter_provider=meter_provider, env={}
    )
    yield OpenTelemetryBackend(settings)
    tracer_provider.shutdown()
    meter_provider.shutdown()


@pytest.fixture
def silent_agent() -> Iterator[Any]:
    """A real agent client that sends nothing."""
    client = elasticapm.Client(
        service_name="memory",
        disable_send=True,
        # The agent's sender thread re-creates its (empty) gzip buffer every api_request_time:
        # 256 KiB of zlib state that would land in the measured window now and then.
        api_request_time="3600s",
        instrument=False,
        metrics_interval="0ms",
        central_config=False,
        cloud_provider="none",
        disable_log_record_factory=True,
        span_compression_enabled=False,
    )
    try:
        yield client
    finally:
        close_apm_client(client)


async def test_no_growth_over_100_000_operations_with_the_otel_backend(
    otel_backend: Backend,
) -> None:
    run = core_run(Engine([otel_backend]))
    assert_no_growth(await growth(run, CORE_CALLS, TRACED_WINDOW, warm_up=2_000))


async def test_no_growth_over_100_000_operations_with_the_apm_backend(silent_agent: Any) -> None:
    settings = build_settings(backends=["apm"], env={})
    run = core_run(Engine([ElasticApmBackend(settings)]), silent_agent)
    assert_no_growth(await growth(run, CORE_CALLS, TRACED_WINDOW, warm_up=2_000))


# -- the real clients through our wrappers ------------------------------------------------------
@pytest.fixture
async def clients(weaviate_client: Any) -> Any:
    async with in_process_elasticsearch() as es:
        use_gate(es, weaviate_client, None)
        yield es, weaviate_client


async def test_no_growth_over_real_client_calls_with_both_backends(
    clients: Any, instrumented: Any, silent_agent: Any
) -> None:
    """Measured against the same calls uninstrumented: the client libraries have bounded caches
    of their own, which are not ours to judge."""
    es, weaviate_client = clients
    provider = TracerProvider()  # the fixture's provider keeps every span: export nowhere instead
    provider.add_span_processor(SimpleSpanProcessor(Discard()))
    movies = weaviate_client.collections.use("Movie")

    async def run(calls: int) -> None:
        for number in range(calls // 2):
            if number % PER_TRANSACTION == 0:
                if number:
                    silent_agent.end_transaction("GET /movies", "HTTP 2xx")
                silent_agent.begin_transaction("request")
            assert (await es.get(index="load", id=str(number % 50)))["found"]
            assert (await movies.query.fetch_objects(limit=1)).objects == []
        silent_agent.end_transaction("GET /movies", "HTTP 2xx")

    plain = await growth(run, CLIENT_CALLS, CLIENT_CALLS // 2, warm_up=400)
    instrumented(tracer_provider=provider, backends=["otel", "apm"])
    traced = await growth(run, CLIENT_CALLS, CLIENT_CALLS // 2, warm_up=400)
    added = Growth(
        traced.blocks - max(plain.blocks, 0),
        traced.traced_bytes - max(plain.traced_bytes, 0),
        traced.top,
    )
    assert_no_growth(added)
    provider.shutdown()
