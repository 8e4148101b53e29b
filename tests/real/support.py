"""The real tier's plumbing: where the real servers are, and the ``make test`` runner.

Where the servers come from, in this order (per server):

1. the environment: ``ELASTICSEARCH_URL``; ``WEAVIATE_URL`` + ``WEAVIATE_GRPC_PORT``;
   ``OPENSEARCH_URL``; ``APM_INTAKE_URL`` (any server you run yourself: Docker, a cluster,
   ``make real-servers`` in another shell; the intake built from ``tests/real/apm_intake``);
2. ``.real-servers/run/servers.json`` (written by ``python -m tests.real.servers start``), when the
   servers in it answer;
3. else they are built and started by the session itself, with the modules ``tests.real.servers``
   knows (``elasticsearch_node``, ``weaviate_server``, ``apm_intake_server``, ...), in a run directory of the session's own
   (``.real-servers/pytest-<pid>``), and stopped when the session ends.

The Elasticsearch node of 2 and 3 is of the installed client's generation: under
elasticsearch-py 8.x (``.venv-es8``) the 8.x node (``elasticsearch8``), else the 9.x node. (An
8.x node refuses the 9.x client's ``compatible-with=9``.)

``python -m tests.real.support make-test [pytest args]`` is what ``make test`` runs after the fast
tier: it starts the servers (``python -m tests.real.servers start``), runs ``pytest tests/real``,
and, given ``--es8-python PATH`` (``.venv-es8``'s python), the Elasticsearch files of the tier under
elasticsearch-py 8.x against the 8.x node (``ES8_TESTS``); it stops the servers (also on failure)
and prints how long each part took. Without Java, Go or servers it
prints one line saying the real tier was skipped and how to run it, and exits 0, unless
``REAL_SERVERS_REQUIRED=1`` (CI), where that is a failure.
"""

from __future__ import annotations

import atexit
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[2]
BASE = ROOT / ".real-servers"
CACHE = BASE / "cache"
SERVERS_JSON = BASE / "run" / "servers.json"

# What make test runs under elasticsearch-py 8.x against the 8.x node (--es8-python).
ES8_TESTS = (
    "tests/real/test_elasticsearch_real.py",
    "tests/real/test_faults_real.py::test_elasticsearch_fault_changes_nothing_the_application_sees",
    "tests/real/test_faults_real.py::test_the_proxy_records_the_requests_it_forwards",
    "tests/real/test_propagation_real.py::test_elasticsearch_every_attempt_carries_the_call_span",
)

HOW_TO_RUN = (
    "run `make real-servers` (Java 21+ and Go; then `pytest tests/real`), or point the tier at "
    "your own servers with ELASTICSEARCH_URL, WEAVIATE_URL + WEAVIATE_GRPC_PORT, APM_INTAKE_URL "
    "(see docs/real-servers.md)"
)


def required() -> bool:
    return os.environ.get("REAL_SERVERS_REQUIRED") == "1"


def elasticsearch_server() -> str:
    """The server name (and ``servers.json`` key) of the node for the installed client:
    ``elasticsearch8`` under elasticsearch-py 8.x, else ``elasticsearch`` (9.x)."""
    from importlib import metadata

    try:
        major = metadata.version("elasticsearch").split(".")[0]
    except metadata.PackageNotFoundError:
        return "elasticsearch"
    return "elasticsearch8" if major == "8" else "elasticsearch"


# -- the servers ----------------------------------------------------------------------------------
@dataclass
class Elasticsearch:
    url: str
    version: str
    source: str

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urllib.parse.urlsplit(self.url).port or 9200


@dataclass
class Weaviate:
    http_url: str
    grpc_port: int
    version: str
    source: str

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.http_url).hostname or "127.0.0.1"

    @property
    def http_port(self) -> int:
        return urllib.parse.urlsplit(self.http_url).port or 8080


@dataclass
class OpenSearch(Elasticsearch):
    """A real OpenSearch node: the same REST shape as Elasticsearch."""


@dataclass
class ApmIntake:
    """Elastic's intake code (apm-data) behind a loopback port: see ``tests/real/apm_docs.py``."""

    url: str
    version: str  # of apm-data
    source: str


@dataclass
class RealServers:
    elasticsearch: Optional[Elasticsearch] = None
    weaviate: Optional[Weaviate] = None
    opensearch: Optional[OpenSearch] = None
    apm_intake: Optional[ApmIntake] = None
    #: why a server could not be had, by name
    problems: Dict[str, str] = field(default_factory=dict)
    #: (module, run dir) of the servers this process started, to stop at the end
    started: List[Any] = field(default_factory=list)


def _get_json(url: str, timeout: float = 3.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode() or "null")


