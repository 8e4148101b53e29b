"""OpenTelemetry and Elastic APM instrumentation for async search clients.

Trace every ``elasticsearch.AsyncElasticsearch``, ``opensearchpy.AsyncOpenSearch`` and
``weaviate.WeaviateAsyncClient`` call as one CLIENT span (and an Elastic APM span inside the
current transaction)::

    import instrumentation
    instrumentation.instrument()          # every supported client that is installed
    ...
    instrumentation.uninstrument()        # puts every patched function back

or run the application under ``opentelemetry-instrument``, which finds the instrumentors through
their entry points. Options and their environment variables are listed in ``docs/configuration.md``.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from instrumentation import _core, instrumentors
from instrumentation._config import build_settings, parse_clients
from instrumentation._record import CallView
from instrumentation._version import __version__
from instrumentation.clients.elasticsearch import AsyncElasticsearchInstrumentor
from instrumentation.clients.opensearch import AsyncOpenSearchInstrumentor
from instrumentation.clients.weaviate import WeaviateAsyncInstrumentor

__all__ = [
    "AsyncElasticsearchInstrumentor",
    "AsyncOpenSearchInstrumentor",
    "CallView",
    "WeaviateAsyncInstrumentor",
    "__version__",
    "instrument",
    "is_instrumented",
    "uninstrument",
]


def instrument(
    clients: Optional[Iterable[str]] = None,
    backends: Optional[Iterable[str]] = None,
    capture_query: Optional[str] = None,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    request_hook: Any = None,
    response_hook: Any = None,
    **options: Any,
) -> None:
    """Instrument the supported clients; idempotent. Raises ``ValueError`` on a bad option.

    ``clients=None`` instruments every supported client that is importable. Calling it again while
    instrumented changes nothing; call ``uninstrument()`` first to change options.
    """
    settings = build_settings(
        backends=backends,
        capture_query=capture_query,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        request_hook=request_hook,
        response_hook=response_hook,
        **options,
    )
    chosen = parse_clients(clients)
    available = _core.available_clients()
    if chosen is None:
        chosen = available
    else:
        missing = [name for name in chosen if name not in available]
        if missing:
            raise ValueError(f"client library not installed: {', '.join(missing)}")
    # Backends are built once, now, so that an unavailable one fails here, not on a call.
    engine = _core.build_engine(settings)
    classes = instrumentors.instrumentors()
    for name in chosen:
        instrumentor = classes[name]()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(_settings=settings, _engine=engine)


def uninstrument() -> None:
    """Remove every patch; the clients behave exactly as before ``instrument()``."""
    for instrumentor_class in instrumentors.instrumentors().values():
        instrumentor = instrumentor_class()
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()


def is_instrumented() -> bool:
    return bool(_core.active_clients())
