"""One client process per configuration: set up, warm up, then run measured blocks on command.

A fresh process per configuration keeps everything (imports, patched classes, caches, a global
TracerProvider, the APM agent) from leaking from one configuration into the next. The runner keeps
one such process per configuration alive and hands out blocks of calls to them in turn, so that
every configuration is measured in every stretch of time and a noisy neighbour on the machine
weighs on all of them alike.

The measured number is ``time.process_time()`` around a block: the CPU of every thread of this
process (the APM agent's sending thread and gRPC's threads included), none of the servers'.

Protocol (the runner drives it): ``python -m benchmarks.client '<json spec>'`` prints
``{"ready": ...}`` once warmed up, then answers one JSON command per stdin line with one JSON line:
``block`` (calls, in transactions when the configuration has an APM agent), ``memory``
(checkpoints over many calls), ``summary`` (what the recorded spans look like), ``collect`` (a full
garbage collection) and ``quit``.

The spec's optional ``options`` (used by ``benchmarks.callgrind``): ``apm_settings``, extra
``elasticapm.Client`` settings; ``apm_transport``: ``"loopback"`` (default, to the stand-in
intake) or ``"inprocess"`` (``benchmarks.apm_sink``: the agent's network answered in-process);
``es_transport``: ``"loopback"`` (default) or ``"inprocess"`` (``benchmarks.es_replay``: the
stand-in's answers replayed by a server in this process's own event loop);
``stretch_housekeeping``: see :func:`stretch_housekeeping`; ``freeze_loop_clock``: see
:func:`freeze_clock`.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import sys
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, TextIO

from benchmarks import standins
from benchmarks.workloads import (
    ES_INDEX,
    ES_QUERY,
    FLOOR_SPANS,
    WEAVIATE_COLLECTION,
    Config,
    WeaviateAddress,
    config,
    insert_objects,
)

Call = Callable[[], Awaitable[Any]]
#: Calls per APM transaction: well under the agent's ``transaction_max_spans`` (500), so no span is
#: dropped, while the transaction's own cost is spread over many calls.
TRANSACTION_BATCH = 50


class Recorders:
    """What records the calls, so the runner can check each configuration does what it claims."""

    def __init__(self) -> None:
        self.exporter: Any = None
        self.metric_reader: Any = None
        self.apm: Any = None

    def spans(self) -> int:
        return int(self.exporter.count) if self.exporter is not None else 0

    def flush_apm(self) -> None:
        """Send what the agent has queued and wait for it: its serialisation is counted too."""
        if self.apm is not None:
            self.apm._transport.flush()


def _dropping_exporter() -> Any:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class DroppingExporter(SpanExporter):  # type: ignore[misc]
        """Counts spans and keeps only the last one: the SDK's cost without export I/O."""

        def __init__(self) -> None:
            self.count = 0
            self.with_parent = 0
            self.last: Any = None

        def export(self, spans: Sequence[Any]) -> Any:
            for span in spans:
                self.count += 1
                if span.parent is not None:
                    self.with_parent += 1
                self.last = span
            return SpanExportResult.SUCCESS

    return DroppingExporter()


def set_up(
    cfg: Config, client: str, servers: Dict[str, Any], options: Optional[Dict[str, Any]] = None
) -> Recorders:
    """Install exactly what ``cfg`` says, before any client object exists."""
    options = options or {}
    recorders = Recorders()
    if options.get("stretch_housekeeping"):
        stretch_housekeeping()
    if not cfg.es_spans:
        os.environ["OTEL_PYTHON_INSTRUMENTATION_ELASTICSEARCH_ENABLED"] = "false"
    if cfg.tracer != "none":
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

        provider = (
            TracerProvider(sampler=ALWAYS_OFF) if cfg.tracer == "sampled_out" else TracerProvider()
        )
        recorders.exporter = _dropping_exporter()
        provider.add_span_processor(SimpleSpanProcessor(recorders.exporter))
        trace.set_tracer_provider(provider)
        if cfg.meter:
            recorders.metric_reader = InMemoryMetricReader()
            metrics.set_meter_provider(MeterProvider(metric_readers=[recorders.metric_reader]))
    if cfg.apm != "none":
        settings: Dict[str, Any] = {
            "service_name": "benchmark",
            "api_request_time": "10s",  # the agent's default; each block ends with an explicit flush
            "instrument": cfg.apm == "agent",
        }
        if options.get("apm_transport") == "inprocess":
            settings["transport_class"] = "benchmarks.apm_sink.InProcessTransport"
        settings.update(options.get("apm_settings") or {})
        recorders.apm = standins.module("apm").make_apm_client(servers["apm"], **settings)
    if cfg.ours:
        import instrumentation

        if cfg.propagate:  # only then: earlier versions measured with --src may lack the option
            instrumentation.instrument(
                clients=[client], backends=list(cfg.ours), propagate_context=True
            )
        else:
            instrumentation.instrument(clients=[client], backends=list(cfg.ours))
    if cfg.floor == "wrapt":
        patch_through(client)
    return recorders