def _port_open(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def probe_elasticsearch(url: str, source: str) -> Elasticsearch:
    """The node at ``url``, or ``RuntimeError`` saying why not."""
    url = url.rstrip("/")
    try:
        info = _get_json(url + "/")
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"Elasticsearch at {url} ({source}) does not answer: {exc}") from None
    version = str(((info or {}).get("version") or {}).get("number", "?"))
    return Elasticsearch(url, version, source)


def probe_weaviate(http_url: str, grpc_port: int, source: str) -> Weaviate:
    http_url = http_url.rstrip("/")
    try:
        with urllib.request.urlopen(http_url + "/v1/.well-known/ready", timeout=3) as response:
            if response.status != 200:
                raise RuntimeError(f"not ready ({response.status})")
        meta = _get_json(http_url + "/v1/meta")
    except (OSError, ValueError, RuntimeError) as exc:
        raise RuntimeError(f"Weaviate at {http_url} ({source}) does not answer: {exc}") from None
    host = urllib.parse.urlsplit(http_url).hostname or "127.0.0.1"
    if not _port_open(host, grpc_port):
        raise RuntimeError(f"Weaviate gRPC at {host}:{grpc_port} ({source}) refuses connections")
    return Weaviate(http_url, grpc_port, str((meta or {}).get("version", "?")), source)


def probe_opensearch(url: str, source: str) -> OpenSearch:
    found = probe_elasticsearch(url, source)
    return OpenSearch(found.url, found.version, source)


def probe_apm_intake(url: str, source: str, version: str = "?") -> ApmIntake:
    url = url.rstrip("/")
    try:
        docs = _get_json(url + "/_docs?trace_id=-")
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"APM intake at {url} ({source}) does not answer: {exc}") from None
    if not isinstance(docs, dict) or "docs" not in docs:
        raise RuntimeError(f"{url} ({source}) is not tests/real/apm_intake (no GET /_docs)")
    return ApmIntake(url, version, source)


def _from_env(servers: RealServers) -> None:
    intake_url = os.environ.get("APM_INTAKE_URL")
    if intake_url:
        try:
            servers.apm_intake = probe_apm_intake(intake_url, "APM_INTAKE_URL")
        except RuntimeError as exc:
            servers.problems["apm_intake"] = str(exc)
    os_url = os.environ.get("OPENSEARCH_URL")
    if os_url:
        try:
            servers.opensearch = probe_opensearch(os_url, "OPENSEARCH_URL")
        except RuntimeError as exc:
            servers.problems["opensearch"] = str(exc)
    es_url = os.environ.get("ELASTICSEARCH_URL")
    if es_url:
        try:
            servers.elasticsearch = probe_elasticsearch(es_url, "ELASTICSEARCH_URL")
        except RuntimeError as exc:
            servers.problems["elasticsearch"] = str(exc)
    wv_url = os.environ.get("WEAVIATE_URL")
    if wv_url:
        grpc = os.environ.get("WEAVIATE_GRPC_PORT", "50051")
        try:
            servers.weaviate = probe_weaviate(wv_url, int(grpc), "WEAVIATE_URL")
        except (RuntimeError, ValueError) as exc:
            servers.problems["weaviate"] = str(exc)


def _from_servers_json(servers: RealServers) -> None:
    try:
        info = json.loads(SERVERS_JSON.read_text())
    except (OSError, ValueError):
        return
    source = str(SERVERS_JSON.relative_to(ROOT))
    if servers.elasticsearch is None and "elasticsearch" not in servers.problems:
        key = elasticsearch_server()
        if info.get(key):
            try:
                servers.elasticsearch = probe_elasticsearch(info[key], f"{source} {key}")
            except RuntimeError:
                pass  # stale: started below
    if servers.opensearch is None and "opensearch" not in servers.problems:
        if info.get("opensearch"):
            try:
                servers.opensearch = probe_opensearch(info["opensearch"], source)
            except RuntimeError:
                pass
    if servers.apm_intake is None and "apm_intake" not in servers.problems:
        if info.get("apm_intake"):
            try:
                servers.apm_intake = probe_apm_intake(
                    info["apm_intake"], source, str(info.get("apm_data_version", "?"))
                )
            except RuntimeError:
                pass
    if servers.weaviate is None and "weaviate" not in servers.problems:
        if info.get("weaviate_http") and info.get("weaviate_grpc_port"):
            try:
                servers.weaviate = probe_weaviate(
                    info["weaviate_http"], int(info["weaviate_grpc_port"]), source
                )
            except RuntimeError:
                pass


