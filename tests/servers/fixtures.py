"""The suite's fixtures (registered by ``tests/conftest.py``): servers, SDK providers, instrument().

* ``elasticsearch_server``, ``weaviate_server``, ``apm_intake``: the loopback imitations, each on its
  own event loop in a background thread, so they serve sync and async tests alike (and subprocesses)
  and stop when the test ends.
* ``span_exporter`` / ``metric_reader`` with ``tracer_provider`` / ``meter_provider`` around them.
* ``instrumented``: call it (with any ``instrument()`` options) to instrument on those providers;
  undone after the test.

Users get the provider and ``instrument()`` fixtures, under prefixed names and without servers,
from the opt-in plugin ``instrumentation.testing``.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import instrumentation
from tests.servers.threaded import InThread


@pytest.fixture
def elasticsearch_server() -> Iterator[Any]:
    from tests.servers.elasticsearch import ElasticsearchStandIn

    with InThread(ElasticsearchStandIn()) as server:
        yield server


@pytest.fixture
def weaviate_server() -> Iterator[Any]:
    from tests.servers.weaviate_rest import WeaviateStandIn

    with InThread(WeaviateStandIn()) as server:
        yield server


@pytest.fixture
def apm_intake() -> Iterator[Any]:
    from tests.servers.apm_intake import ApmIntake

    with InThread(ApmIntake()) as server:
        yield server


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def meter_provider(metric_reader: InMemoryMetricReader) -> Iterator[MeterProvider]:
    provider = MeterProvider(metric_readers=[metric_reader])
    yield provider
    provider.shutdown()


@pytest.fixture
def instrumented(
    tracer_provider: TracerProvider, meter_provider: MeterProvider
) -> Iterator[Callable[..., None]]:
    """Call it (with any ``instrument()`` options) to instrument on the test's providers."""

    def instrument(**options: Any) -> None:
        instrumentation.uninstrument()
        options.setdefault("tracer_provider", tracer_provider)
        options.setdefault("meter_provider", meter_provider)
        options.setdefault("backends", ["otel"])
        instrumentation.instrument(**options)

    yield instrument
    instrumentation.uninstrument()
