"""``make servers``: prints URLs that the real clients can use, until Ctrl-C."""

from __future__ import annotations

import importlib.util
import json
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
