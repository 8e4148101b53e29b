"""``SpanAudit`` sees what the exporter cannot: a span ended twice, a span never ended."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider

from tests.support.audit import SpanAudit


def test_span_audit_sees_a_double_end_and_an_open_span(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = TracerProvider()
    audit = SpanAudit(provider, monkeypatch)
    tracer = provider.get_tracer("t")
    twice = tracer.start_span("twice")
    twice.end()
    twice.end()
    with pytest.raises(AssertionError, match="more than once"):
        audit.assert_all_ended_once()
    audit.reset()
    tracer.start_span("left open")
    with pytest.raises(AssertionError, match="left open"):
        audit.assert_all_ended_once()
