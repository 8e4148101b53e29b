"""OpenTelemetry ``BaseInstrumentor`` classes, one per client library.

These are what ``opentelemetry-instrument`` loads (entry points ``elasticsearch_async`` and
``weaviate_async`` in the ``opentelemetry_instrumentor`` group, so
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` takes those names), and what you compose yourself::

    from instrumentation import AsyncElasticsearchInstrumentor
    AsyncElasticsearchInstrumentor().instrument(tracer_provider=provider, capture_query="omit")

Options are those of ``instrumentation.instrument()``; they are shared by every active client.
"""

from __future__ import annotations

from typing import Any, Collection

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from instrumentation import _core
from instrumentation._config import build_settings


class _SearchInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    client: str = ""
    dependencies: Collection[str] = ()

    def instrumentation_dependencies(self) -> Collection[str]:
        return self.dependencies

    def _instrument(self, **kwargs: Any) -> None:
        settings = kwargs.pop("_settings", None) or build_settings(**kwargs)
        _core.activate(self.client, settings)

    def _uninstrument(self, **kwargs: Any) -> None:
        _core.deactivate(self.client)


class AsyncElasticsearchInstrumentor(_SearchInstrumentor):
    """Traces ``elasticsearch.AsyncElasticsearch``, its async DSL classes and ``async_*`` helpers."""

    client = "elasticsearch"
    dependencies = ("elasticsearch >= 8.13",)


class WeaviateAsyncInstrumentor(_SearchInstrumentor):
    """Traces ``weaviate.WeaviateAsyncClient`` (REST and gRPC); the sync client stays untouched."""

    client = "weaviate"
    dependencies = ("weaviate-client >= 4.13",)


INSTRUMENTORS = {
    "elasticsearch": AsyncElasticsearchInstrumentor,
    "weaviate": WeaviateAsyncInstrumentor,
}
