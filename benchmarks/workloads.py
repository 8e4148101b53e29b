"""What is measured: the data, the calls, and the configurations they run under.

Shared by the server process (which seeds the data), the client process (which makes the calls
under one configuration) and the runner (which lists the configurations and judges the budget), so
the three can never disagree about what a name means.
"""

from __future__ import annotations

import uuid
from typing import Any, Dict, List, NamedTuple, Tuple

ES_INDEX = "articles"
ES_DOCUMENTS: List[Dict[str, Any]] = [
    {"title": f"tracing search clients, part {n}", "year": 2000 + n, "tags": ["otel", "apm"]}
    for n in range(20)
]
#: The Elasticsearch call: a small search, the operation services make most, whose body we sanitise
#: into ``db.query.text`` when recording.
ES_QUERY: Dict[str, Any] = {"bool": {"must": [{"match": {"title": "tracing"}}]}}
ES_OPERATIONS = ("search",)

WEAVIATE_COLLECTION = "Article"
#: The Weaviate calls (all gRPC): a plain read, a batch write, a hybrid query.
WEAVIATE_OPERATIONS = ("fetch_objects", "insert_many", "hybrid")
#: ``insert_many`` writes these objects again and again (same UUIDs), so the store stays the same
#: size and the last round answers like the first.
INSERT_BATCH = 10


def seed_objects() -> List[Any]:
    import weaviate.classes as wvc

    return [
        wvc.data.DataObject(
            properties={"title": f"tracing search clients, part {n}", "year": 2000 + n},
            uuid=uuid.UUID(int=n + 1),
            vector=[float(n % 4 == k) for k in range(4)],
        )
        for n in range(20)
    ]


def insert_objects() -> List[Any]:
    import weaviate.classes as wvc

    return [
        wvc.data.DataObject(
            properties={"title": f"written by the benchmark {n}", "year": 2024},
            uuid=uuid.UUID(int=1000 + n),
        )
        for n in range(INSERT_BATCH)
    ]


class WeaviateAddress(NamedTuple):
    """What ``connect_async_client`` reads from a stand-in: host and both ports."""

    host: str
    http_port: int
    grpc_port: int

    def as_dict(self) -> Dict[str, Any]:
        return dict(self._asdict())


class Config(NamedTuple):
    """One way of running the client: what traces it, and through which backends.

    ``tracer``: ``none`` (no OpenTelemetry SDK at all), ``recording`` (SDK, every span sampled) or
    ``sampled_out`` (SDK with ``ALWAYS_OFF``). ``ours``: the backends given to
    ``instrumentation.instrument()``, empty when ours is off. ``apm``: ``none``, ``agent``
    (``elasticapm.instrument()``: the agent's own library instrumentation) or ``client`` (an agent
    client exists, its own instrumentation off). ``es_spans``: elasticsearch-py's own spans left
    on (its default); off through ``OTEL_PYTHON_INSTRUMENTATION_ELASTICSEARCH_ENABLED=false``.
    ``meter``: with an SDK, also an SDK ``MeterProvider`` (our duration metric is recorded).
    ``floor``: no instrumentation. ``"sdk"``: instead the benchmark itself wraps each call in the
    least any OpenTelemetry instrumentation must do to record what ours records (``FLOOR_SPANS``):
    one CLIENT span with the same attributes, current during the call, and the duration histogram.
    ``"wrapt"``: the functions ours patches are patched with wrapt wrappers that do nothing but
    call through. What either costs is the SDK's or wrapt's, not ours: a floor under the budgets.
    ``propagate``: ours with ``propagate_context=True`` (the call's trace context in the request).
    ``trace_header``: the application sends a constant ``traceparent`` header with each call
    itself (what carrying one more header costs the transport, nothing computing it).
    """

    name: str
    label: str
    tracer: str
    ours: Tuple[str, ...]
    apm: str
    es_spans: bool
    meter: bool = True
    floor: str = ""
    propagate: bool = False
    trace_header: bool = False


