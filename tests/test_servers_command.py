"""``make servers ARGS=--standins``: prints URLs that the real clients can use, until stopped."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, Iterator

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
    deadline = time.monotonic() + 30
    try:
        while len(printed) < 4:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no URLs within 30s; got {printed}")
            match = EXPORT.match(line.strip())
            if match:
                printed[match.group(1)] = match.group(2)
        yield printed
        assert process.poll() is None, "the stand-ins stopped before being told to"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
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
