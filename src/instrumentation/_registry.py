"""Every client and backend this package knows, each declared once.

Configuration (known names), the core (which module patches what, which backends exist),
the instrumentors (their dependency specifiers) and the documentation read these tables;
``tests/test_registry.py`` checks ``pyproject.toml`` (extras, entry points) against them. Adding a
client or a backend is one module plus one row here.
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Optional


class Client(NamedTuple):
    """A client library we trace."""

    #: Our name for it: ``instrument(clients=[...])``, the key of this table.
    name: str
    #: The module holding its ``PATCHES`` table.
    module: str
    #: What it imports as (checked with ``find_spec``: never imported by us).
    library: str
    #: The versions we support, as the instrumentor declares them to ``opentelemetry-instrument``.
    requirement: str
    #: The extra that installs it: ``pip install "async-search-instrumentation[<extra>]"``.
    extra: str
    #: The ``opentelemetry_instrumentor`` entry point (``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``).
    entry_point: str
    #: The ``BaseInstrumentor`` class in ``instrumentation.instrumentors``.
    instrumentor: str
    #: ``db.system.name``.
    system: str


class Backend(NamedTuple):
    """A place calls are recorded."""

    name: str
    #: ``module:factory``; the factory takes ``Settings`` and returns a backend.
    factory: str
    #: The library it needs, when it is optional (``None``: always available).
    library: Optional[str]
    extra: Optional[str]


CLIENTS: Dict[str, Client] = {
    client.name: client
    for client in (
        Client(
            "elasticsearch",
            "instrumentation.clients.elasticsearch",
            "elasticsearch",
            "elasticsearch >= 8.13",
            "elasticsearch",
            "elasticsearch_async",
            "AsyncElasticsearchInstrumentor",
            "elasticsearch",
        ),
        Client(
            "opensearch",
            "instrumentation.clients.opensearch",
            "opensearchpy",
            "opensearch-py >= 2.4",
            "opensearch",
            "opensearch_async",
            "AsyncOpenSearchInstrumentor",
            "opensearch",
        ),
        Client(
            "weaviate",
            "instrumentation.clients.weaviate",
            "weaviate",
            "weaviate-client >= 4.13",
            "weaviate",
            "weaviate_async",
            "WeaviateAsyncInstrumentor",
            "weaviate",
        ),
    )
}

BACKENDS: Dict[str, Backend] = {
    backend.name: backend
    for backend in (
        Backend("otel", "instrumentation.backends.otel:OpenTelemetryBackend", None, None),
        Backend("apm", "instrumentation.backends.apm:ElasticApmBackend", "elasticapm", "apm"),
    )
}
