"""Pytest fixtures for asserting on the telemetry of your own traced search code.

Nothing here is loaded unless you ask for it, in your ``conftest.py``::

    pytest_plugins = ["instrumentation.testing"]

It needs the ``testing`` extra (``pip install "async-search-instrumentation[testing]"``:
``opentelemetry-sdk`` and ``pytest``). The fixtures are prefixed so they cannot shadow your own:

* ``search_span_exporter``: an ``InMemorySpanExporter`` holding the test's finished spans.
* ``search_metric_reader``: an ``InMemoryMetricReader`` (``db.client.operation.duration``).
* ``search_tracer_provider`` / ``search_meter_provider``: SDK providers around those two, shut down
  after the test. The global providers are left alone.
* ``search_instrumented``: call it, with any ``instrumentation.instrument()`` options, to instrument
  on those providers (OpenTelemetry backend unless you pass ``backends``); undone after the test.

::

    async def test_search_is_traced(search_instrumented, search_span_exporter):
        search_instrumented()
        async with AsyncElasticsearch(url) as es:
            await es.search(index="movies", query={"match_all": {}})
        (span,) = search_span_exporter.get_finished_spans()
        assert span.name == "search movies"
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

__all__ = [
    "search_instrumented",
    "search_meter_provider",
    "search_metric_reader",
    "search_span_exporter",
    "search_tracer_provider",
]


@pytest.fixture
def search_span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def search_tracer_provider(
    search_span_exporter: InMemorySpanExporter,
) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(search_span_exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def search_metric_reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def search_meter_provider(
    search_metric_reader: InMemoryMetricReader,
) -> Iterator[MeterProvider]:
    provider = MeterProvider(metric_readers=[search_metric_reader])
    yield provider
    provider.shutdown()


@pytest.fixture
def search_instrumented(
    search_tracer_provider: TracerProvider, search_meter_provider: MeterProvider
) -> Iterator[Callable[..., None]]:
    """Call it (with any ``instrument()`` options) to instrument on the test's providers."""

    def instrument(**options: Any) -> None:
        instrumentation.uninstrument()
        options.setdefault("tracer_provider", search_tracer_provider)
        options.setdefault("meter_provider", search_meter_provider)
        options.setdefault("backends", ["otel"])
        instrumentation.instrument(**options)

    yield instrument
    instrumentation.uninstrument()
