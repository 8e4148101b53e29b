"""Every private OpenTelemetry name this package reads, in one place, each with a public fallback.

The hot path asks two questions before every call: is any SDK installed (a global provider set)?
and is instrumentation suppressed in this context? Then, for a traced call, it makes the span's
context current and restores the caller's. The public API does all of it, but slowly:

* ``trace.get_tracer_provider()`` / ``metrics.get_meter_provider()`` look up environment
  variables on every call while no provider is set. Reading the API's module globals directly
  (``partial(getattr, ...)``: no Python frame) asks both questions in about 1,200 instructions
  instead of 17,000: on the "no SDK" path that difference is nearly the whole of our cost.
* ``is_instrumentation_enabled()`` makes four calls (two ``context.get_value``, each fetching the
  current context); one current-context fetch and two dict lookups save about 1,000 instructions.
* ``context.get_current()`` / ``attach`` / ``detach`` reach the default runtime's ``ContextVar``
  through two Python calls each; calling the ``ContextVar`` itself saves about 690 instructions a
  fetch and 1,600 an attach/detach pair (about 3,000 a traced call: two fetches, one pair).

* Whether a context carries baggage (``propagate_context``'s fast path, ``backends/_w3c.py``):
  ``baggage.get_all`` builds a read-only view of it; the context's own entry under the API's
  baggage key answers in one dict lookup.

(Counted with callgrind over thousands of calls of each form, API 1.45, CPython 3.11, loop
overhead subtracted.)

If an API version moves a name, the fallback is the public API: always correct, only slower.
``tests/test_compat.py`` fails when a name moves, so we notice and follow.
"""

from __future__ import annotations

from contextvars import ContextVar
from functools import partial
from typing import Any, Callable, Optional, Tuple

from opentelemetry import context as _context
from opentelemetry import metrics, trace
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

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

# -- the current context ---------------------------------------------------------------------
#: ``context.get_current()`` / ``attach`` / ``detach`` go through two Python calls each to reach the
#: ``ContextVar`` of the default runtime context; with that runtime (always, unless
#: ``OTEL_PYTHON_CONTEXT`` names another) we call the ``ContextVar`` itself: no Python frame.
current_context: Callable[[], Any] = _context.get_current
attach: Callable[[Any], Any] = _context.attach
detach: Callable[[Any], None] = _context.detach
_runtime = getattr(_context, "_RUNTIME_CONTEXT", None)
if isinstance(_runtime, ContextVarsRuntimeContext) and isinstance(
    getattr(_runtime, "_current_context", None), ContextVar
):
    current_context = _runtime._current_context.get
    attach = _runtime._current_context.set
    detach = _runtime._current_context.reset

try:  # the context keys behind ``suppress_instrumentation``
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
    from opentelemetry.instrumentation.utils import _SUPPRESS_INSTRUMENTATION_KEY_PLAIN

    #: The two keys whose presence in the current context means "instrumentation suppressed".
    SUPPRESS_KEYS: Optional[Tuple[str, str]] = (
        _SUPPRESS_INSTRUMENTATION_KEY,
        _SUPPRESS_INSTRUMENTATION_KEY_PLAIN,
    )

    def suppressed() -> bool:
        """``not is_instrumentation_enabled()``, in one context lookup instead of four calls."""
        current = current_context()
        return bool(
            current.get(_SUPPRESS_INSTRUMENTATION_KEY)
            or current.get(_SUPPRESS_INSTRUMENTATION_KEY_PLAIN)
        )

except ImportError:  # pragma: no cover - versions that moved them: the public, slower check
    from opentelemetry.instrumentation.utils import is_instrumentation_enabled

    SUPPRESS_KEYS = None  # callers use ``suppressed()``

    def suppressed() -> bool:
        return not is_instrumentation_enabled()


try:  # the context key under which the API keeps the baggage
    from opentelemetry.baggage import _BAGGAGE_KEY

    def has_baggage(context: Any) -> bool:
        """Whether ``context`` carries baggage (``bool(baggage.get_all(context))``, in one lookup)."""
        return bool(context.get(_BAGGAGE_KEY))

except ImportError:  # pragma: no cover - a version that moved it: the public, slower check
    from opentelemetry import baggage as _baggage

    def has_baggage(context: Any) -> bool:
        return bool(_baggage.get_all(context))
