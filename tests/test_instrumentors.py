"""The real ``opentelemetry-instrument`` finds our instrumentors through their entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.support.opentelemetry_instrument import run_instrumented, run_instrumented_with_stderr

#: Each test runs a Python process (its own limit: 120 s); pytest's is above it.
pytestmark = pytest.mark.timeout(300)


def test_opentelemetry_instrument_traces_async_elasticsearch(elasticsearch_server: Any) -> None:
    spans = run_instrumented("es_app.py", {"ELASTICSEARCH_URL": elasticsearch_server.url})
    names = [s["name"] for s in spans]
    assert names[:2] == ["indices.create movies", "search movies"]
    # The helper re-exported by elasticsearch.helpers is wrapped once: one parent span, not two.
    assert names.count("helpers.async_scan movies") == 1
    span = spans[1]
    assert span["name"] == "search movies"
    assert span["kind"] == "SpanKind.CLIENT"
    assert span["attributes"]["db.system.name"] == "elasticsearch"
    assert span["attributes"]["db.query.text"] == '{"query":{"match":{"title":"?"}}}'
    assert "secret-title" not in json.dumps(spans)


def test_disabled_instrumentation_leaves_elasticsearch_py_own_span(
    elasticsearch_server: Any,
) -> None:
    spans = run_instrumented(
        "es_app.py",
        {
            "ELASTICSEARCH_URL": elasticsearch_server.url,
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "elasticsearch_async",
        },
    )
    assert {s["kind"] for s in spans} == {"SpanKind.INTERNAL"}
    assert [s["name"] for s in spans][:2] == ["indices.create", "search"]


def test_capture_query_environment_variable(elasticsearch_server: Any) -> None:
    spans = run_instrumented(
        "es_app.py",
        {
            "ELASTICSEARCH_URL": elasticsearch_server.url,
            "OTEL_PYTHON_INSTRUMENTATION_SEARCH_CAPTURE_QUERY": "omit",
        },
    )
    assert spans[1]["name"] == "search movies"
    assert "db.query.text" not in spans[1]["attributes"]


def test_opentelemetry_instrument_traces_weaviate_async(weaviate_server: Any) -> None:
    spans = run_instrumented(
        "weaviate_app.py",
        {
            "WEAVIATE_HTTP_PORT": str(weaviate_server.http_port),
            "WEAVIATE_GRPC_PORT": str(weaviate_server.grpc_port),
        },
    )
    assert [(s["name"], s["kind"]) for s in spans] == [
        ("connect", "SpanKind.CLIENT"),
        ("create_collection Movie", "SpanKind.CLIENT"),
        ("insert_many Movie", "SpanKind.CLIENT"),
        ("hybrid Movie", "SpanKind.CLIENT"),
    ]
    assert spans[2]["attributes"]["db.operation.batch.size"] == 2
    assert "secret-query" not in json.dumps(spans)


NO_SDK_APP = """
import asyncio, os, sys
import instrumentation
from elasticsearch import AsyncElasticsearch

instrumentation.instrument(clients=["elasticsearch"])

async def main():
    async with AsyncElasticsearch(os.environ["ELASTICSEARCH_URL"]) as es:
        await es.indices.create(index="movies")

asyncio.run(main())
"""


def test_without_an_sdk_the_user_is_told_nothing_is_recorded(elasticsearch_server: Any) -> None:
    done = subprocess.run(
        [sys.executable, "-c", NO_SDK_APP],
        env={**os.environ, "ELASTICSEARCH_URL": elasticsearch_server.url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("no span or metric is recorded") == 1, done.stderr
    assert "opentelemetry-distro" in done.stderr


def test_with_an_sdk_nothing_is_said(elasticsearch_server: Any) -> None:
    _, stderr = run_instrumented_with_stderr(
        "es_app.py", {"ELASTICSEARCH_URL": elasticsearch_server.url}
    )
    assert "no span or metric is recorded" not in stderr
    # Nor by the loader, whatever opentelemetry-instrumentation this is (0.48b0 aborted on a
    # distribution without the `instruments` extra: "Failed to auto initialize opentelemetry").
    assert "Failed to auto initialize" not in stderr, stderr
    assert "instrumentation.instrumentors" not in stderr, stderr