def stretch_housekeeping() -> None:
    """Wall-clock housekeeping made as rare per call as at native speed (for callgrind).

    aiohttp's connector (the Elasticsearch client's) looks for closed transports every 2 s on
    Python < 3.12.8. Natively that is once in thousands of calls; under callgrind's slowdown, once
    every few dozen, and more often the busier the machine: it added up to several thousand
    instructions a call, varying from run to run.
    """
    import aiohttp.connector

    aiohttp.connector.BaseConnector._cleanup_closed_period = 600.0


def freeze_clock(loop: asyncio.AbstractEventLoop) -> None:
    """The event loop's clock stopped for the life of the process (for callgrind, Elasticsearch).

    Timers are scheduled on ``loop.time()``; where they land in the loop's heap, how many cancelled
    ones pile up behind a live one and when one fires all follow the wall clock, which under
    callgrind runs ~50x slower than the code, and slower still on a busy machine: identical runs
    differed by thousands of instructions a call. With the clock stopped no timer ever falls due
    (at native speed, none of the client's would within a block either: they are timeouts and
    keep-alive checks of seconds) and the loop's work depends on the calls alone. Only for code
    that never waits on a timer: ``asyncio.sleep(0.1)`` would never return.
    """
    stopped = loop.time()
    loop.time = lambda: stopped  # type: ignore[method-assign]


def patch_through(client: str) -> None:
    """Our patch table for ``client``, each row's wrapper replaced by one that only calls through:
    what wrapt costs on the same functions, the floor of any wrapt-based instrumentation."""
    import importlib

    from instrumentation._patching import Patch, Patcher

    def through(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        return wrapped(*args, **kwargs)

    try:  # each client module builds its rows around an engine
        from instrumentation import _registry
        from instrumentation._engine import Engine

        table = _registry.modules()[client].patches(Engine([]))
    except ImportError:  # before: a PATCHES table per module, named in the registry
        from instrumentation._registry import CLIENTS  # type: ignore[attr-defined]

        table = importlib.import_module(CLIENTS[client].module).PATCHES
    Patcher().apply(tuple(Patch(row.module, row.path, through) for row in table))


async def run_calls(call: Call, calls: int, concurrency: int, apm: Any) -> None:
    """``calls`` calls, ``concurrency`` at a time, in APM transactions when ``apm`` is set."""
    batch = max(TRANSACTION_BATCH, concurrency)
    done = 0
    while done < calls:
        size = min(batch, calls - done)
        if apm is not None:
            apm.begin_transaction("benchmark")
        if concurrency <= 1:
            for _ in range(size):
                await call()
        else:
            for start in range(0, size, concurrency):
                await asyncio.gather(*(call() for _ in range(min(concurrency, size - start))))
        if apm is not None:
            apm.end_transaction("benchmark batch", "success")
        done += size


async def block(call: Call, calls: int, concurrency: int, recorders: Recorders) -> Dict[str, Any]:
    spans = recorders.spans()
    cpu, wall = time.process_time(), time.perf_counter()
    await run_calls(call, calls, concurrency, recorders.apm)
    recorders.flush_apm()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"calls": calls, "cpu_s": cpu, "wall_s": wall, "spans": recorders.spans() - spans}


