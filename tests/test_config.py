"""Bad options fail loudly at instrument() time; good ones come from keywords or the environment."""

from __future__ import annotations

import pytest

import instrumentation
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


def test_bad_environment_value_raises() -> None:
    with pytest.raises(ValueError, match="capture_query"):
        build_settings(env={"OTEL_PYTHON_INSTRUMENTATION_SEARCH_CAPTURE_QUERY": "all"})


def test_defaults_are_safe() -> None:
    settings = build_settings(env={})
    assert settings.capture_query == "sanitize"
    assert settings.semconv_dup is False
    assert settings.record_returned_rows is False
