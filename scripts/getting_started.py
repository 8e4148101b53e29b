"""Generate (and check) the expected output shown in ``docs/getting-started.md``.

The page's ``app.py`` (the python block between ``<!-- getting-started:app -->`` markers) is written
to a temporary directory and run exactly as the page says, under the real
``opentelemetry-instrument`` with the console exporter, against the loopback Elasticsearch and
Weaviate stand-ins of the test suite. The console output (one JSON object per span) is then
rendered compactly, ids, timestamps, versions and ports normalised, which is what the page shows
between the ``<!-- getting-started:output -->`` markers.

    python scripts/getting_started.py           # print the rendered output
    python scripts/getting_started.py --write   # rewrite the block in docs/getting-started.md
    python scripts/getting_started.py --check   # exit 1 when the page is stale

``tests/test_getting_started.py`` runs it and compares, so the page cannot go stale.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "getting-started.md"

APP_MARKERS = ("<!-- getting-started:app -->", "<!-- /getting-started:app -->")
OUTPUT_MARKERS = ("<!-- getting-started:output -->", "<!-- /getting-started:output -->")

#: The environment of the page's run command (besides the servers' URLs).
RUN_ENV = {
    "OTEL_SERVICE_NAME": "movies",
    "OTEL_TRACES_EXPORTER": "console",
    "OTEL_METRICS_EXPORTER": "none",
    # opentelemetry-distro defaults every signal to otlp: without this the SDK's setup fails
    # (the log exporter is not installed) and the app runs untraced.
    "OTEL_LOGS_EXPORTER": "none",
}

#: The span attributes the compact listing shows, in this order.
KEY_ATTRIBUTES = (
    "db.system.name",
    "db.query.text",
    "db.response.status_code",
    "error.type",
)

#: Where the stand-ins' random ports are shown as the servers' usual ones.
DEFAULT_PORTS = {"elasticsearch": 9200, "weaviate_http": 8080, "weaviate_grpc": 50051}

#: The span whose whole console JSON the page shows (normalised).
FULL_SPAN = "search movies"


def _between(text: str, markers: Tuple[str, str]) -> Tuple[int, int]:
    start = text.index(markers[0]) + len(markers[0])
    end = text.index(markers[1], start)
    return start, end


def page_app(page: str) -> str:
    """The ``app.py`` of the page: the fenced python block between the app markers."""
    start, end = _between(page, APP_MARKERS)
    match = re.search(r"```python\n(.*?)```", page[start:end], re.S)
    if match is None:
        raise ValueError(f"no ```python block between {APP_MARKERS}")
    return match.group(1)


def page_output(page: str) -> str:
    """What the page shows between the output markers (without the markers themselves)."""
    start, end = _between(page, OUTPUT_MARKERS)
    return page[start:end].strip("\n") + "\n"


def _console_spans(stdout: str) -> List[Dict[str, Any]]:
    """The ConsoleSpanExporter prints ``span.to_json()`` objects back to back."""
    decoder = json.JSONDecoder()
    spans, index = [], 0
    while True:
        while index < len(stdout) and stdout[index].isspace():
            index += 1
        if index >= len(stdout):
            return spans
        if stdout[index] != "{":  # the app's own prints, if any
            index = stdout.find("\n", index)
            if index < 0:
                return spans
            continue
        span, index = decoder.raw_decode(stdout, index)
        spans.append(span)


def _normalise(value: Any, ports: Mapping[int, int]) -> Any:
    if isinstance(value, dict):
        return {k: _normalise_item(k, v, ports) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v, ports) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return ports.get(value, value)
    if isinstance(value, str):
        for real, shown in ports.items():
            value = re.sub(rf":{real}\b", f":{shown}", value)
    return value


def _normalise_item(key: str, value: Any, ports: Mapping[int, int]) -> Any:
    if key in ("trace_id", "span_id") or (key == "parent_id" and value):
        return "0x…"
    if key in ("start_time", "end_time"):
        return "…"
    if key.endswith(".version") and key.startswith("telemetry."):
        return "…"
    if key == "service.instance.id" or key.endswith(".took"):  # the server's own milliseconds
        return "…"
    return _normalise(value, ports)


def render(spans: List[Dict[str, Any]], ports: Mapping[int, int]) -> str:
    """The compact listing, then the one span's whole JSON, as the page shows them."""
    spans = sorted(spans, key=lambda s: s["start_time"])
    lines = []
    for span in spans:
        attrs = _normalise(span.get("attributes") or {}, ports)
        kind = span["kind"].rsplit(".", 1)[-1]
        status = span.get("status", {}).get("status_code", "UNSET")
        server = ""
        if "server.address" in attrs:
            server = f"  -> {attrs['server.address']}:{attrs.get('server.port', '')}"
        error = "  ERROR" if status == "ERROR" else ""
        lines.append(f"{span['name']}  [{kind}]{error}{server}")
        lines.extend(f"    {key} = {attrs[key]}" for key in KEY_ATTRIBUTES if key in attrs)
    full = [s for s in spans if s["name"] == FULL_SPAN]
    out = "```\n" + "\n".join(lines) + "\n```\n"
    if full:
        shown = _normalise(full[0], ports)
        out += (
            f"\nThe whole console record of one of them, `{FULL_SPAN}`:\n\n"
            "```json\n" + json.dumps(shown, indent=4, ensure_ascii=False) + "\n```\n"
        )
    return out


