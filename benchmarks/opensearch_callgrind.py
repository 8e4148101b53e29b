"""AsyncOpenSearch: instructions per call, ours against the uninstrumented client, by callgrind.

``python -m benchmarks.opensearch_callgrind`` (from the repository root; needs valgrind). The
Elasticsearch imitation (``tests/servers``) answers in a process of its own over loopback, so only
the client process is counted; a configuration's cost per call is the count of a run of N calls
minus that of a run of 0 (same warm-up), divided by N, with a fixed hash seed. Loopback timing
moves a count by a few thousand instructions a call between runs: read the differences of tens of
thousands (a span, the metric, the query text), not the last digits. Writes
``benchmarks/results/opensearch-callgrind.md``.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "opensearch-callgrind.md"
CALLS = 300
WARMUP = 100
CONFIGS = {
    "baseline": "no instrumentation",
    "ours-no-sdk": "ours, no SDK installed",
    "ours-sampled-out": "ours, OpenTelemetry SDK sampling out (metric only)",
    "ours-recording": "ours, OpenTelemetry SDK recording (span + metric)",
}
_SUMMARY = re.compile(r"^summary: (\d+)", re.MULTILINE)


def client(mode: str, url: str, calls: int) -> None:
    """The measured process: ``calls`` searches after the warm-up, configured as ``mode``."""
    import warnings

    warnings.filterwarnings("ignore")
    from opensearchpy import AsyncOpenSearch
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

    import instrumentation

    class Discard(SpanExporter):
        def export(self, spans: object) -> SpanExportResult:
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            return None

    if mode in ("ours-sampled-out", "ours-recording"):
        provider = TracerProvider(sampler=ALWAYS_ON if mode == "ours-recording" else ALWAYS_OFF)
        provider.add_span_processor(SimpleSpanProcessor(Discard()))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    if mode != "baseline":
        instrumentation.instrument(clients=["opensearch"], backends=["otel"])

    async def run() -> None:
        async with AsyncOpenSearch([url]) as opensearch:
            for _ in range(WARMUP + calls):
                await opensearch.search(index="movies", body={"query": {"match": {"t": "x"}}})

    asyncio.run(run())


def count(mode: str, url: str, calls: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "benchmarks.opensearch_callgrind",
                "--client",
                mode,
                url,
                str(calls),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": "0"},
            check=True,
            capture_output=True,
            timeout=1800,
        )
        found = _SUMMARY.search(out.read_text())
        if found is None:
            raise RuntimeError(f"no callgrind summary for {mode}")
        return int(found.group(1))


def main() -> None:
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from tests.servers.elasticsearch import ElasticsearchStandIn\n"
            "from tests.servers.threaded import InThread\n"
            "with InThread(ElasticsearchStandIn()) as s:\n"
            "    print(s.url, flush=True)\n"
            "    sys.stdin.read()\n",
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    began = time.monotonic()
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        subprocess.run(
            ["curl", "-s", "-X", "PUT", f"{url}/movies"], check=False, capture_output=True
        )
        per_call: Dict[str, int] = {}
        for mode in CONFIGS:
            per_call[mode] = (count(mode, url, CALLS) - count(mode, url, 0)) // CALLS
            print(f"{mode}: {per_call[mode]:,} instructions/call", flush=True)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=60)
    base = per_call["baseline"]
    lines = [
        f"AsyncOpenSearch `search`, instructions per call of the client process (callgrind, "
        f"{CALLS} calls minus 0 after {WARMUP} warm-up calls, loopback to the Elasticsearch "
        f"imitation in another process); {time.monotonic() - began:.0f} s.",
        "",
        "| configuration | instructions/call | ours - baseline |",
        "|---|---:|---:|",
    ]
    for mode, label in CONFIGS.items():
        added = "" if mode == "baseline" else f"{per_call[mode] - base:+,}"
        lines.append(f"| `{mode}`: {label} | {per_call[mode]:,} | {added} |")
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
