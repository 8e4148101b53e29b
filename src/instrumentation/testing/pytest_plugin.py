"""Pytest fixtures for testing traced search code without Docker.

Installed as a pytest plugin (entry point ``search_instrumentation``), so any project that installs
``async-search-instrumentation`` gets them:

* ``elasticsearch_server``, ``weaviate_server``, ``apm_intake``: loopback stand-ins, each on its own
  event loop in a background thread, so they work from sync and async tests alike and stop by
  themselves when the test ends.
* ``span_exporter`` / ``metric_reader`` with ``tracer_provider`` / ``meter_provider`` around them.
* ``instrumented``: ``instrumentation.instrument()`` on those providers, undone after the test.

Server modules are imported only when their fixture is used, so a project without aiohttp or grpcio
can still load the plugin.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest


@pytest.fixture
def elasticsearch_server() -> Iterator[Any]:
    from instrumentation.testing._threaded import InThread
    from instrumentation.testing.elasticsearch_server import ElasticsearchStandIn

    with InThread(ElasticsearchStandIn()) as server:
        yield server


@pytest.fixture
def weaviate_server() -> Iterator[Any]:
    from instrumentation.testing._threaded import InThread
    from instrumentation.testing.weaviate_server import WeaviateStandIn

    with InThread(WeaviateStandIn()) as server:
        yield server


@pytest.fixture
def apm_intake() -> Iterator[Any]:
    from instrumentation.testing._threaded import InThread
    from instrumentation.testing.apm_server import ApmIntake

    with InThread(ApmIntake()) as server:
        yield server


@pytest.fixture
def span_exporter() -> Any:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(span_exporter: Any) -> Iterator[Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def metric_reader() -> Any:
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    return InMemoryMetricReader()


@pytest.fixture
def meter_provider(metric_reader: Any) -> Iterator[Any]:
    from opentelemetry.sdk.metrics import MeterProvider

    provider = MeterProvider(metric_readers=[metric_reader])
    yield provider
    provider.shutdown()


@pytest.fixture
def instrumented(tracer_provider: Any, meter_provider: Any) -> Iterator[Callable[..., None]]:
    """Call it (with any ``instrument()`` options) to instrument on the test's providers."""
    import instrumentation

    def instrument(**options: Any) -> None:
        instrumentation.uninstrument()
        options.setdefault("tracer_provider", tracer_provider)
        options.setdefault("meter_provider", meter_provider)
        options.setdefault("backends", ["otel"])
        instrumentation.instrument(**options)

    yield instrument
    instrumentation.uninstrument()