#: What the floor configurations record per call, the same attributes as ours records for the
#: operation (checked by the runner against ours' last span): span name, the attributes passed at
#: start (samplers see them), the ones set at the end, and the duration metric's attributes.
FLOOR_SPANS: Dict[str, Dict[str, Any]] = {
    "search": {
        "name": f"search {ES_INDEX}",
        "start": {
            "db.system.name": "elasticsearch",
            "db.operation.name": "search",
            "db.query.summary": f"search {ES_INDEX}",
            "db.collection.name": ES_INDEX,
        },
        "end": {
            "db.query.text": '{"query":{"bool":{"must":[{"match":{"title":"?"}}]}},"size":"?"}',
            "server.address": "127.0.0.1",
            "server.port": 9200,
            "http.request.method": "POST",
            "url.full": f"http://127.0.0.1:9200/{ES_INDEX}/_search",
            "db.response.status_code": "200",
        },
        "metric": {
            "db.system.name": "elasticsearch",
            "db.operation.name": "search",
            "db.collection.name": ES_INDEX,
            "server.address": "127.0.0.1",
            "server.port": 9200,
        },
    },
    **{
        op: {
            "name": f"{op} {WEAVIATE_COLLECTION}",
            "start": {
                "db.system.name": "weaviate",
                "db.operation.name": op,
                "db.query.summary": f"{op} {WEAVIATE_COLLECTION}",
                "db.collection.name": WEAVIATE_COLLECTION,
            },
            "end": {
                "server.address": "127.0.0.1",
                "server.port": 50051,
                "db.response.status_code": "OK",
                **({"db.operation.batch.size": INSERT_BATCH} if op == "insert_many" else {}),
            },
            "metric": {
                "db.system.name": "weaviate",
                "db.operation.name": op,
                "db.collection.name": WEAVIATE_COLLECTION,
                "server.address": "127.0.0.1",
                "server.port": 50051,
            },
        }
        for op in WEAVIATE_OPERATIONS
    },
}

BASELINE = "baseline"
APM_REFERENCE = "apm-transactions"
#: Sampled out without an SDK MeterProvider: what the duration metric costs when spans are off.
NO_METER = "ours-otel-sampled-out-no-meter"
#: Recording without an SDK MeterProvider: one span, as elasticsearch-py's own records.
NO_METER_RECORDING = "ours-otel-no-meter"
FLOOR_SPAN = "floor-span"
FLOOR_RECORDING = "floor-recording"
FLOOR_SAMPLED_OUT = "floor-sampled-out"
FLOOR_SAMPLED_OUT_NO_METER = "floor-sampled-out-no-meter"
FLOOR_WRAPT = "floor-wrapt"


def _floors(es_spans: bool) -> Tuple[Config, ...]:
    return (
        Config(
            FLOOR_SPAN,
            "SDK floor: a bare span, recording (no metric, no instrumentation logic)",
            "recording",
            (),
            "none",
            es_spans,
            meter=False,
            floor="sdk",
        ),
        Config(
            FLOOR_RECORDING,
            "SDK floor: a bare span + the histogram, recording",
            "recording",
            (),
            "none",
            es_spans,
            floor="sdk",
        ),
        Config(
            FLOOR_SAMPLED_OUT,
            "SDK floor: a bare span + the histogram, sampled out",
            "sampled_out",
            (),
            "none",
            es_spans,
            floor="sdk",
        ),
        Config(
            FLOOR_WRAPT,
            "wrapt floor: our patch points wrapped by do-nothing wrapt wrappers (no SDK)",
            "none",
            (),
            "none",
            True,
            floor="wrapt",
        ),
        Config(
            FLOOR_SAMPLED_OUT_NO_METER,
            "SDK floor: a bare span, sampled out (no metric)",
            "sampled_out",
            (),
            "none",
            es_spans,
            meter=False,
            floor="sdk",
        ),
    )


#: Ours, the same set for both clients (elasticsearch-py's own spans left on: ours replaces them).
_OURS: Tuple[Config, ...] = (
    Config("ours-otel", "ours, OpenTelemetry recording", "recording", ("otel",), "none", True),
    Config(
        "ours-otel-sampled-out",
        "ours, OpenTelemetry sampled out",
        "sampled_out",
        ("otel",),
        "none",
        True,
    ),
    Config(
        NO_METER,
        "ours, OpenTelemetry sampled out, no MeterProvider",
        "sampled_out",
        ("otel",),
        "none",
        True,
        meter=False,
    ),
    Config("ours-otel-no-sdk", "ours, OpenTelemetry, no SDK", "none", ("otel",), "none", True),
    Config(
        NO_METER_RECORDING,
        "ours, OpenTelemetry recording, no MeterProvider",
        "recording",
        ("otel",),
        "none",
        True,
        meter=False,
    ),
    Config("ours-apm", "ours, Elastic APM", "none", ("apm",), "client", True),
    Config(
        "ours-both",
        "ours, OpenTelemetry + Elastic APM",
        "recording",
        ("otel", "apm"),
        "client",
        True,
    ),
)

ES_CONFIGS: Tuple[Config, ...] = (
    Config(BASELINE, "no tracing (elasticsearch-py spans off)", "none", (), "none", False),
    Config(
        "es-default", "elasticsearch-py default, no SDK (no-op spans)", "none", (), "none", True
    ),
    Config(
        "es-recording", "elasticsearch-py own spans, SDK recording", "recording", (), "none", True
    ),
    Config(
        "es-sampled-out",
        "elasticsearch-py own spans, SDK sampled out",
        "sampled_out",
        (),
        "none",
        True,
    ),
    Config(APM_REFERENCE, "APM agent, transactions only (no spans)", "none", (), "client", False),
    Config("apm-agent", "APM agent's own Elasticsearch spans", "none", (), "agent", False),
    *_OURS,
    *_floors(es_spans=False),
)