def _start_missing(servers: RealServers) -> None:
    """Build and start what is still missing, in a run directory of this process's own."""
    import importlib

    from tests.real import servers as orchestrator

    modules = {name: module for name, module, _ in orchestrator.SERVERS}
    run = BASE / f"pytest-{os.getpid()}"
    for name in ("weaviate", "apm_intake", "elasticsearch", "opensearch"):
        if getattr(servers, name) is not None or name in servers.problems:
            continue
        began = time.monotonic()
        try:
            server = elasticsearch_server() if name == "elasticsearch" else name
            module = importlib.import_module(modules[server])
            run.mkdir(parents=True, exist_ok=True)
            module.build(CACHE)
            servers.started.append((module, run))
            info = module.start(CACHE, run)
        except Exception as exc:  # no Java, no Go, no network for a cold build ...
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            servers.problems[name] = f"could not build or start a real {name}: {first}"
            continue
        took = time.monotonic() - began
        print(f"[real tier] started {name} in {took:.1f}s ({run})", file=sys.stderr, flush=True)
        if name == "elasticsearch":
            servers.elasticsearch = Elasticsearch(
                info[server], str(info.get(f"{server}_version", "?")), "started"
            )
        elif name == "apm_intake":
            servers.apm_intake = ApmIntake(
                info["apm_intake"], str(info.get("apm_data_version", "?")), "started"
            )
        elif name == "opensearch":
            servers.opensearch = OpenSearch(
                info["opensearch"], str(info.get("opensearch_version", "?")), "started"
            )
        else:
            servers.weaviate = Weaviate(
                info["weaviate_http"],
                int(info["weaviate_grpc_port"]),
                str(info.get("weaviate_version", "?")),
                "started",
            )


def stop_started(servers: RealServers) -> None:
    while servers.started:
        module, run = servers.started.pop()
        try:
            module.stop(run)
        except Exception as exc:  # pragma: no cover - best effort at exit
            print(f"[real tier] stop failed: {exc}", file=sys.stderr)
        if not servers.started and run.name.startswith("pytest-"):
            shutil.rmtree(run, ignore_errors=True)  # the session's own state, logs and data
    for name in ("elasticsearch", "weaviate", "opensearch", "apm_intake"):
        server = getattr(servers, name)
        if server is not None and server.source == "started":
            setattr(servers, name, None)


def acquire(start: bool = True) -> RealServers:
    servers = RealServers()
    _from_env(servers)
    _from_servers_json(servers)
    if start and os.environ.get("REAL_SERVERS_START", "1") != "0":
        _start_missing(servers)
        if servers.started:
            atexit.register(stop_started, servers)
    for name in ("elasticsearch", "weaviate", "opensearch", "apm_intake"):
        if getattr(servers, name) is None and name not in servers.problems:
            servers.problems[name] = f"no real {name} (auto-start is off: REAL_SERVERS_START=0)"
    return servers


# -- names ----------------------------------------------------------------------------------------
def unique_index(label: str = "t") -> str:
    """A fresh index name, lower-case, per test: tests never collide on a shared server."""
    return f"rt-{label.lower()[:24]}-{uuid.uuid4().hex[:10]}"


def unique_collection(label: str = "T") -> str:
    """A fresh Weaviate collection name (they start with an upper-case letter)."""
    clean = "".join(ch for ch in label.title() if ch.isalnum())[:24] or "T"
    return f"Rt{clean}{uuid.uuid4().hex[:10]}"


