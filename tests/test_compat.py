"""The private OpenTelemetry names ``instrumentation._compat`` reads still exist and still mean what
the public API means. When an API release moves one, this fails (the package itself falls back to
the public API and stays correct, only slower), so we notice and follow."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from opentelemetry import context, metrics, trace
from opentelemetry.instrumentation.utils import (
    is_instrumentation_enabled,
    suppress_instrumentation,
)

from instrumentation import _compat


def test_the_private_names_are_where_compat_reads_them() -> None:
    from opentelemetry.instrumentation import utils
    from opentelemetry.metrics import _internal

    assert hasattr(trace, "_TRACER_PROVIDER")
    assert hasattr(_internal, "_METER_PROVIDER")
    assert hasattr(_internal, "_ProxyMeterProvider")
    assert hasattr(context, "_SUPPRESS_INSTRUMENTATION_KEY")
    assert hasattr(utils, "_SUPPRESS_INSTRUMENTATION_KEY_PLAIN")
    assert _compat.SUPPRESS_KEYS is not None
    assert _compat.global_tracer_provider() is not _compat.UNKNOWN
    assert _compat.global_meter_provider() is not _compat.UNKNOWN


def test_the_current_context_is_the_api_s_own() -> None:
    """``current_context`` / ``attach`` / ``detach`` are the runtime context's ``ContextVar`` itself
    (not the public fallback), and agree with ``context.get_current`` / ``attach`` / ``detach``."""
    from opentelemetry.context import _RUNTIME_CONTEXT

    assert _compat.current_context == _RUNTIME_CONTEXT._current_context.get  # type: ignore[attr-defined]
    assert _compat.current_context() is context.get_current()
    token = _compat.attach(context.set_value("compat-test", 1))
    assert context.get_value("compat-test") == 1
    _compat.detach(token)
    assert context.get_value("compat-test") is None
    token = context.attach(context.set_value("compat-test", 2))
    assert _compat.current_context().get("compat-test") == 2
    context.detach(token)


def test_has_baggage_agrees_with_the_baggage_api() -> None:
    from opentelemetry import baggage

    assert hasattr(baggage, "_BAGGAGE_KEY")
    empty = context.get_current()
    assert _compat.has_baggage(empty) is bool(baggage.get_all(empty)) is False
    some = baggage.set_baggage("tenant", "acme", empty)
    assert _compat.has_baggage(some) is bool(baggage.get_all(some)) is True
    cleared = baggage.remove_baggage("tenant", some)
    assert _compat.has_baggage(cleared) is bool(baggage.get_all(cleared)) is False


def test_the_span_context_is_read_as_the_tuple_it_is() -> None:
    """``propagate_context``'s fast path reads a ``SpanContext`` by index, not property."""
    from instrumentation.backends import _w3c

    assert _w3c._TUPLE


def test_suppressed_agrees_with_is_instrumentation_enabled() -> None:
    assert _compat.suppressed() is (not is_instrumentation_enabled()) is False
    with suppress_instrumentation():
        assert _compat.suppressed() is (not is_instrumentation_enabled()) is True
    assert _compat.suppressed() is False


@pytest.mark.timeout(300)  # a Python process of its own (its limit: 60 s)
def test_global_providers_read_as_the_public_api_sets_them() -> None:
    """In a fresh process: ``None`` until set, then the very provider the API returns."""
    script = textwrap.dedent(
        """
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.trace import TracerProvider
        from instrumentation import _compat

        assert _compat.global_tracer_provider() is None
        assert _compat.global_meter_provider() is None
        trace.set_tracer_provider(TracerProvider())
        metrics.set_meter_provider(MeterProvider())
        assert _compat.global_tracer_provider() is trace.get_tracer_provider()
        assert _compat.global_meter_provider() is metrics.get_meter_provider()
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_the_no_op_providers_are_the_api_s_own() -> None:
    assert trace.NoOpTracerProvider in _compat.NO_OP_TRACER_PROVIDERS
    assert metrics.NoOpMeterProvider in _compat.NO_OP_METER_PROVIDERS
    assert len(_compat.NO_OP_METER_PROVIDERS) == 2  # with the API's (private) proxy
