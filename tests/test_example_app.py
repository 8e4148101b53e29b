"""examples/fastapi-apm runs on the stand-ins: APM transactions hold our spans, OTel has the same."""

from __future__ import annotations

import gc
import importlib.util
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import pytest
from fastapi.testclient import TestClient

import instrumentation
from tests.conftest import finished

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
