"""examples/fastapi-apm runs on the stand-ins: APM transactions hold our spans, OTel has the same."""

from __future__ import annotations

import gc
import importlib.util
import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import pytest
from fastapi.testclient import TestClient

import instrumentation
from tests.support.telemetry import finished

APP = Path(__file__).parent.parent / "examples" / "fastapi-apm" / "app.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fastapi_apm_example", APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the request model's annotations there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def traced(tracer_provider: Any, meter_provider: Any) -> Iterator[None]:
    instrumentation.instrument(
        tracer_provider=tracer_provider, meter_provider=meter_provider, backends=["otel", "apm"]
    )
    yield
    instrumentation.uninstrument()


def test_requests_become_transactions_holding_our_spans_and_otel_has_them_too(
    traced: None, span_exporter: Any
) -> None:
    app = load_example().create_app(environ={})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with TestClient(app) as http:
            created = http.post("/movies", json={"title": "Alien", "year": 1979})
            assert created.status_code == 201
            found = http.get("/search", params={"q": "alien"})
            assert found.status_code == 200
            assert {h["source"] for h in found.json()["hits"]} == {"elasticsearch", "weaviate"}
            root = http.get("/")
            assert root.json()["weaviate"]["objects"] == 1
            assert http.get("/healthz").status_code == 200

            intake = app.state.stand_ins.intake
            intake.flush_sync(app.state.apm)
            by_name = {t["name"]: t for t in intake.transactions}
            assert {"POST /movies", "GET /search", "GET /"} <= set(by_name)
            search_spans = {s["name"] for s in intake.spans_of(by_name["GET /search"])}
            assert search_spans == {"search movies", "hybrid Movie"}
            post_spans = {s["name"] for s in intake.spans_of(by_name["POST /movies"])}
            assert post_spans == {"index movies", "insert Movie"}
            for span in intake.spans:
                assert span["type"] == "db" and span["outcome"] == "success"
        gc.collect()

    otel_names = {s.name for s in finished(span_exporter)}
    assert {"search movies", "hybrid Movie", "index movies", "insert Movie", "info"} <= otel_names
    unclosed = [w for w in caught if "Unclosed" in str(w.message)]
    assert unclosed == []


def test_healthz_is_503_while_a_backend_is_not_ready(traced: None) -> None:
    app = load_example().create_app(environ={})
    with TestClient(app) as http:
        assert http.get("/healthz").status_code == 200
        # Weaviate's readiness probe starts failing: the service is not ready.
        app.state.stand_ins.weaviate_server.faults.http(r"/\.well-known/ready$", 503, times=-1)
        response = http.get("/healthz")
        assert response.status_code == 503
        assert response.json() == {"elasticsearch": True, "weaviate": False}


def _wait_for_text(buffer: io.StringIO, text: str, timeout: float = 60.0) -> str:
    """Wait for ``text`` to be printed; ``timeout`` is room for a busy machine, not a speed limit."""
    deadline = time.monotonic() + timeout
    while text not in buffer.getvalue():
        if time.monotonic() > deadline:
            pytest.fail(f"{text!r} not printed within {timeout:g}s:\n{buffer.getvalue()}")
        time.sleep(0.05)
    return buffer.getvalue()


@pytest.mark.timeout(300)
def test_with_nothing_configured_each_transaction_is_printed_with_its_spans(
    traced: None,
) -> None:
    printed = io.StringIO()
    app = load_example().create_app(environ={}, out=printed)
    with TestClient(app) as http:
        assert http.get("/search", params={"q": "alien"}).status_code == 200
        app.state.stand_ins.intake.flush_sync(app.state.apm)
        text = _wait_for_text(printed, "APM transaction GET /search  HTTP 2xx  ")
    block = text.split("APM transaction GET /search", 1)[1].split("APM transaction", 1)[0]
    spans = re.findall(r"^    span (.+?)  (\w+/\w+)  [\d.]+ ms  (\w+)$", block, re.M)
    assert sorted(spans) == [
        ("hybrid Movie", "db/weaviate", "success"),
        ("search movies", "db/elasticsearch", "success"),
    ]
    assert "Elastic APM: in-process intake" in text


def test_opensearch_url_makes_the_service_search_and_index_opensearch_too(
    traced: None, span_exporter: Any
) -> None:
    from tests.servers.elasticsearch import ElasticsearchStandIn
    from tests.servers.threaded import InThread

    with InThread(ElasticsearchStandIn()) as opensearch_server:
        app = load_example().create_app(environ={"OPENSEARCH_URL": opensearch_server.url})
        with TestClient(app) as http:
            created = http.post("/movies", json={"title": "Alien", "year": 1979})
            assert created.status_code == 201 and "opensearch_id" in created.json()
            found = http.get("/search", params={"q": "alien"})
            assert {h["source"] for h in found.json()["hits"]} == {
                "elasticsearch",
                "opensearch",
                "weaviate",
            }
            assert http.get("/healthz").json() == {
                "elasticsearch": True,
                "weaviate": True,
                "opensearch": True,
            }
            intake = app.state.stand_ins.intake
            intake.flush_sync(app.state.apm)
            by_name = {t["name"]: t for t in intake.transactions}
            search_spans = {
                (s["subtype"], s["name"]) for s in intake.spans_of(by_name["GET /search"])
            }
            assert search_spans == {
                ("elasticsearch", "search movies"),
                ("opensearch", "search movies"),
                ("weaviate", "hybrid Movie"),
            }
        assert any(r.path == "/movies/_search" for r in opensearch_server.requests)
    systems = {
        (s.name, s.attributes.get("db.system.name"))
        for s in finished(span_exporter)
        if s.name == "search movies"
    }
    assert systems == {("search movies", "elasticsearch"), ("search movies", "opensearch")}


def test_the_module_level_app_is_built_without_starting_anything() -> None:
    from fastapi import FastAPI

    before = set(threading.enumerate())
    module = load_example()
    assert isinstance(module.app, FastAPI)
    assert set(threading.enumerate()) - before == set()  # no server, no APM agent thread
    assert not hasattr(module.app.state, "stand_ins")


@pytest.mark.timeout(600)  # a process of its own: started, asked, stopped (each step bounded)
def test_run_on_its_default_the_first_request_prints_its_trace_and_no_authlib_warning() -> None:
    """``python examples/fastapi-apm/app.py`` with nothing configured, then one curl."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "ELASTIC", "WEAVIATE", "OPENSEARCH", "PYTHONWARNINGS"))
    }
    env["PORT"] = str(port)
    process = subprocess.Popen(
        [sys.executable, str(APP)],
        cwd=APP.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output = io.StringIO()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.write(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        _wait_for_text(output, "Uvicorn running", timeout=180)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/search?q=alien", timeout=60) as r:
            assert r.status == 200
        _wait_for_text(output, "APM transaction GET /search  HTTP 2xx")
        _wait_for_text(output, "    span search movies  db/elasticsearch  ")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(10)
        process.stdout.close()
    text = output.getvalue()
    assert f"Try: curl 'http://127.0.0.1:{port}/search?q=alien'" in text
    assert "AuthlibDeprecationWarning" not in text
    assert "Traceback" not in text
