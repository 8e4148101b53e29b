"""Options come from keywords or the environment; a bad keyword fails loudly at ``instrument()``
time, a bad environment value warns once and takes the default: bad configuration never turns
tracing off."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch
from opentelemetry.sdk.trace import TracerProvider

import instrumentation
from instrumentation import _config
from instrumentation._config import build_settings
from tests.support.opentelemetry_instrument import run_instrumented_with_stderr
from tests.support.telemetry import finished


@pytest.mark.parametrize(
    "options",
    [
        {"capture_query": "everything"},
        {"capture_query": 3},
        {"backends": ["zipkin"]},
        {"backends": 7},
        {"clients": ["solr"]},
        {"request_hook": "not callable"},
        {"response_hook": 42},
        {"query_max_length": "long"},
        {"query_max_length": 3},
        {"record_returned_rows": "maybe"},
        {"no_such_option": True},
    ],
)
def test_bad_option_raises_value_error_at_instrument_time(options: dict) -> None:
    with pytest.raises(ValueError):
        instrumentation.instrument(**options)
    assert not instrumentation.is_instrumented()


def test_environment_supplies_options_and_keywords_win() -> None:
    env = {
        "OTEL_PYTHON_INSTRUMENTATION_SEARCH_CAPTURE_QUERY": "RAW",
        "OTEL_PYTHON_INSTRUMENTATION_SEARCH_QUERY_MAX_LENGTH": "64",
        "OTEL_PYTHON_INSTRUMENTATION_SEARCH_BACKENDS": "otel",
        "OTEL_PYTHON_INSTRUMENTATION_SEARCH_RECORD_RETURNED_ROWS": "true",
        "OTEL_SEMCONV_STABILITY_OPT_IN": "http, database/dup",
    }
    settings = build_settings(env=env)
    assert settings.capture_query == "raw"
    assert settings.query_max_length == 64
    assert settings.backends == ("otel",)
    assert settings.record_returned_rows is True
    assert settings.semconv_dup is True
    assert settings.semconv_db_system is True
    assert build_settings(capture_query="omit", env=env).capture_query == "omit"


@pytest.mark.parametrize(
    ("variable", "value", "field", "default"),
    [
        ("CAPTURE_QUERY", "all", "capture_query", "sanitize"),
        ("QUERY_MAX_LENGTH", "huge", "query_max_length", 2048),
        ("QUERY_MAX_LENGTH", "3", "query_max_length", 2048),
        ("BACKENDS", "otel,zipkin", "backends", None),
        ("RECORD_RETURNED_ROWS", "maybe", "record_returned_rows", False),
        ("APM_TRANSACTIONS", "2", "apm_transactions", False),
    ],
)
def test_bad_environment_value_warns_and_uses_the_default(
    variable: str,
    value: str,
    field: str,
    default: object,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_config, "_warned", set())  # warned once per process: start afresh
    name = "OTEL_PYTHON_INSTRUMENTATION_SEARCH_" + variable
    settings = build_settings(env={name: value})
    assert build_settings(env={name: value}) == settings  # asked again (another instrumentor)
    assert getattr(settings, field) == default
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert name in warnings[0] and repr(value) in warnings[0] and "default" in warnings[0]


def test_defaults_are_safe() -> None:
    settings = build_settings(env={})
    assert settings.capture_query == "sanitize"
    assert settings.semconv_dup is False
    assert settings.semconv_db_system is True  # the one old name Elastic needs for a dependency
    assert settings.record_returned_rows is False
    stable = build_settings(env={"OTEL_SEMCONV_STABILITY_OPT_IN": "database"})
    assert (stable.semconv_dup, stable.semconv_db_system) == (False, False)


# -- bad configuration never turns tracing off ----------------------------------------------------
@pytest.mark.timeout(300)  # opentelemetry-instrument in a process of its own (its limit: 120 s)
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
