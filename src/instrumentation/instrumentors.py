"""OpenTelemetry ``BaseInstrumentor`` classes, one per client library.

Each client module defines its own (``AsyncElasticsearchInstrumentor`` in
``instrumentation.clients.elasticsearch``, ...) on ``ClientInstrumentor``; they are what
``opentelemetry-instrument`` loads (entry points ``elasticsearch_async``, ``opensearch_async`` and
``weaviate_async`` in the ``opentelemetry_instrumentor`` group, so
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` takes those names), and what you compose yourself::

    from instrumentation import AsyncElasticsearchInstrumentor
    AsyncElasticsearchInstrumentor().instrument(tracer_provider=provider, capture_query="omit")

Options are those of ``instrumentation.instrument()``; they are shared by every active client.
"""

from __future__ import annotations

from typing import Any, Collection, Dict, Type

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from instrumentation import _registry


class ClientInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """What every instrumentor here shares: the client it instruments is its ``client`` name in
    the registry, and its dependency specifier comes from the client's row."""

    client: str = ""

    def instrumentation_dependencies(self) -> Collection[str]:
        return (_registry.clients()[self.client].requirement,)

    def _instrument(self, **kwargs: Any) -> None:
        from instrumentation import _config, _core

        settings = kwargs.pop("_settings", None)
        engine = kwargs.pop("_engine", None)
        if settings is None:
            settings = _config.build_settings(**kwargs)
        _core.activate(self.client, settings, engine)

    def _uninstrument(self, **kwargs: Any) -> None:
        from instrumentation import _core

        _core.deactivate(self.client)


#: The name the classes had before they moved into their client modules.
SearchInstrumentor = ClientInstrumentor


def instrumentors() -> Dict[str, Type[ClientInstrumentor]]:
    """Client name -> its instrumentor class."""
    return {
        name: getattr(module, module.CLIENT.instrumentor)
        for name, module in _registry.modules().items()
    }


def __getattr__(name: str) -> Any:
    """``instrumentors.AsyncElasticsearchInstrumentor`` and the like, from the client modules."""
    for module in _registry.modules().values():
        if module.CLIENT.instrumentor == name:
            return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
