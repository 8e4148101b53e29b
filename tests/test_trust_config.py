"""Bad configuration never turns tracing off; the scope names this library; ``url.full`` is
redacted the same way for every client (credentials and query strings out, IPv6 brackets kept)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import weaviate
import weaviate.classes as wvc
from elasticsearch import AsyncElasticsearch
from elasticsearch import ConnectionError as EsConnectionError
from opentelemetry.sdk.trace import TracerProvider
from weaviate.collections.classes.config import ConsistencyLevel

import instrumentation
from instrumentation import _config
from instrumentation._url import redact_url
from tests.support.opentelemetry_instrument import run_instrumented_with_stderr
from tests.support.telemetry import finished

SCOPE = "async-search-instrumentation"


# -- 4. bad configuration ------------------------------------------------------------------------
def test_bad_variable_under_opentelemetry_instrument_warns_and_traces_with_the_default(
    elasticsearch_server: Any,
) -> None:
    spans, stderr = run_instrumented_with_stderr(
        "es_app.py",
        {
            "ELASTICSEARCH_URL": elasticsearch_server.url,
            "OTEL_PYTHON_INSTRUMENTATION_SEARCH_CAPTURE_QUERY": "bogus",
        },
    )
    assert "Failed to auto initialize" not in stderr
    assert "OTEL_PYTHON_INSTRUMENTATION_SEARCH_CAPTURE_QUERY" in stderr
    assert "'bogus'" in stderr and "sanitize" in stderr
    assert stderr.count("invalid value 'bogus'") == 1  # one warning, not one per instrumentor
    search = next(s for s in spans if s["name"] == "search movies")
    assert search["attributes"]["db.query.text"] == '{"query":{"match":{"title":"?"}}}'


async def test_bad_variable_with_instrument_warns_and_traces(
    elasticsearch_server: Any,
    span_exporter: Any,
    tracer_provider: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(_config, "_warned", set())  # warned once per process: start afresh
    monkeypatch.setenv("OTEL_PYTHON_INSTRUMENTATION_SEARCH_QUERY_MAX_LENGTH", "lots")
    caplog.set_level(logging.WARNING, logger="instrumentation")
    instrumentation.instrument(
        clients=["elasticsearch"], backends=["otel"], tracer_provider=tracer_provider
    )
    try:
        async with AsyncElasticsearch(elasticsearch_server.url) as es:
            await es.indices.create(index="movies")
    finally:
        instrumentation.uninstrument()
    assert [s.name for s in finished(span_exporter)] == ["indices.create movies"]
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "OTEL_PYTHON_INSTRUMENTATION_SEARCH_QUERY_MAX_LENGTH" in warning
    assert "'lots'" in warning and "2048" in warning


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("capture_query", "bogus"),
        ("query_max_length", "lots"),
        ("backends", ["zipkin"]),
        ("tracer_provider", "not a provider"),
        ("meter_provider", object()),
        ("request_hook", "not callable"),
        ("response_hook", 42),
    ],
)
def test_bad_keyword_raises_value_error_naming_it(option: str, value: Any) -> None:
    with pytest.raises(ValueError, match=option):
        instrumentation.instrument(**{option: value})
    assert not instrumentation.is_instrumented()


def test_an_sdk_provider_is_accepted(tracer_provider: TracerProvider, meter_provider: Any) -> None:
    instrumentation.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        assert instrumentation.is_instrumented()
    finally:
        instrumentation.uninstrument()


# -- 5. scope name and url.full ------------------------------------------------------------------
async def test_tracer_and_meter_scope_name_this_library(
    instrumented: Any,
    elasticsearch_server: Any,
    span_exporter: Any,
    metric_reader: Any,
) -> None:
    instrumented()
    async with AsyncElasticsearch(elasticsearch_server.url) as es:
        await es.indices.create(index="movies")
    [span] = finished(span_exporter)
    assert span.instrumentation_scope.name == SCOPE
    assert span.instrumentation_scope.version == instrumentation.__version__
    scopes = {
        scope.scope.name
        for resource in metric_reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
    }
    assert scopes == {SCOPE}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:9200/movies/_search", "http://127.0.0.1:9200/movies/_search"),
        ("http://u:p@127.0.0.1:9200/x?q=secret", "http://127.0.0.1:9200/x"),
        ("https://u:p@[::1]:8080/x", "https://[::1]:8080/x"),
        ("http://[2001:db8::1]/v1/objects?tenant=t#frag", "http://[2001:db8::1]/v1/objects"),
        ("http://user:p%40ss@search.example.com:443/", "http://search.example.com:443/"),
        ("http://search.example.com", "http://search.example.com"),
        ("http://apikey@search.example.com/a@b", "http://search.example.com/a@b"),
    ],
)
def test_redact_url_keeps_host_brackets_and_port_and_drops_credentials_and_query(
    url: str, expected: str
) -> None:
    assert redact_url(url) == expected


async def test_elasticsearch_url_full_over_ipv6_keeps_brackets_and_drops_query_and_credentials(
    instrumented: Any, span_exporter: Any, unused_tcp_port: int
) -> None:
    instrumented()
    url = f"http://elastic:secret-password@[::1]:{unused_tcp_port}"
    async with AsyncElasticsearch(url, max_retries=0) as es:
        with pytest.raises(EsConnectionError):
            await es.search(index="movies", q="secret-term")
    [span] = finished(span_exporter)
    assert span.attributes["url.full"] == f"http://[::1]:{unused_tcp_port}/movies/_search"
    assert span.attributes["server.address"] == "::1"
    text = json.dumps(span.to_json())
    assert "secret-password" not in text and "secret-term" not in text


async def test_weaviate_url_full_drops_the_query_string(
    instrumented: Any, weaviate_client: weaviate.WeaviateAsyncClient, span_exporter: Any
) -> None:
    movies = await weaviate_client.collections.create(
        "Movie", properties=[wvc.config.Property(name="t", data_type=wvc.config.DataType.TEXT)]
    )
    instrumented()
    await movies.with_consistency_level(ConsistencyLevel.QUORUM).data.insert({"t": "a"})
    [span] = finished(span_exporter)
    assert span.name == "insert Movie"
    assert span.attributes["weaviate.consistency.level"] == "QUORUM"
    assert span.attributes["url.full"].endswith("/v1/objects")
    assert "?" not in span.attributes["url.full"]