# -- plain HTTP, for set-up and clean-up outside any instrumentation -----------------------------
def http(method: str, url: str, body: Any = None, timeout: float = 30.0) -> Any:
    """One request with ``urllib`` (no client, so no span); the JSON answer, else the raw bytes."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read()
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw


def weaviate_client_for(server: Weaviate, **kwargs: Any) -> Any:
    """A ``WeaviateAsyncClient`` for ``server`` (not connected yet); ``http_port`` / ``grpc_port``
    (and hosts) may point it at a fault proxy instead."""
    import weaviate

    kwargs.setdefault("skip_init_checks", True)
    return weaviate.use_async_with_custom(
        http_host=kwargs.pop("http_host", server.host),
        http_port=kwargs.pop("http_port", server.http_port),
        http_secure=False,
        grpc_host=kwargs.pop("grpc_host", server.host),
        grpc_port=kwargs.pop("grpc_port", server.grpc_port),
        grpc_secure=False,
        **kwargs,
    )


# -- make test ------------------------------------------------------------------------------------
def _run(cmd: List[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, text=True, **kwargs)


def make_test(pytest_args: List[str], es8_python: Optional[str] = None) -> int:
    python = sys.executable
    began = time.monotonic()
    start = _run(
        [python, "-m", "tests.real.servers", "start"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    start_seconds = time.monotonic() - began
    info: Dict[str, Any] = {}
    try:
        info = json.loads(start.stdout.strip().splitlines()[-1]) if start.stdout.strip() else {}
    except ValueError:
        info = {}
    missing = [
        name
        for name, key in (("elasticsearch", "elasticsearch"), ("weaviate", "weaviate_http"))
        if not info.get(key)
    ]
    status = 0
    ran = False
    try:
        # Without REAL_SERVERS_REQUIRED a server that did not start (exit 1) skips its own tests
        # only; the tier runs with the others.
        if missing or (start.returncode != 0 and required()):
            why = (
                " / ".join(line.strip() for line in start.stderr.splitlines() if "failed" in line)
                or f"{', '.join(missing)} not started"
            )
            if required():
                print(
                    "REAL TIER FAILED: real servers required (REAL_SERVERS_REQUIRED=1) but "
                    f"{', '.join(missing) or 'a server'} could not be started: {why}",
                    flush=True,
                )
                return 1
            why = why.replace("[real-servers] ", "")
            print(f"Real tier SKIPPED ({why}); to run it: {HOW_TO_RUN}.", flush=True)
            return 0
        sys.stderr.write(start.stderr)
        ran = True
        tests_began = time.monotonic()
        env = dict(os.environ, REAL_SERVERS_START="0")
        status = _run([python, "-m", "pytest", "tests/real", *pytest_args], env=env).returncode
        tests_seconds = time.monotonic() - tests_began
        es8 = ""
        if es8_python:
            es8_status, es8 = _run_es8(es8_python, info, start.stderr, pytest_args)
            status = status or es8_status
        print(
            f"[real tier] servers start (build included) {start_seconds:.1f}s, "
            f"tests {tests_seconds:.1f}s{es8}",
            flush=True,
        )
        return status
    finally:
        stop_began = time.monotonic()
        reused = {
            line.split("]", 1)[1].split(":", 1)[0].strip()
            for line in start.stderr.splitlines()
            if line.startswith("[real-servers]") and "already running, reused" in line
        }
        if not reused:
            _run([python, "-m", "tests.real.servers", "stop"], stdout=subprocess.DEVNULL)
        else:  # leave running what was running before (make real-servers, another session)
            _stop_all_but(reused)
        if ran:
            print(
                f"[real tier] servers stopped in {time.monotonic() - stop_began:.1f}s", flush=True
            )


def _run_es8(
    python: str, info: Dict[str, Any], start_stderr: str, pytest_args: List[str]
) -> Tuple[int, str]:
    """The Elasticsearch files of the tier under elasticsearch-py 8.x (``python``, the
    ``.venv-es8`` interpreter) against the 8.x node: the status and a timing for the summary."""
    url = info.get("elasticsearch8")
    if not url:
        why = " / ".join(
            line.replace("[real-servers] ", "").strip()
            for line in start_stderr.splitlines()
            if "elasticsearch8" in line and "failed" in line
        )
        why = why or "elasticsearch8 not started"
        if required():
            print(f"REAL TIER FAILED: the 8.x node is required but {why}", flush=True)
            return 1, ""
        print(f"Real tier, elasticsearch-py 8.x SKIPPED ({why}).", flush=True)
        return 0, ""
    print(f"[real tier] elasticsearch-py 8.x against {url} (8.x node)", flush=True)
    began = time.monotonic()
    env = dict(os.environ, REAL_SERVERS_START="0", ELASTICSEARCH_URL=url)
    status = _run([python, "-m", "pytest", *ES8_TESTS, *pytest_args], env=env).returncode
    return status, f", elasticsearch-py 8.x tests {time.monotonic() - began:.1f}s"


def _stop_all_but(keep: Any) -> None:
    """Stop the servers this run started (the orchestrator's ``stop --only``, which also drops
    their entries from ``servers.json``), and leave those that were running before."""
    from tests.real import servers as orchestrator

    names = [
        name
        for name, _, pid_file in orchestrator.SERVERS
        if name not in keep and (orchestrator.RUN / pid_file).exists()
    ]
    if names:
        _run(
            [sys.executable, "-m", "tests.real.servers", "stop", "--only", ",".join(names)],
            stdout=subprocess.DEVNULL,
        )


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "make-test":
        print(
            "usage: python -m tests.real.support make-test [--es8-python PATH] [pytest args]",
            file=sys.stderr,
        )
        return 2
    rest = args[1:]
    es8_python: Optional[str] = None
    if rest and rest[0] == "--es8-python" and len(rest) > 1:
        es8_python, rest = rest[1], rest[2:]
    elif rest and rest[0].startswith("--es8-python="):
        es8_python, rest = rest[0].split("=", 1)[1], rest[1:]
    return make_test(rest, es8_python)


if __name__ == "__main__":
    sys.exit(main())
