"""Every private OpenTelemetry name this package reads, in one place, each with a public fallback.

The hot path asks two questions before every call: is any SDK installed (a global provider set)?
and is instrumentation suppressed in this context? The public API answers both, but slowly:

* ``trace.get_tracer_provider()`` / ``metrics.get_meter_provider()`` look up environment
  variables on every call while no provider is set. Reading the API's module globals directly
  (``partial(getattr, ...)``: no Python frame) asks both questions in about 1,200 instructions
  instead of 17,000: on the "no SDK" path that difference is nearly the whole of our cost.
* ``is_instrumentation_enabled()`` makes four calls (two ``context.get_value``, each fetching the
  current context); one ``get_current()`` and two dict lookups save about 1,000 instructions.

(Counted with callgrind over 20,000 calls of each form, API 1.45, CPython 3.11, loop overhead
subtracted.)

If an API version moves a name, the fallback is the public API: always correct, only slower.
``tests/test_compat.py`` fails when a name moves, so we notice and follow.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Optional, Tuple

from opentelemetry import metrics, trace

#: Stands for "this API version has no such global": callers then assume an SDK may be present.
UNKNOWN: Any = object()

_metrics_internal: Any
try:
    from opentelemetry.metrics import _internal as _metrics_internal
except ImportError:  # pragma: no cover - an API version that moved it
    _metrics_internal = None

#: The global TracerProvider the API holds (``None`` until one is set; ``UNKNOWN`` if moved).
global_tracer_provider: Callable[[], Any] = partial(getattr, trace, "_TRACER_PROVIDER", UNKNOWN)
#: The global MeterProvider, likewise.
global_meter_provider: Callable[[], Any] = partial(
    getattr,
    _metrics_internal if _metrics_internal is not None else metrics,
    "_METER_PROVIDER",
    UNKNOWN,
)

#: The API's stand-in providers, which record nothing (the meter's proxy is private too).
NO_OP_TRACER_PROVIDERS = (trace.NoOpTracerProvider, trace.ProxyTracerProvider)
NO_OP_METER_PROVIDERS: Tuple[type, ...] = (metrics.NoOpMeterProvider,)
_proxy_meter: Optional[type] = getattr(_metrics_internal, "_ProxyMeterProvider", None)
if _proxy_meter is not None:
    NO_OP_METER_PROVIDERS += (_proxy_meter,)

try:  # the context keys behind ``suppress_instrumentation``
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
    from opentelemetry.context import get_current as _current_context
    from opentelemetry.instrumentation.utils import _SUPPRESS_INSTRUMENTATION_KEY_PLAIN

    def suppressed() -> bool:
        """``not is_instrumentation_enabled()``, in one context lookup instead of four calls."""
        current = _current_context()
        return bool(
            current.get(_SUPPRESS_INSTRUMENTATION_KEY)
            or current.get(_SUPPRESS_INSTRUMENTATION_KEY_PLAIN)
        )

except ImportError:  # pragma: no cover - versions that moved them: the public, slower check
    from opentelemetry.instrumentation.utils import is_instrumentation_enabled

    def suppressed() -> bool:
        return not is_instrumentation_enabled()
