"""``make servers``: local search servers to try the instrumentation on, and their URLs.

    python scripts/servers.py              # real servers if they can be had, else the imitations
    python scripts/servers.py --standins   # the loopback imitations at once (no Java, Maven, Go)

First it tries the real servers of the test suite's real tier (``python -m tests.real.servers
start``, docs/real-servers.md: a real Elasticsearch node and Weaviate, OpenSearch where it can run;
it needs Java, Maven and Go; about a minute, the first Weaviate build about ten). They keep running in the background until
``make stop-real-servers``. Whatever could not be had is replaced by a loopback imitation from
``tests/servers`` (an in-memory server answering the REST and gRPC calls the tests, the demo and the
example make), served from this process in the foreground until Ctrl-C.

Either way it prints one ``export NAME=value`` line per URL, ready to paste into the shell that runs
your app: ``ELASTICSEARCH_URL``, ``OPENSEARCH_URL``, ``WEAVIATE_URL`` and ``WEAVIATE_GRPC_PORT``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional

# weaviate-client imports authlib, which warns on import (AuthlibDeprecationWarning): not ours to
# show. authlib.deprecate puts an "always" filter first when imported, so it is imported first.
with contextlib.suppress(ImportError):
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)

ROOT = Path(__file__).resolve().parents[1]

#: What the apps read, in the order printed.
VARIABLES = ("ELASTICSEARCH_URL", "OPENSEARCH_URL", "WEAVIATE_URL", "WEAVIATE_GRPC_PORT")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def real_servers() -> Dict[str, str]:
    """The real servers' URLs (only those that started), by the variable that names them."""
    _say(
        "Starting the real servers (python -m tests.real.servers start): about a minute, the\n"
        "first build much longer. The loopback imitations at once: make servers ARGS=--standins"
    )
    try:
        done = subprocess.run(
            # not elasticsearch8: the tests' second Elasticsearch (8.x, for elasticsearch-py 8)
            [
                sys.executable,
                "-m",
                "tests.real.servers",
                "start",
                "--only",
                "elasticsearch,opensearch,weaviate",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
    except OSError as exc:
        _say(f"real servers unavailable: {exc}")
        return {}
    info: Dict[str, Any] = {}
    for line in reversed(done.stdout.splitlines()):
        with contextlib.suppress(ValueError):
            info = json.loads(line)
            break
    found: Dict[str, str] = {}
    if info.get("elasticsearch"):
        found["ELASTICSEARCH_URL"] = str(info["elasticsearch"])
    if info.get("opensearch"):
        found["OPENSEARCH_URL"] = str(info["opensearch"])
    if info.get("weaviate_http") and info.get("weaviate_grpc_port"):
        found["WEAVIATE_URL"] = str(info["weaviate_http"]).rstrip("/")
        found["WEAVIATE_GRPC_PORT"] = str(info["weaviate_grpc_port"])
    return found


def start_standins(stack: contextlib.ExitStack, missing: List[str]) -> Dict[str, str]:
    """Loopback imitations for the ``missing`` variables, on threads of this process."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.servers.elasticsearch import ElasticsearchStandIn
    from tests.servers.threaded import InThread

    found: Dict[str, str] = {}
    if "ELASTICSEARCH_URL" in missing:
        found["ELASTICSEARCH_URL"] = stack.enter_context(InThread(ElasticsearchStandIn())).url
    if "OPENSEARCH_URL" in missing:
        # OpenSearch speaks the same REST API for everything the imitation answers.
        found["OPENSEARCH_URL"] = stack.enter_context(InThread(ElasticsearchStandIn())).url
    if "WEAVIATE_URL" in missing or "WEAVIATE_GRPC_PORT" in missing:
        from tests.servers.weaviate_rest import WeaviateStandIn

        weaviate = stack.enter_context(InThread(WeaviateStandIn()))
        found["WEAVIATE_URL"] = weaviate.url
        found["WEAVIATE_GRPC_PORT"] = str(weaviate.grpc_port)
    return found


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--standins",
        action="store_true",
        help="skip the real servers, start the loopback imitations",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # Ctrl-C stops it even when started in the background (where a shell makes SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with contextlib.ExitStack() as stack:
        try:
            urls = {} if args.standins else real_servers()
            missing = [name for name in VARIABLES if name not in urls]
            standins = start_standins(stack, missing) if missing else {}
            if urls:
                print("# real servers (stop them with: make stop-real-servers)")
                for name in VARIABLES:
                    if name in urls:
                        print(f"export {name}={urls[name]}")
            if standins:
                print("# loopback imitations (tests/servers), served until Ctrl-C")
                for name in VARIABLES:
                    if name in standins:
                        print(f"export {name}={standins[name]}")
            sys.stdout.flush()
            if not standins:
                return 0
            _say("Serving; Ctrl-C stops the imitations.")
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            _say("Stopping.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
