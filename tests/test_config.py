"""Bad options fail loudly at instrument() time; good ones come from keywords or the environment."""

from __future__ import annotations

import pytest

import instrumentation
from instrumentation import _config
from instrumentation._config import build_settings


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
    assert settings.record_returned_rows is False
