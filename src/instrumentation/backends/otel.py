"""OpenTelemetry backend: one CLIENT span and one ``db.client.operation.duration`` sample per operation.

The span starts with the attributes known before the call (system, operation, collection, summary,
path parameters), so samplers see them; the rest (query text, batch size, server, status, outcome) is
only computed when the span is recording. The metric is recorded whether or not the span is sampled.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any, Dict, Optional, Tuple

from opentelemetry import context, metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from instrumentation import _attributes as A
from instrumentation._config import Settings
from instrumentation._guard import report
from instrumentation._operation import AttributeValue, Operation
from instrumentation._version import __version__

_SCHEMA_URL = "https://opentelemetry.io/schemas/1.44.0"
_CACHE_LIMIT = 2048
Attributes = Dict[str, AttributeValue]


def _batch_size(op: Operation) -> Optional[int]:
    """``db.operation.batch.size``: only for batches of two or more, and only an int (a hook may
    have written anything into the operation; a bad value is dropped, not fatal)."""
    size = op.batch_size
    return size if isinstance(size, int) and size >= 2 else None


class _Handle:
    __slots__ = ("recording", "span", "start")

    def __init__(self, span: trace.Span, recording: bool) -> None:
        self.span = span
        self.recording = recording
        self.start = perf_counter()


class OpenTelemetryBackend:
    name = "otel"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tracer = trace.get_tracer(
            "instrumentation", __version__, settings.tracer_provider, schema_url=_SCHEMA_URL
        )
        meter = metrics.get_meter(
            "instrumentation", __version__, settings.meter_provider, schema_url=_SCHEMA_URL
        )
        self.duration = meter.create_histogram(
            A.DB_CLIENT_OPERATION_DURATION,
            unit="s",
            description="Duration of database client operations.",
            explicit_bucket_boundaries_advisory=list(A.DURATION_BUCKETS),
        )
        # (system, operation, collection) -> (span name, start attributes): built once, not per call.
        self._names: Dict[Tuple[str, str, Optional[str]], Tuple[str, Attributes]] = {}

    # -- start ---------------------------------------------------------------------------------
    def _start_attributes(self, op: Operation) -> Tuple[str, Attributes]:
        key = (op.system, op.name, op.collection)
        cached = self._names.get(key)
        if cached is None:
            summary = op.summary
            attributes: Attributes = {
                A.DB_SYSTEM_NAME: op.system,
                A.DB_OPERATION_NAME: op.name,
                A.DB_QUERY_SUMMARY: summary,
            }
            if op.collection:
                attributes[A.DB_COLLECTION_NAME] = op.collection
            if self.settings.semconv_dup:
                attributes[A.OLD_DB_SYSTEM] = op.system
                attributes[A.OLD_DB_OPERATION] = op.name
            cached = (summary, attributes)
            if len(self._names) < _CACHE_LIMIT:
                self._names[key] = cached
        if op.parameters:
            attributes = dict(cached[1])
            for name, value in op.parameters.items():
                attributes[A.DB_OPERATION_PARAMETER + name] = value
            return cached[0], attributes
        return cached

    def start(self, op: Operation) -> _Handle:
        name, attributes = self._start_attributes(op)
        span = self.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        handle = _Handle(span, span.is_recording())
        if handle.recording:
            self._on_start(span, op)
        return handle

    def _on_start(self, span: trace.Span, op: Operation) -> None:
        settings = self.settings
        op.resolve(settings.capture_query, settings.query_max_length)
        batch_size = _batch_size(op)
        if batch_size is not None:
            span.set_attribute(A.DB_OPERATION_BATCH_SIZE, batch_size)
        text = op.query_text
        if text and settings.capture_query != "omit":
            span.set_attribute(A.DB_QUERY_TEXT, text)
            if settings.semconv_dup:
                span.set_attribute(A.OLD_DB_STATEMENT, text)
        if settings.request_hook is not None:
            try:
                settings.request_hook(span, op)
            except Exception as exc:
                report(exc, "request_hook")

    def enter(self, handle: _Handle) -> Any:
        if not handle.span.get_span_context().is_valid:
            return None  # no SDK: nothing to propagate, skip the context switch
        return context.attach(trace.set_span_in_context(handle.span))

    def exit(self, handle: _Handle, token: Any) -> None:
        if token is not None:
            context.detach(token)

    # -- finish --------------------------------------------------------------------------------
    def finish(
        self, handle: _Handle, op: Operation, response: Any, exc: Optional[BaseException]
    ) -> None:
        elapsed = perf_counter() - handle.start
        span = handle.span
        try:
            if handle.recording:
                self._on_finish(span, op, response)
        finally:
            try:
                span.end()
            finally:  # a span processor that raises in on_end must not cost the metric
                self.duration.record(elapsed, self._metric_attributes(op))

    def _on_finish(self, span: trace.Span, op: Operation, response: Any) -> None:
        settings = self.settings
        if op.error_type is not None:
            # The outcome first: a bad value below (from a hook) must not turn an error into a success.
            span.set_status(Status(StatusCode.ERROR, op.error_type))
            span.set_attribute(A.ERROR_TYPE, op.error_type)
        attributes: Attributes = {}
        if op.server_address is not None:
            attributes[A.SERVER_ADDRESS] = op.server_address
        if op.server_port is not None:
            attributes[A.SERVER_PORT] = op.server_port
        if op.http_method is not None:
            attributes[A.HTTP_REQUEST_METHOD] = op.http_method
        if op.url is not None:
            attributes[A.URL_FULL] = op.url
        if op.status_code is not None:
            attributes[A.DB_RESPONSE_STATUS_CODE] = op.status_code
        if op.namespace is not None:
            attributes[A.DB_NAMESPACE] = op.namespace
            if settings.semconv_dup:
                attributes[A.OLD_DB_NAME] = op.namespace
        batch_size = _batch_size(op)
        if batch_size is not None:
            attributes[A.DB_OPERATION_BATCH_SIZE] = batch_size
        if op.returned_rows is not None and settings.record_returned_rows:
            attributes[A.DB_RESPONSE_RETURNED_ROWS] = op.returned_rows
        if op.failed_count is not None and op.failed_count_key is not None:
            attributes[op.failed_count_key] = op.failed_count
        if op.attributes:
            attributes.update(op.attributes)
        span.set_attributes(attributes)
        if settings.response_hook is not None:
            try:
                settings.response_hook(span, op, response)
            except Exception as exc:
                report(exc, "response_hook")

    @staticmethod
    def _metric_attributes(op: Operation) -> Attributes:
        attributes: Attributes = {A.DB_SYSTEM_NAME: op.system, A.DB_OPERATION_NAME: op.name}
        if op.collection:
            attributes[A.DB_COLLECTION_NAME] = op.collection
        if op.server_address is not None:
            attributes[A.SERVER_ADDRESS] = op.server_address
        if op.server_port is not None:
            attributes[A.SERVER_PORT] = op.server_port
        if op.error_type is not None:
            attributes[A.ERROR_TYPE] = op.error_type
        return attributes