WEAVIATE_CONFIGS: Tuple[Config, ...] = (
    Config(BASELINE, "no tracing", "none", (), "none", True),
    Config(APM_REFERENCE, "APM agent, transactions only (no spans)", "none", (), "client", True),
    *_OURS,
    *_floors(es_spans=True),
)

CONFIGS: Dict[str, Tuple[Config, ...]] = {"elasticsearch": ES_CONFIGS, "weaviate": WEAVIATE_CONFIGS}

#: ``propagate_context`` on, beside ``ours-otel`` and ``ours-otel-sampled-out`` (what it adds to a
#: call): counted by ``benchmarks.callgrind`` only, not part of the timed phase of ``make bench``.
PROPAGATE_RECORDING = "ours-otel-propagate"
PROPAGATE_SAMPLED_OUT = "ours-otel-sampled-out-propagate"
#: ``ours-otel`` with the application sending a constant ``traceparent`` itself: the transport's
#: share of what ``propagate_context`` adds.
TRACE_HEADER_RECORDING = "ours-otel-trace-header"
PROPAGATION_CONFIGS: Tuple[Config, ...] = (
    Config(
        TRACE_HEADER_RECORDING,
        "ours, OpenTelemetry recording, a constant traceparent sent by the application",
        "recording",
        ("otel",),
        "none",
        True,
        trace_header=True,
    ),
    Config(
        PROPAGATE_RECORDING,
        "ours, OpenTelemetry recording, propagate_context on",
        "recording",
        ("otel",),
        "none",
        True,
        propagate=True,
    ),
    Config(
        PROPAGATE_SAMPLED_OUT,
        "ours, OpenTelemetry sampled out, propagate_context on",
        "sampled_out",
        ("otel",),
        "none",
        True,
        propagate=True,
    ),
)
OPERATIONS: Dict[str, Tuple[str, ...]] = {
    "elasticsearch": ES_OPERATIONS,
    "weaviate": WEAVIATE_OPERATIONS,
}


#: The configurations the precise phase counts (``benchmarks.precise``): those of the budgets in
#: single µs (sampled out, no SDK), the setups they are compared with, and the SDK's floor.
PRECISE_CONFIGS: Dict[str, Tuple[str, ...]] = {
    "elasticsearch": (
        BASELINE,
        "es-default",
        "es-sampled-out",
        "ours-otel-no-sdk",
        "ours-otel-sampled-out",
        NO_METER,
        FLOOR_SAMPLED_OUT,
        FLOOR_SAMPLED_OUT_NO_METER,
        FLOOR_WRAPT,
    ),
    "weaviate": (
        BASELINE,
        "ours-otel-no-sdk",
        "ours-otel-sampled-out",
        NO_METER,
        FLOOR_SAMPLED_OUT,
        FLOOR_SAMPLED_OUT_NO_METER,
        FLOOR_WRAPT,
    ),
}


#: What ``benchmarks.callgrind`` counts besides ``PRECISE_CONFIGS``: a sampled, recording span
#: (ours with a MeterProvider, the SDK floors of a bare recording span with and without the
#: histogram, and, for Elasticsearch, elasticsearch-py's own span under a recording SDK), and the
#: Elastic APM agent (its transactions alone, ours through the APM backend, and for Elasticsearch
#: the agent's own spans; it has no Weaviate instrumentation); for Elasticsearch also ours with
#: ``propagate_context`` on (``PROPAGATION_CONFIGS``).
CALLGRIND_EXTRA_CONFIGS: Dict[str, Tuple[str, ...]] = {
    "elasticsearch": (
        "ours-otel",
        NO_METER_RECORDING,
        FLOOR_RECORDING,
        FLOOR_SPAN,
        "es-recording",
        APM_REFERENCE,
        "apm-agent",
        "ours-apm",
        PROPAGATE_RECORDING,
        PROPAGATE_SAMPLED_OUT,
        TRACE_HEADER_RECORDING,
    ),
    "weaviate": (
        "ours-otel",
        NO_METER_RECORDING,
        FLOOR_RECORDING,
        FLOOR_SPAN,
        APM_REFERENCE,
        "ours-apm",
    ),
}


def config(client: str, name: str) -> Config:
    for candidate in (*CONFIGS[client], *PROPAGATION_CONFIGS):
        if candidate.name == name:
            return candidate
    raise KeyError(f"no configuration {name!r} for {client}")