def run_app(app: str, timeout: float = 120.0) -> Tuple[List[Dict[str, Any]], Dict[int, int]]:
    """Run ``app`` as the page says, against the stand-ins; its spans and the port mapping."""
    sys.path.insert(0, str(ROOT))
    from tests.servers.elasticsearch import ElasticsearchStandIn
    from tests.servers.threaded import InThread
    from tests.servers.weaviate_rest import WeaviateStandIn

    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ELASTIC_APM_"))}
    env.update(RUN_ENV)
    env.pop("PYTHONPATH", None)  # the app sees only what is installed, like a user's would
    with InThread(ElasticsearchStandIn()) as es, InThread(WeaviateStandIn()) as wv:
        env["ELASTICSEARCH_URL"] = es.url
        env["WEAVIATE_URL"] = wv.url
        env["WEAVIATE_GRPC_PORT"] = str(wv.grpc_port)
        ports = {
            es.port: DEFAULT_PORTS["elasticsearch"],
            wv.http_port: DEFAULT_PORTS["weaviate_http"],
            wv.grpc_port: DEFAULT_PORTS["weaviate_grpc"],
        }
        with tempfile.TemporaryDirectory() as workdir:
            (Path(workdir) / "app.py").write_text(app)
            done = subprocess.run(
                [str(instrument), sys.executable, "app.py"],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
    if done.returncode != 0 or "Traceback" in done.stderr:
        raise RuntimeError(
            f"the app failed ({done.returncode}):\n{done.stderr[-4000:]}\n{done.stdout[-2000:]}"
        )
    return _console_spans(done.stdout), ports


def generate(page: str) -> str:
    spans, ports = run_app(page_app(page))
    if not spans:
        raise RuntimeError("the app printed no span")
    return render(spans, ports)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the page's output block")
    parser.add_argument("--check", action="store_true", help="exit 1 when the page is stale")
    args = parser.parse_args(argv)
    try:  # weaviate-client's authlib warns on import; imported first: it resets the filter
        from authlib.deprecate import AuthlibDeprecationWarning
    except ImportError:
        pass
    else:
        warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)
    page = PAGE.read_text()
    output = generate(page)
    if args.write:
        start, end = _between(page, OUTPUT_MARKERS)
        PAGE.write_text(page[:start] + "\n" + output + page[end:])
        print(f"wrote {PAGE.relative_to(ROOT)}")
    elif args.check:
        if page_output(page) != output:
            print(f"{PAGE.relative_to(ROOT)} is stale: python scripts/getting_started.py --write")
            return 1
    else:
        sys.stdout.write(output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
