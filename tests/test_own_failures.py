"""Our own failures: a hook, an exporter, a span processor or a backend that raises, a value of
an unexpected type, a client whose internals moved. Each time the application's call returns
exactly what it returns uninstrumented, the failure is logged once (per cause, however many calls
hit it), and the rest of the instrumentation keeps working: the other spans, the other backend,
the metric, the next calls.
"""

from __future__ import annotations

import logging
from typing import Any, List, Optional

import pytest
import weaviate.classes as wvc
from elasticsearch import AsyncElasticsearch, NotFoundError
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import instrumentation
from instrumentation import _core
from instrumentation._engine import Engine
from instrumentation._patching import Patch
from instrumentation.clients import elasticsearch as es_client
from instrumentation.clients import weaviate as weaviate_client
from tests.support.audit import SpanAudit
from tests.support.outcomes import Outcome, assert_same_outcome, outcome_of
from tests.support.telemetry import duration_points, status_of
from tests.support.weaviate import missing_in_this_client

CALLS = 3


@pytest.fixture
async def es(es: AsyncElasticsearch) -> AsyncElasticsearch:
    """The suite's ``es``, with one movie."""
    await es.index(index="movies", id="1", document={"title": "Alien"})
    return es


@pytest.fixture
async def movies(weaviate_client: Any) -> Any:
    """The ``Movie`` collection, with one movie."""
    collection = await weaviate_client.collections.create(
        "Movie",
        properties=[wvc.config.Property(name="title", data_type=wvc.config.DataType.TEXT)],
    )
    await collection.data.insert({"title": "Alien"}, uuid="00000000-0000-0000-0000-000000000001")
    return collection


async def calls(es: AsyncElasticsearch, movies: Any) -> List[Outcome]:
    """The application's calls: successes and a failure, on both clients."""
    outcomes = []
    for _ in range(CALLS):
        outcomes.append(await outcome_of(lambda: es.search(index="movies")))
        outcomes.append(await outcome_of(lambda: es.get(index="movies", id="missing")))
        outcomes.append(await outcome_of(lambda: movies.query.fetch_objects()))
    return outcomes


EXPECTED_SPANS = [("search movies", None), ("get movies", "404"), ("fetch_objects Movie", None)]


def warnings_of(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "instrumentation"
        and record.levelno == logging.WARNING
        and not missing_in_this_client(record.getMessage())
    ]


async def assert_unaffected(es: AsyncElasticsearch, movies: Any, instrument: Any) -> None:
    """Run the calls plain and instrumented: the application must see the same outcomes."""
    instrumentation.uninstrument()
    plain = await calls(es, movies)
    instrument()
    traced = await calls(es, movies)
    for before, after in zip(plain, traced):
        assert_same_outcome(before, after)
    assert isinstance(traced[1].value, NotFoundError)


def assert_spans(exporter: Any, calls: int = CALLS) -> None:
    spans = [(span.name, status_of(span)) for span in exporter.get_finished_spans()]
    assert spans == EXPECTED_SPANS * calls


