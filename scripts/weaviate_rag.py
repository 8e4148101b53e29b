"""Generate (and check) the spans shown in ``docs/weaviate-rag.md``.

The page's ``app.py`` (the python block between ``<!-- weaviate-rag:app -->`` markers) is written to
a temporary directory and run exactly as the page says, under the real ``opentelemetry-instrument``
with the console exporter, against a real Weaviate server (``WEAVIATE_URL`` and
``WEAVIATE_GRPC_PORT``, else the one in ``.real-servers/run/servers.json``; ``make real-servers``)
whose Cohere modules call the loopback Cohere-compatible endpoint of the test suite
(``tests/servers/cohere.py``). The spans are rendered compactly with their GenAI attributes, then
the RAG call's whole record, ids, timestamps, versions and ports normalised: what the page shows
between the ``<!-- weaviate-rag:output -->`` markers.

    python scripts/weaviate_rag.py           # print the rendered output
    python scripts/weaviate_rag.py --write   # rewrite the block in docs/weaviate-rag.md
    python scripts/weaviate_rag.py --check   # exit 1 when the page is stale

``tests/real/test_weaviate_rag_real.py`` runs it and compares, so the page cannot go stale.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Mapping, Tuple
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "weaviate-rag.md"

APP_MARKERS = ("<!-- weaviate-rag:app -->", "<!-- /weaviate-rag:app -->")
OUTPUT_MARKERS = ("<!-- weaviate-rag:output -->", "<!-- /weaviate-rag:output -->")

RUN_ENV = {
    "OTEL_SERVICE_NAME": "movies",
    "OTEL_TRACES_EXPORTER": "console",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
    "COHERE_APIKEY": "loopback-cohere-key",
}
KEY_ATTRIBUTES = (
    "db.response.status_code",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
)
DEFAULT_PORTS = {"weaviate_http": 8080, "weaviate_grpc": 50051}
FULL_SPAN = "generate.hybrid RagMovie"


def _getting_started() -> ModuleType:
    """``scripts/getting_started.py``: the console parsing and normalising it does already."""
    path = ROOT / "scripts" / "getting_started.py"
    spec = importlib.util.spec_from_file_location("getting_started_script", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


_GS = _getting_started()


def page_app(page: str) -> str:
    start, end = _GS._between(page, APP_MARKERS)
    match = re.search(r"```python\n(.*?)```", page[start:end], re.S)
    if match is None:
        raise ValueError(f"no ```python block between {APP_MARKERS}")
    return match.group(1)


def page_output(page: str) -> str:
    start, end = _GS._between(page, OUTPUT_MARKERS)
    return page[start:end].strip("\n") + "\n"


def render(spans: List[Dict[str, Any]], ports: Mapping[int, int]) -> str:
    spans = sorted(spans, key=lambda s: s["start_time"])
    lines = []
    for span in spans:
        attrs = _GS._normalise(span.get("attributes") or {}, ports)
        status = span.get("status", {}).get("status_code", "UNSET")
        error = "  ERROR" if status == "ERROR" else ""
        lines.append(f"{span['name']}  [{span['kind'].rsplit('.', 1)[-1]}]{error}")
        lines.extend(f"    {key} = {attrs[key]}" for key in KEY_ATTRIBUTES if key in attrs)
    out = "```\n" + "\n".join(lines) + "\n```\n"
    full = [s for s in spans if s["name"] == FULL_SPAN]
    if full:
        shown = _GS._normalise(full[0], ports)
        out += "\n```json\n" + json.dumps(shown, indent=4, ensure_ascii=False) + "\n```\n"
    return out


def run_app(
    app: str, weaviate_url: str, grpc_port: int, traced: bool = True, timeout: float = 180.0
) -> Tuple[List[Dict[str, Any]], Dict[int, int], str]:
    """Run ``app`` as the page says (``traced``: under ``opentelemetry-instrument``, else plain);
    its spans, the port mapping and what the app itself printed."""
    sys.path.insert(0, str(ROOT))
    from tests.servers.cohere import CohereStandIn
    from tests.servers.threaded import InThread

    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ELASTIC_APM_"))}
    env.update(RUN_ENV)
    env.pop("PYTHONPATH", None)
    http_port = urlsplit(weaviate_url).port or 80
    ports = {http_port: DEFAULT_PORTS["weaviate_http"], grpc_port: DEFAULT_PORTS["weaviate_grpc"]}
    with InThread(CohereStandIn()) as cohere:
        env["WEAVIATE_URL"] = weaviate_url
        env["WEAVIATE_GRPC_PORT"] = str(grpc_port)
        env["COHERE_BASE_URL"] = cohere.url
        with tempfile.TemporaryDirectory() as workdir:
            (Path(workdir) / "app.py").write_text(app)
            done = subprocess.run(
                [str(instrument), sys.executable, "app.py"]
                if traced
                else [sys.executable, "app.py"],
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
    printed = "\n".join(
        line for line in done.stdout.splitlines() if line.startswith(("[", "Alien", "Heat"))
    )
    return _GS._console_spans(done.stdout), ports, printed


def generate(page: str, weaviate_url: str, grpc_port: int) -> str:
    spans, ports, _ = run_app(page_app(page), weaviate_url, grpc_port)
    if not spans:
        raise RuntimeError("the app printed no span")
    return render(spans, ports)


def _server() -> Tuple[str, int]:
    if os.environ.get("WEAVIATE_URL"):
        return os.environ["WEAVIATE_URL"], int(os.environ.get("WEAVIATE_GRPC_PORT", "50051"))
    info = json.loads((ROOT / ".real-servers" / "run" / "servers.json").read_text())
    return str(info["weaviate_http"]), int(info["weaviate_grpc_port"])


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
    output = generate(page, *_server())
    if args.write:
        start, end = _GS._between(page, OUTPUT_MARKERS)
        PAGE.write_text(page[:start] + "\n" + output + page[end:])
        print(f"wrote {PAGE.relative_to(ROOT)}")
    elif args.check:
        if page_output(page) != output:
            print(f"{PAGE.relative_to(ROOT)} is stale: python scripts/weaviate_rag.py --write")
            return 1
    else:
        sys.stdout.write(output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
