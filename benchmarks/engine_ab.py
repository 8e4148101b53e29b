"""Our own code on a traced call, before and after a change: callgrind on our wrappers alone.

``benchmarks.callgrind`` counts whole calls (the client library, its transport, a server's answer
replayed): what a user pays, but with a process-to-process spread of a few thousand instructions
(Weaviate's gRPC threads most). To tell whether a change to our engine costs instructions, this
counts only what is ours and the SDK's: the wrapper we patch onto ``perform_request`` (Elasticsearch)
and ``grpc_search`` (Weaviate), taken from the patcher after ``instrument()`` exactly as it is
applied, put around a stand-in method that returns a prepared answer at once (no transport, no
socket, no thread). One call is that wrapper, our engine, the backends and their SDKs.

Each (source, client, configuration) runs ``N`` and ``2N`` calls after the same warm-up in a fresh
interpreter under callgrind, with a fixed hash seed; the difference divided by ``N`` is the count
per call, loop included::

    .venv/bin/python -m benchmarks.engine_ab --src before=/tmp/before/src --src after=src \\
        --out benchmarks/results/engine-ab.md
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from benchmarks.callgrind import APM_SETTINGS, layout_env

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {
    "no-sdk": "no SDK installed",
    "sampled-out": "SDK sampling out, MeterProvider",
    "sampled-out-no-meter": "SDK sampling out, no MeterProvider",
    "recording": "SDK recording, MeterProvider",
    "recording-no-meter": "SDK recording, no MeterProvider",
    "apm": "Elastic APM agent, in a transaction (OpenTelemetry SDK absent)",
    "recording-no-meter-propagate": "SDK recording, no MeterProvider, propagate_context",
    "sampled-out-no-meter-propagate": "SDK sampling out, no MeterProvider, propagate_context",
}
#: The configurations run by default (the ``*-propagate`` ones are asked for by name).
DEFAULT_CONFIGS = tuple(name for name in CONFIGS if not name.endswith("-propagate"))
CLIENTS = ("elasticsearch", "weaviate")
_SUMMARY = re.compile(r"^summary: (\d+)", re.MULTILINE)


# -- the measured process ---------------------------------------------------------------------------
def _providers(config: str) -> None:
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    sampler = ALWAYS_ON if config.startswith("recording") else ALWAYS_OFF
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(Discard()))
    trace.set_tracer_provider(provider)
    if "no-meter" not in config:
        metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))


def _applied(module: str, path: str) -> Any:
    """Our wrapper function as the patcher applied it (the same in every version of the core)."""
    from instrumentation import _core

    return _core._patcher._applied[(module, path)].wrapped._self_wrapper


def _elasticsearch() -> Tuple[Any, Any, Tuple[Any, ...], Dict[str, Any]]:
    import elasticsearch._async.client._base  # noqa: F401 - patched on import
    from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig, ObjectApiResponse

    meta = ApiResponseMeta(
        status=200,
        http_version="1.1",
        headers=HttpHeaders({"content-type": "application/json"}),
        duration=0.0,
        node=NodeConfig("http", "127.0.0.1", 9200),
    )
    # A search answer as Elasticsearch writes it: took, timed_out, _shards and the hits.
    body = {
        "took": 1,
        "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {"total": {"value": 1, "relation": "eq"}, "hits": [{"_id": "1"}]},
    }
    answer = ObjectApiResponse(body=body, meta=meta)

    class Client:
        async def perform_request(self, *args: Any, **kwargs: Any) -> Any:
            return answer

    kwargs = {
        "body": {"query": {"match": {"title": "alien"}}},
        "endpoint_id": "search",
        "path_parts": {"index": "movies"},
        "headers": {"accept": "application/json", "content-type": "application/json"},
    }
    wrapper = _applied("elasticsearch._async.client._base", "BaseClient.perform_request")
    return wrapper, Client(), ("POST", "/movies/_search"), kwargs


def _weaviate() -> Tuple[Any, Any, Tuple[Any, ...], Dict[str, Any]]:
    import weaviate.connect.v4  # noqa: F401 - patched on import
    from weaviate.proto.v1 import search_get_pb2 as pb

    request = pb.SearchRequest(collection="Article", limit=10, uses_123_api=True)
    answer = pb.SearchReply(results=[pb.SearchResult()])

    class Endpoint:
        host, port = "127.0.0.1", 50051

    class Params:
        grpc = Endpoint()

    class Connection:
        _connection_params = Params()

        async def grpc_search(self, request: Any) -> Any:
            return answer

    wrapper = _applied("weaviate.connect.v4", "ConnectionAsync.grpc_search")
    return wrapper, Connection(), (request,), {}


def measure(client: str, config: str, calls: int, warmup: int) -> None:
    import asyncio

    import instrumentation

    agent = None
    if config == "apm":
        import elasticapm

        agent = elasticapm.Client(
            service_name="engine-ab",
            disable_send=True,
            instrument=False,
            # As benchmarks.callgrind: under callgrind's slowdown a call would pass the agent's
            # duration thresholds (stack traces, compression) and count what it never does.
            **APM_SETTINGS,
            metrics_interval="0ms",
            central_config=False,
            cloud_provider="none",
            span_compression_enabled=False,
        )
        backends = ["apm"]
    else:
        if config != "no-sdk":
            _providers(config)
        backends = ["otel"]
    instrumentation.instrument(
        clients=[client], backends=backends, propagate_context=config.endswith("-propagate")
    )
    wrapper, instance, args, kwargs = (_elasticsearch if client == "elasticsearch" else _weaviate)()
    method = type(instance).perform_request if client == "elasticsearch" else None
    method = method or type(instance).grpc_search
    bound = method.__get__(instance)

    async def run(count: int) -> None:
        for number in range(count):
            if agent is not None and number % 100 == 0:
                if number:
                    agent.end_transaction("batch", "success")
                agent.begin_transaction("request")
            await wrapper(bound, instance, args, dict(kwargs))
        if agent is not None:
            agent.end_transaction("batch", "success")

    asyncio.run(run(warmup + calls))


# -- the driver -------------------------------------------------------------------------------------
def count(src: str, client: str, config: str, calls: int, warmup: int, layout: int = 0) -> int:
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": os.pathsep.join([src, str(ROOT)])}
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_PYTHON_TRACER_PROVIDER"):
        env.pop(name, None)
    env = layout_env(env, layout)
    out = Path(
        f"/tmp/engine-ab-{os.getpid()}-{client}-{config}-{calls}-{layout}-{abs(hash(src))}.out"
    )
    try:
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "benchmarks.engine_ab",
                "--measure",
                client,
                config,
                str(calls),
                str(warmup),
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=3600,
        )
        found = _SUMMARY.search(out.read_text())
        if found is None:
            raise RuntimeError(f"no callgrind summary for {client} {config}")
        return int(found.group(1))
    finally:
        out.unlink(missing_ok=True)


def main(argv: Optional[Sequence[str]] = None) -> None:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--measure":
        client, config, calls, warmup = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
        measure(client, config, int(calls), int(warmup))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", action="append", required=True, help="name=path, in order")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--configs", default=",".join(DEFAULT_CONFIGS))
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--layouts",
        type=int,
        default=1,
        help="count each cell under this many memory layouts (padded environments), report the "
        "median and the spread",
    )
    args = parser.parse_args(argv)
    sources = [tuple(item.split("=", 1)) for item in args.src]
    configs = args.configs.split(",")
    clients = args.clients.split(",")
    cells = [
        (name, src, client, config, layout, calls)
        for layout in range(args.layouts)
        for name, src in sources
        for client in clients
        for config in configs
        for calls in (args.calls, 2 * args.calls)
    ]
    began = time.monotonic()
    with ThreadPoolExecutor(args.jobs) as pool:
        counts = list(
            pool.map(lambda c: count(c[1], c[2], c[3], c[5], args.warmup, c[4]), cells)  # type: ignore[no-any-return]
        )
    totals = {cell[:5]: value for cell, value in zip(cells, counts) if cell[5] == 2 * args.calls}
    singles = {cell[:5]: value for cell, value in zip(cells, counts) if cell[5] == args.calls}
    layouts: Dict[Tuple[str, str, str], List[float]] = {}
    for (name, src, client, config, layout), value in singles.items():
        per_layout = (totals[(name, src, client, config, layout)] - value) / args.calls
        layouts.setdefault((name, client, config), []).append(per_layout)
    per_call = {key: statistics.median(values) for key, values in layouts.items()}
    spread = {key: max(values) - min(values) for key, values in layouts.items()}
    names = [name for name, _ in sources]
    lines: List[str] = [
        f"Our wrapper, engine, backends and SDKs per call around a stand-in method (callgrind, "
        f"{args.calls} and {2 * args.calls} calls after {args.warmup}, difference / "
        f"{args.calls}"
        + (
            f"; the median of {args.layouts} memory layouts, the spread in brackets"
            if args.layouts > 1
            else ""
        )
        + f"); {time.monotonic() - began:.0f} s. Sources: "
        + ", ".join(f"`{name}` = `{src}`" for name, src in sources)
        + ".",
    ]
    for client in clients:
        lines += [
            "",
            f"### {client}",
            "",
            "| configuration | " + " | ".join(names) + " | change |",
            "|---|" + "---:|" * (len(names) + 1),
        ]
        for config in configs:
            values = [per_call[(name, client, config)] for name in names]
            change = f"{values[-1] - values[0]:+,.0f}" if len(values) > 1 else ""
            cells_text = [
                f"{per_call[(name, client, config)]:,.0f}"
                + (f" ({spread[(name, client, config)]:,.0f})" if args.layouts > 1 else "")
                for name in names
            ]
            lines.append(f"| {CONFIGS[config]} | " + " | ".join(cells_text) + f" | {change} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