# -- hooks ----------------------------------------------------------------------------------------
async def test_raising_hooks_change_nothing_and_warn_once_each(
    es: AsyncElasticsearch,
    movies: Any,
    instrumented: Any,
    span_exporter: Any,
    audit: SpanAudit,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def request_hook(span: Any, call: Any) -> None:
        span.set_attribute("app.seen", call.operation)
        raise RuntimeError("request hook bug")

    def response_hook(span: Any, op: Any, response: Any) -> None:
        raise KeyError("response hook bug")

    with caplog.at_level(logging.WARNING):
        await assert_unaffected(
            es, movies, lambda: instrumented(request_hook=request_hook, response_hook=response_hook)
        )
    assert_spans(span_exporter)
    assert {span.attributes["app.seen"] for span in span_exporter.get_finished_spans()} == {
        "search",
        "get",
        "fetch_objects",
    }
    audit.assert_all_ended_once()
    assert sorted(warnings_of(caplog)) == [
        "request_hook failed; the traced call is unaffected (logged once per cause)",
        "response_hook failed; the traced call is unaffected (logged once per cause)",
    ]


# -- exporters and span processors --------------------------------------------------------------
class RaisingExporter(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        raise ConnectionResetError("collector went away")

    def shutdown(self) -> None:
        return None


class RaisingProcessor(SimpleSpanProcessor):
    """A span processor whose ``on_end`` raises (the SDK does not guard processors)."""

    def __init__(self) -> None:
        super().__init__(InMemorySpanExporter())

    def on_end(self, span: Any) -> None:
        raise ValueError("processor bug")


@pytest.mark.parametrize("broken", [RaisingExporter, RaisingProcessor])
async def test_a_raising_exporter_or_processor_changes_nothing(
    es: AsyncElasticsearch,
    movies: Any,
    instrumented: Any,
    meter_provider: Any,
    metric_reader: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    broken: Any,
) -> None:
    provider = TracerProvider()
    working = InMemorySpanExporter()
    audit = SpanAudit(provider, monkeypatch)
    if broken is RaisingExporter:
        provider.add_span_processor(SimpleSpanProcessor(RaisingExporter()))
        provider.add_span_processor(SimpleSpanProcessor(working))
    else:
        provider.add_span_processor(SimpleSpanProcessor(working))
        provider.add_span_processor(RaisingProcessor())

    with caplog.at_level(logging.WARNING):
        await assert_unaffected(es, movies, lambda: instrumented(tracer_provider=provider))
    assert_spans(working)
    audit.assert_all_ended_once()
    # The metric is recorded whatever happened to the span.
    assert sum(point.count for point in duration_points(metric_reader)) == 3 * CALLS
    ours = warnings_of(caplog)
    if broken is RaisingExporter:
        assert ours == []  # the SDK reports its exporter's failure itself
    else:
        assert ours == [
            "otel backend failed; the traced call is unaffected (logged once per cause)"
        ]


# -- a backend that raises ----------------------------------------------------------------------
class RaisingBackend:
    """A backend broken in one phase; it sits *before* the OpenTelemetry backend."""

    name = "broken"

    def __init__(self, phase: str) -> None:
        self.phase = phase
        self.finished = 0

    def _maybe_raise(self, phase: str) -> None:
        if phase == self.phase:
            raise RuntimeError(f"{phase} bug")

    def wants(self) -> bool:
        return True

    def start(self, op: Any, start_ns: int) -> Any:
        self._maybe_raise("start")
        return self, False, None

    def enter(self, handle: Any, detailed: bool, op: Any) -> Any:
        self._maybe_raise("enter")
        return self

    def exit(self, handle: Any, token: Any) -> None:
        self._maybe_raise("exit")

    def inject(self, handle: Any, carrier: Any) -> bool:
        return False

    def end(
        self,
        handle: Any,
        detailed: bool,
        token: Any,
        op: Any,
        response: Any,
        exc: Optional[BaseException],
        start_ns: int,
        end_ns: int,
    ) -> None:
        try:
            if token is not None:
                self.exit(handle, token)
        finally:
            self.finished += 1
            self._maybe_raise("finish")


@pytest.mark.parametrize("phase", ["start", "enter", "exit", "finish"])
async def test_a_raising_backend_changes_nothing_and_the_other_backend_still_records(
    es: AsyncElasticsearch,
    movies: Any,
    instrumented: Any,
    span_exporter: Any,
    tracer_provider: Any,
    audit: SpanAudit,
    caplog: pytest.LogCaptureFixture,
    phase: str,
) -> None:
    broken = RaisingBackend(phase)

    def instrument() -> None:
        instrumented()
        engine, settings = _core.current_engine(), _core._settings
        assert engine is not None and settings is not None
        _core.activate("elasticsearch", settings, Engine((broken, *engine.backends)))

    tracer = tracer_provider.get_tracer("app")
    with caplog.at_level(logging.WARNING), tracer.start_as_current_span("request") as request:
        await assert_unaffected(es, movies, instrument)
    spans = [span for span in span_exporter.get_finished_spans() if span.name != "request"]
    assert [(span.name, status_of(span)) for span in spans] == EXPECTED_SPANS * CALLS
    assert {span.parent.span_id for span in spans} == {request.get_span_context().span_id}
    audit.assert_all_ended_once()
    assert warnings_of(caplog) == [
        "broken backend failed; the traced call is unaffected (logged once per cause)"
    ]
    assert broken.finished == (0 if phase == "start" else 3 * CALLS)


# -- hooks see a read-only view ----------------------------------------------------------------
async def test_a_hook_cannot_change_what_the_span_records(
    es: AsyncElasticsearch,
    movies: Any,
    instrumented: Any,
    span_exporter: Any,
    metric_reader: Any,
    audit: SpanAudit,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A hook that tries to write into the call it is shown fails inside the hook (reported once);
    the call, the span's status and attributes, and the metric all stay as they were."""

    def request_hook(span: Any, call: Any) -> None:
        span.set_attribute("app.ok", "kept")
        call.status_code = 404  # read-only: AttributeError, inside the hook

    def response_hook(span: Any, call: Any, response: Any) -> None:
        call.attributes["app.sneaked"] = "in"  # a copy: changes nothing
        call.server_port = ["not", "hashable"]

    with caplog.at_level(logging.WARNING):
        await assert_unaffected(
            es, movies, lambda: instrumented(request_hook=request_hook, response_hook=response_hook)
        )
    assert_spans(span_exporter)
    audit.assert_all_ended_once()
    for span in span_exporter.get_finished_spans():
        assert span.attributes["app.ok"] == "kept"
        assert "app.sneaked" not in span.attributes
        assert span.attributes["db.system.name"] in ("elasticsearch", "weaviate")
    assert sum(point.count for point in duration_points(metric_reader)) == 3 * CALLS
    assert sorted(warnings_of(caplog)) == [
        "request_hook failed; the traced call is unaffected (logged once per cause)",
        "response_hook failed; the traced call is unaffected (logged once per cause)",
    ]


# -- a client whose internals moved -------------------------------------------------------------
def _through(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    return wrapped(*args, **kwargs)


def _moved(rows: Any, path: str, new_path: str) -> Any:
    return tuple(row._replace(path=new_path) if row.path == path else row for row in rows)


async def test_a_missing_patch_target_is_skipped_with_one_warning(
    es: AsyncElasticsearch,
    movies: Any,
    instrumented: Any,
    span_exporter: Any,
    audit: SpanAudit,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from elasticsearch._otel import OpenTelemetry
    from weaviate.connect.v4 import ConnectionAsync

    es_patches, weaviate_patches = es_client.patches, weaviate_client.patches
    monkeypatch.setattr(
        es_client,
        "patches",
        lambda engine: _moved(es_patches(engine), "OpenTelemetry.span", "OpenTelemetry.span_v2"),
    )
    monkeypatch.setattr(
        weaviate_client,
        "patches",
        lambda engine: (
            *weaviate_patches(engine),
            Patch("weaviate.connect.v4", "ConnectionAsyncV2.grpc_search", _through),
        ),
    )
    before = (dict(OpenTelemetry.__dict__), dict(ConnectionAsync.__dict__))
    with caplog.at_level(logging.WARNING):
        await assert_unaffected(es, movies, instrumented)
    assert_spans(span_exporter)  # every other patch still applies
    audit.assert_all_ended_once()
    warnings = warnings_of(caplog)
    assert len(warnings) == 2
    assert "elasticsearch._otel.OpenTelemetry.span_v2" in warnings[0]
    assert "weaviate.connect.v4.ConnectionAsyncV2.grpc_search" in warnings[1]
    instrumentation.uninstrument()
    assert (dict(OpenTelemetry.__dict__), dict(ConnectionAsync.__dict__)) == before


@pytest.mark.parametrize(
    ("module", "reader"),
    [
        (es_client, "_read_meta"),  # reading a response
        (es_client, "read_request"),  # reading a request
        (weaviate_client, "_search_name"),  # reading a gRPC request
        (weaviate_client, "_read_rows"),  # reading a gRPC response
    ],
)
async def test_a_reader_broken_by_moved_internals_changes_nothing_and_leaks_no_span(
    es: AsyncElasticsearch,
    movies: Any,
    instrumented: Any,
    span_exporter: Any,
    audit: SpanAudit,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    module: Any,
    reader: str,
) -> None:
    def moved(*args: Any, **kwargs: Any) -> Any:
        raise AttributeError("'ApiResponseMeta' object has no attribute 'status'")

    monkeypatch.setattr(module, reader, moved)
    with caplog.at_level(logging.WARNING):
        await assert_unaffected(es, movies, instrumented)
    audit.assert_all_ended_once()
    assert len(warnings_of(caplog)) == 1
