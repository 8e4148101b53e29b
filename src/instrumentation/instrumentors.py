"""OpenTelemetry ``BaseInstrumentor`` classes, one per client library.

These are what ``opentelemetry-instrument`` loads (entry points ``elasticsearch_async``,
``opensearch_async`` and ``weaviate_async`` in the ``opentelemetry_instrumentor`` group, so
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` takes those names), and what you compose yourself::

    from instrumentation import AsyncElasticsearchInstrumentor
    AsyncElasticsearchInstrumentor().instrument(tracer_provider=provider, capture_query="omit")

Options are those of ``instrumentation.instrument()``; they are shared by every active client.
"""

from __future__ import annotations

from typing import Any, Collection, Dict, Type

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from instrumentation import _core
from instrumentation._config import build_settings
from instrumentation._registry import CLIENTS


class SearchInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """What every instrumentor here shares: the client it instruments is its ``client`` name in
    the registry, and its dependency specifier comes from there."""

    client: str = ""

    def instrumentation_dependencies(self) -> Collection[str]:
        return (CLIENTS[self.client].requirement,)

    def _instrument(self, **kwargs: Any) -> None:
        settings = kwargs.pop("_settings", None)
        dispatcher = kwargs.pop("_dispatcher", None)
        if settings is None:
            settings = build_settings(**kwargs)
        _core.activate(self.client, settings, dispatcher)

    def _uninstrument(self, **kwargs: Any) -> None:
        _core.deactivate(self.client)


class AsyncElasticsearchInstrumentor(SearchInstrumentor):
    """Traces ``elasticsearch.AsyncElasticsearch``, its async DSL classes and ``async_*`` helpers."""

    client = "elasticsearch"


class AsyncOpenSearchInstrumentor(SearchInstrumentor):
    """Traces ``opensearchpy.AsyncOpenSearch``, its async DSL classes and ``async_*`` helpers."""

    client = "opensearch"


class WeaviateAsyncInstrumentor(SearchInstrumentor):
    """Traces ``weaviate.WeaviateAsyncClient`` (REST and gRPC); the sync client stays untouched."""

    client = "weaviate"


#: Client name -> its instrumentor class, as the registry names it.
INSTRUMENTORS: Dict[str, Type[SearchInstrumentor]] = {
    name: globals()[client.instrumentor] for name, client in CLIENTS.items()
}
