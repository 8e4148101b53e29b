"""``make servers``: prints URLs that the real clients can use, until Ctrl-C."""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, Dict, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPORT = re.compile(r"^export (\w+)=(\S+)$")


@pytest.fixture
def servers() -> Iterator[Dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "servers.py"), "--standins"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in process.stdout], daemon=True)
    reader.start()
    printed: Dict[str, str] = {}
    deadline = time.monotonic() + 120  # room for a busy machine: they start in ~2 s
    try:
        while len(printed) < 4:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no URLs within 120s; got {printed}")
            match = EXPORT.match(line.strip())
            if match:
                printed[match.group(1)] = match.group(2)
        yield printed
        assert process.poll() is None, "the stand-ins stopped before being told to"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            process.wait(120)  # Ctrl-C stops them in well under a second when idle
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    stderr = process.stderr.read()
    reader.join(10)
    process.stderr.close()
    process.stdout.close()
    assert process.returncode == 0, stderr
    assert "AuthlibDeprecationWarning" not in stderr
    assert "Traceback" not in stderr


@pytest.mark.timeout(300)  # the stand-ins in a process of their own, started and stopped
async def test_the_printed_urls_serve_the_real_clients(servers: Dict[str, str]) -> None:
    import weaviate
    from elasticsearch import AsyncElasticsearch
    from opensearchpy import AsyncOpenSearch

    assert set(servers) == {
        "ELASTICSEARCH_URL",
        "OPENSEARCH_URL",
        "WEAVIATE_URL",
        "WEAVIATE_GRPC_PORT",
    }
    async with AsyncElasticsearch(servers["ELASTICSEARCH_URL"]) as es:
        assert (await es.info())["version"]["number"]
    opensearch = AsyncOpenSearch([servers["OPENSEARCH_URL"]])
    try:
        assert await opensearch.ping()
    finally:
        await opensearch.close()
    url = servers["WEAVIATE_URL"].split("://", 1)[1]
    host, port = url.rsplit(":", 1)
    async with weaviate.use_async_with_local(
        host=host,
        port=int(port),
        grpc_port=int(servers["WEAVIATE_GRPC_PORT"]),
        skip_init_checks=True,
    ) as client:
        assert await client.is_ready()
        assert not await client.collections.exists("Nothing")


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("servers_script", ROOT / "scripts" / "servers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_real_servers_line_is_read_and_what_is_missing_is_left_to_the_imitations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What ``python -m tests.real.servers start`` prints when only Elasticsearch could start."""
    script = _load_script()
    line = {"elasticsearch": "http://127.0.0.1:9201", "elasticsearch_version": "9.5.3"}

    def fake_run(command: Any, **kwargs: Any) -> Any:
        # the servers an app needs; not the tests' second Elasticsearch (8.x)
        assert command[1:] == [
            "-m",
            "tests.real.servers",
            "start",
            "--only",
            "elasticsearch,opensearch,weaviate",
        ]
        return SimpleNamespace(returncode=0, stdout="progress\n" + json.dumps(line) + "\n")

    monkeypatch.setattr(script.subprocess, "run", fake_run)
    assert script.real_servers() == {"ELASTICSEARCH_URL": "http://127.0.0.1:9201"}

    line.update(weaviate_http="http://127.0.0.1:8081/", weaviate_grpc_port=50052)
    assert script.real_servers() == {
        "ELASTICSEARCH_URL": "http://127.0.0.1:9201",
        "WEAVIATE_URL": "http://127.0.0.1:8081",
        "WEAVIATE_GRPC_PORT": "50052",
    }


# -- python -m tests.real.servers: its exit status, and nodes run as nobody ---------------------
@pytest.fixture
def orchestrator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``tests.real.servers`` with its state under ``tmp_path`` and two server modules: ``good``
    starts, ``bad`` fails as Elasticsearch did from a checkout ``nobody`` cannot enter."""
    from tests.real import servers as orchestrator

    def failing_start(cache: Path, run: Path) -> Dict[str, Any]:
        raise RuntimeError("elasticsearch exited with 1 while starting: Permission denied")

    modules = {
        "good_server": SimpleNamespace(
            build=lambda cache: None,
            start=lambda cache, run: {"good": "http://127.0.0.1:1"},
            stop=lambda run: None,
        ),
        "bad_server": SimpleNamespace(build=lambda cache: None, start=failing_start),
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    run = tmp_path / "run"
    monkeypatch.setattr(orchestrator, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(orchestrator, "RUN", run)
    monkeypatch.setattr(orchestrator, "STATE", run / "servers-state.json")
    monkeypatch.setattr(orchestrator, "SERVERS_JSON", run / "servers.json")
    monkeypatch.setattr(
        orchestrator,
        "SERVERS",
        [("good", "good_server", "good.pid"), ("bad", "bad_server", "bad.pid")],
    )
    return orchestrator


def test_start_exits_1_naming_the_server_that_did_not_start(
    orchestrator: ModuleType, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REAL_SERVERS_REQUIRED", raising=False)  # not needed for the status
    assert orchestrator.main(["start"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == {"good": "http://127.0.0.1:1"}  # what did start is still printed
    assert "[real-servers] bad: failed: elasticsearch exited with 1" in err
    assert err.rstrip().endswith("[real-servers] not started: bad (see the lines above)")


def test_start_exits_0_when_every_server_asked_for_started(
    orchestrator: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert orchestrator.main(["start", "--only", "good"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"good": "http://127.0.0.1:1"}
    assert "not started" not in err


@pytest.mark.skipif(os.geteuid() != 0, reason="the node drops to nobody only when run as root")
def test_a_node_of_a_private_checkout_runs_from_where_nobody_can_reach(tmp_path: Path) -> None:
    """A checkout only its owner can enter: the node (run as nobody) gets the distribution as
    hard links, and its state, under the system's temporary directory."""
    from tests.real import _distribution as d

    checkout = tmp_path / "private"
    home = checkout / "cache" / "node" / "dist" / "node-1.0"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "node").write_text("#!/bin/sh\n")
    (home.parent.parent / "build.stamp").write_text("digest-1\n")
    run = checkout / "run"
    run.mkdir()
    checkout.chmod(0o700)
    dist = d.Distribution(
        name="node", version="1.0", project=tmp_path, script="bin/node", env_prefix="X"
    )
    assert not d._reachable(home) and not d._reachable(run)
    runtime, state = d._where(dist, home, run, as_root=True)
    base = d._shared_base(run)
    try:
        assert runtime == base / "node" / "dist" / "node-1.0"
        assert state == base / "node" / "state"
        assert d._reachable(runtime) and d._reachable(state.parent)
        assert os.path.samefile(runtime / "bin" / "node", home / "bin" / "node")
        assert d._state_dir(dist, run) == state  # how stop() recognises the node
        # built again (a new stamp): the links are remade
        (home / "bin" / "node").unlink()
        (home / "bin" / "node").write_text("#!/bin/sh\nexit 0\n")
        (home.parent.parent / "build.stamp").write_text("digest-2\n")
        runtime, _ = d._where(dist, home, run, as_root=True)
        assert (runtime / "bin" / "node").read_text().endswith("exit 0\n")
        # not root, or a checkout nobody can reach: the node runs where it is
        assert d._where(dist, home, run, as_root=False) == (home, run / "node")
    finally:
        import shutil

        shutil.rmtree(base)
