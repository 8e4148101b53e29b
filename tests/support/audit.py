"""``SpanAudit``: every span a ``TracerProvider`` started, every ``end()`` call.

It proves a span ended exactly once and that none was left open, which the exporter alone cannot
show (a span ended twice is exported once; a span never ended is never exported).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any, Dict, Optional

import pytest
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider


class _Ledger(SpanProcessor):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: Dict[int, str] = {}
        self.started = 0

    def on_start(self, span: Span, parent_context: Any = None) -> None:
        with self.lock:
            self.started += 1
            self.open[span.context.span_id] = span.name

    def on_end(self, span: ReadableSpan) -> None:
        with self.lock:
            assert span.context is not None
            self.open.pop(span.context.span_id, None)


class SpanAudit:
    """Counts ``end()`` calls per span and the spans still open, on one provider."""

    def __init__(self, provider: TracerProvider, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ends: Counter[int] = Counter()
        self.ledger = _Ledger()
        provider.add_span_processor(self.ledger)
        original = Span.end
        ends = self.ends

        def counting_end(span: Span, end_time: Optional[int] = None) -> None:
            ends[span.context.span_id] += 1
            original(span, end_time)

        monkeypatch.setattr(Span, "end", counting_end)

    def reset(self) -> None:
        self.ends.clear()

    def assert_all_ended_once(self) -> None:
        assert self.ledger.open == {}, f"spans left open: {self.ledger.open}"
        twice = {span_id: n for span_id, n in self.ends.items() if n != 1}
        assert twice == {}, f"spans ended more than once: {twice}"