def _rss_bytes() -> Optional[int]:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux
        return None


def _memory_point(calls: int) -> Dict[str, Any]:
    gc.collect()
    return {
        "calls": calls,
        "rss_bytes": _rss_bytes(),
        "allocated_blocks": sys.getallocatedblocks(),
        "gc_objects": len(gc.get_objects()),
    }


async def memory(
    call: Call, calls: int, checkpoints: int, concurrency: int, recorders: Recorders
) -> Dict[str, Any]:
    """Memory after a full collection every ``calls / checkpoints`` calls, and the peak RSS.

    ``sys.getallocatedblocks()`` counts live Python allocations: a leak of one object per call
    grows it by at least ``calls``; the RSS shows the same from the operating system's side.
    """
    step = calls // checkpoints
    recorders.flush_apm()
    points: List[Dict[str, Any]] = [_memory_point(0)]
    cpu, wall = time.process_time(), time.perf_counter()
    for index in range(1, checkpoints + 1):
        await run_calls(call, step, concurrency, recorders.apm)
        recorders.flush_apm()
        points.append(_memory_point(index * step))
    return {
        "calls": step * checkpoints,
        "concurrency": concurrency,
        "cpu_s": time.process_time() - cpu,
        "wall_s": time.perf_counter() - wall,
        "checkpoints": points,
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def summary(recorders: Recorders) -> Dict[str, Any]:
    """What one recorded call looks like: the last span's name and attribute keys, the metrics."""
    result: Dict[str, Any] = {}
    exporter = recorders.exporter
    if exporter is not None:
        result["spans"] = exporter.count
        result["spans_with_parent"] = exporter.with_parent
        if exporter.last is not None:
            result["last_span"] = {
                "name": exporter.last.name,
                "attributes": sorted(exporter.last.attributes or {}),
            }
    if recorders.metric_reader is not None:
        data = recorders.metric_reader.get_metrics_data()
        names = []
        for resource_metrics in getattr(data, "resource_metrics", None) or ():
            for scope in resource_metrics.scope_metrics:
                names.extend(metric.name for metric in scope.metrics)
        result["metrics"] = sorted(set(names))
    if recorders.apm is not None and "apm_sink" in type(recorders.apm._transport).__module__:
        from benchmarks import apm_sink

        result["apm_sent"] = apm_sink.sent()
    return result


def _instrumentation_file() -> Optional[str]:
    """Where ``instrumentation`` is imported from in this process (without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("instrumentation")
    return spec.origin if spec is not None else None


class Workload:
    """The client objects of one library and the calls made with them."""

    def __init__(self) -> None:
        self.calls: Dict[str, Call] = {}
        self._close: Optional[Callable[[], Awaitable[Any]]] = None
        self._replay: Any = None

    async def open(
        self, client: str, servers: Dict[str, Any], options: Optional[Dict[str, Any]] = None
    ) -> None:
        if client == "elasticsearch":
            from elasticsearch import AsyncElasticsearch

            url = servers["elasticsearch"]
            if (options or {}).get("es_transport") == "inprocess":
                from benchmarks.es_replay import ReplayServer

                self._replay = ReplayServer(url)
                url = await self._replay.start()
            es = AsyncElasticsearch(url)
            self._close = es.close

            if (options or {}).get("trace_header"):
                # A constant ``traceparent`` the application sends itself: what carrying one
                # more header costs elastic-transport and aiohttp, without anything computing it.
                es = es.options(headers={"traceparent": TRACE_HEADER})

            async def search() -> Any:
                return await es.search(index=ES_INDEX, query=ES_QUERY, size=5)

            self.calls = {"search": search}
            return

        connect_async_client = standins.module("weaviate").connect_async_client

        weaviate_client = await connect_async_client(WeaviateAddress(**servers["weaviate"]))  # type: ignore[arg-type]
        self._close = weaviate_client.close
        articles = weaviate_client.collections.use(WEAVIATE_COLLECTION)
        objects = insert_objects()

        async def fetch_objects() -> Any:
            return await articles.query.fetch_objects(limit=10)

        async def insert_many() -> Any:
            return await articles.data.insert_many(objects)

        async def hybrid() -> Any:
            return await articles.query.hybrid("tracing search", limit=5)

        self.calls = {"fetch_objects": fetch_objects, "insert_many": insert_many, "hybrid": hybrid}

    async def close(self) -> None:
        if self._close is not None:
            await self._close()
        if self._replay is not None:
            await self._replay.close()

    def stats(self) -> Dict[str, Any]:
        """With Elasticsearch answered in-process: requests answered, and forwarded to the stand-in."""
        if self._replay is None:
            return {}
        return {
            "es_replay": {"requests": self._replay.requests, "forwarded": self._replay.forwarded}
        }


#: The constant ``traceparent`` of the ``trace_header`` configurations.
TRACE_HEADER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def floored(calls: Dict[str, Call]) -> Dict[str, Call]:
    """Each call wrapped in the least an instrumentation must do to record what ours records:
    a CLIENT span with the same attributes (passed at start, and set at the end when recording),
    current during the call, and the duration histogram, through the global providers."""
    from opentelemetry import context, metrics, trace
    from opentelemetry.trace import SpanKind

    tracer = trace.get_tracer("benchmark-floor")
    histogram = metrics.get_meter("benchmark-floor").create_histogram(
        "db.client.operation.duration",
        unit="s",
        explicit_bucket_boundaries_advisory=[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10],
    )

    def wrap(call: Call, spec: Dict[str, Any]) -> Call:
        name, start_attributes = spec["name"], spec["start"]
        end_attributes, metric_attributes = spec["end"], spec["metric"]

        async def floor_call() -> Any:
            started = time.perf_counter()
            span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=start_attributes)
            token = context.attach(trace.set_span_in_context(span))
            try:
                return await call()
            finally:
                context.detach(token)
                if span.is_recording():
                    span.set_attributes(end_attributes)
                span.end()
                histogram.record(time.perf_counter() - started, metric_attributes)

        return floor_call

    return {op: wrap(call, FLOOR_SPANS[op]) for op, call in calls.items()}


def serve(spec: Dict[str, Any], out: TextIO) -> None:
    cfg = config(spec["client"], spec["config"])
    recorders = set_up(cfg, spec["client"], spec["servers"], spec.get("options"))
    loop = asyncio.new_event_loop()
    if (spec.get("options") or {}).get("freeze_loop_clock"):
        freeze_clock(loop)
    workload = Workload()
    loop.run_until_complete(workload.open(spec["client"], spec["servers"], spec.get("options")))
    if cfg.floor == "sdk":
        workload.calls = floored(workload.calls)
    for call in workload.calls.values():
        loop.run_until_complete(run_calls(call, spec["warmup"], 1, recorders.apm))
    recorders.flush_apm()
    gc.collect()

    def reply(message: Dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    reply({"ready": True, "pid": os.getpid(), "instrumentation": _instrumentation_file()})
    for line in sys.stdin:
        command = json.loads(line)
        kind = command["cmd"]
        if kind == "block":
            call = workload.calls[command["op"]]
            reply(
                loop.run_until_complete(
                    block(call, command["calls"], command.get("concurrency", 1), recorders)
                )
            )
        elif kind == "memory":
            call = workload.calls[command["op"]]
            reply(
                loop.run_until_complete(
                    memory(
                        call,
                        command["calls"],
                        command.get("checkpoints", 10),
                        command.get("concurrency", 1),
                        recorders,
                    )
                )
            )
        elif kind == "summary":
            reply({**summary(recorders), **workload.stats()})
        elif kind == "collect":  # a full collection, so the next block starts from the same state
            reply({"collected": gc.collect()})
        elif kind == "quit":
            break
    loop.run_until_complete(workload.close())
    loop.close()
    if recorders.apm is not None:
        standins.module("apm").close_apm_client(recorders.apm)
    reply({"done": True})


def main() -> None:
    # The protocol owns stdout; anything a library prints goes to stderr instead.
    out = sys.stdout
    sys.stdout = sys.stderr
    serve(json.loads(sys.argv[1]), out)


if __name__ == "__main__":
    main()
