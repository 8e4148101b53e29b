"""OpenTelemetry backend: one CLIENT span and one ``db.client.operation.duration`` sample per operation.

The span starts with the attributes known before the call (system, operation, collection, summary,
path parameters), so samplers see them; the rest (query text, batch size, server, status, outcome) is
only computed when the span is recording, and set in one ``set_attributes`` call at the end. The
metric is recorded whether or not the span is sampled: metrics count every call.

What a call costs depends on what can record (``wants``): with neither a tracer nor a meter SDK
installed, the client wrapper never builds an operation at all; with only a meter, no span is
started; with a sampler that drops the span, only the metric's attributes are read.
"""

from __future__ import annotations

import os
import traceback
from contextvars import ContextVar
from time import perf_counter
from typing import Any, Awaitable, Dict, Optional, Tuple

from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import INVALID_SPAN, SpanKind, Status, StatusCode

from instrumentation import _attributes as A
from instrumentation import _compat
from instrumentation._compat import (
    SUPPRESS_KEYS,
    UNKNOWN,
    attach,
    current_context,
    detach,
    global_meter_provider,
    global_tracer_provider,
    suppressed,
)
from instrumentation._config import Settings
from instrumentation._dispatch import Reader
from instrumentation._guard import report
from instrumentation._query import scrub_reason
from instrumentation._record import AttributeValue, CallView, Record
from instrumentation._version import SCOPE_NAME, __version__

_SCHEMA_URL = "https://opentelemetry.io/schemas/1.44.0"
_CACHE_LIMIT = 2048
_SUPPRESS = SUPPRESS_KEYS
Attributes = Dict[str, AttributeValue]


def _live(provider: Any, variable: bool, no_op: Tuple[type, ...]) -> bool:
    """Whether ``provider`` records anything: an SDK one does, the API's no-op and proxy ones do
    not. ``None`` (no global provider yet) counts as live only when an environment variable names
    one for the API to load on first use; ``UNKNOWN`` (an API version that moved the global) counts
    as live: always correct, only slower."""
    if provider is None:
        return variable
    return not isinstance(provider, no_op)


class _Handle:
    __slots__ = ("current", "detailed", "hook", "metrics", "span", "start")

    def __init__(
        self, span: Optional[trace.Span], recording: bool, current: bool, metrics: bool
    ) -> None:
        self.span = span
        #: A recording span: it shows the request's details and the whole outcome.
        self.detailed = recording
        #: The request hook still to run (in ``enter``, once the details are read).
        self.hook: Any = None
        #: The span has a valid context, so it becomes the parent of what runs inside the call
        #: (sampled out too: its children must be sampled out with it).
        self.current = current
        #: A meter SDK records the duration.
        self.metrics = metrics
        self.start = perf_counter()


class OpenTelemetryBackend:
    name = "otel"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tracer = trace.get_tracer(
            SCOPE_NAME, __version__, settings.tracer_provider, schema_url=_SCHEMA_URL
        )
        meter = metrics.get_meter(
            SCOPE_NAME, __version__, settings.meter_provider, schema_url=_SCHEMA_URL
        )
        self.duration = meter.create_histogram(
            A.DB_CLIENT_OPERATION_DURATION,
            unit="s",
            description="Duration of database client operations.",
            explicit_bucket_boundaries_advisory=list(A.DURATION_BUCKETS),
        )
        #: ``db.client.response.returned_rows``, with ``record_returned_rows`` only.
        self._returned_rows = (
            meter.create_histogram(
                A.DB_CLIENT_RESPONSE_RETURNED_ROWS,
                unit="{row}",
                description="The actual number of records returned by the database operation.",
                explicit_bucket_boundaries_advisory=list(A.RETURNED_ROWS_BUCKETS),
            )
            if settings.record_returned_rows
            else None
        )
        # Which providers record (``_refresh``): read on every call, recomputed only when the
        # provider objects change (an SDK installed after ``instrument()``, a test resetting it).
        proxies_tracer = isinstance(settings.tracer_provider, _compat.NO_OP_TRACER_PROVIDERS[1:])
        proxies_meter = isinstance(settings.meter_provider, _compat.NO_OP_METER_PROVIDERS[1:])
        #: An explicit provider; ``None`` stands for the global one (the API's proxy does too).
        self._tracer_provider = None if proxies_tracer else settings.tracer_provider
        self._meter_provider = None if proxies_meter else settings.meter_provider
        self._tracer_variable = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ
        self._meter_variable = "OTEL_PYTHON_METER_PROVIDER" in os.environ
        self._seen_tracer: Any = UNKNOWN
        self._seen_meter: Any = UNKNOWN
        self._live_tracing = self._live_metrics = self._live_any = True
        #: Both providers are the global ones and no environment variable names one to load.
        self._globals_only = (
            self._tracer_provider is None
            and self._meter_provider is None
            and not self._tracer_variable
            and not self._meter_variable
        )
        # (system, operation, collection) -> (span name, start attributes): built once, not per call.
        self._names: Dict[Tuple[str, str, Optional[str]], Tuple[str, Attributes]] = {}
        self._request_hook = settings.request_hook
        self._capture_query = settings.capture_query
        self._query_max_length = settings.query_max_length
        # The metric's attribute sets, likewise.
        self._metric_sets: Dict[Tuple[Any, ...], Attributes] = {}

    def _refresh(self, tracer_provider: Any, meter_provider: Any) -> None:
        self._seen_tracer = tracer_provider
        self._seen_meter = meter_provider
        self._live_tracing = _live(
            tracer_provider, self._tracer_variable, _compat.NO_OP_TRACER_PROVIDERS
        )
        self._live_metrics = _live(
            meter_provider, self._meter_variable, _compat.NO_OP_METER_PROVIDERS
        )
        self._live_any = self._live_tracing or self._live_metrics

    def wants(self) -> bool:
        """Asked before every call: with no SDK, two attribute reads; else an identity check of the
        providers and one look at the current context (suppression). No Python call on the way."""
        if (
            self._globals_only
            and global_tracer_provider() is None
            and global_meter_provider() is None
        ):
            return False  # the common "no SDK at all": two attribute reads
        try:
            tracer_provider = self._tracer_provider
            if tracer_provider is None:
                tracer_provider = global_tracer_provider()
            meter_provider = self._meter_provider
            if meter_provider is None:
                meter_provider = global_meter_provider()
            if tracer_provider is not self._seen_tracer or meter_provider is not self._seen_meter:
                self._refresh(tracer_provider, meter_provider)
            if not self._live_any:
                return False  # no-op providers only
            if _SUPPRESS is None:  # pragma: no cover - an API version that moved the keys
                return not suppressed()
            current = current_context()
            return not (current.get(_SUPPRESS[0]) or current.get(_SUPPRESS[1]))
        except Exception as exc:  # never, but this runs before every call: stay out of its way
            report(exc, "otel backend")
            return False

    def ready(self) -> bool:
        tracer_provider = self._tracer_provider
        meter_provider = self._meter_provider
        self._refresh(
            global_tracer_provider() if tracer_provider is None else tracer_provider,
            global_meter_provider() if meter_provider is None else meter_provider,
        )
        return self._live_any

    # -- start ---------------------------------------------------------------------------------
    def _start_attributes(self, op: Record) -> Tuple[str, Attributes]:
        key = (op.system, op.name, op.collection)
        cached = self._names.get(key)
        if cached is None and not op.leaf:
            # A helper (async_bulk, ...): no database call of its own, so no db.* attributes that
            # would make a backend count it as one; its totals are set when it ends.
            cached = (op.summary, {})
            if len(self._names) < _CACHE_LIMIT:
                self._names[key] = cached
        elif cached is None:
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

    def _span(self, op: Record, parent: Any) -> trace.Span:
        cached = self._names.get((op.system, op.name, op.collection))
        if cached is None or op.parameters:
            cached = self._start_attributes(op)
        return self.tracer.start_span(
            cached[0],
            parent,
            SpanKind.CLIENT if op.leaf else SpanKind.INTERNAL,
            cached[1],
        )

    def start(self, op: Record) -> Optional[_Handle]:
        # A helper contains database calls but is none: no duration point of its own.
        metrics = op.leaf and self._live_metrics
        if not self._live_tracing:
            # No tracer SDK: no span at all, only the metric (when a meter SDK records it).
            return _Handle(None, False, False, True) if metrics else None
        span = self._span(op, current_context())
        recording = span.is_recording()
        # Made current unless it is the API's invalid span (``span_context.is_valid`` asks the same
        # in four Python calls, ~3,000 instructions on every sampled-out call).
        handle = _Handle(span, recording, recording or span is not INVALID_SPAN, metrics)
        if recording:
            handle.hook = self._request_hook
        return handle

    def enter(self, handle: _Handle, op: Record) -> Any:
        if handle.hook is not None:
            hook, handle.hook = handle.hook, None
            self._request(hook, handle.span, op)
        if not handle.current:
            return None  # no span, or an invalid one: nothing to propagate, skip the context switch
        return attach(trace.set_span_in_context(handle.span, current_context()))  # type: ignore[arg-type]

    def exit(self, handle: _Handle, token: Any) -> None:
        if token is not None:
            detach(token)

    def inject(self, handle: _Handle, carrier: Dict[str, str]) -> bool:
        """The global propagator's headers for this call's span (sampled out: the sampled flag off)."""
        if not handle.current:
            return False  # no span (a meter only), or an invalid one: nothing to continue
        propagate.inject(carrier, context=trace.set_span_in_context(handle.span))  # type: ignore[arg-type]
        return True

    @staticmethod
    def _request(hook: Any, span: Any, op: Record) -> None:
        try:
            hook(span, CallView(op))
        except Exception as exc:
            report(exc, "request_hook")

    # -- the whole call, when this is the only backend ------------------------------------------
    async def traced_call(
        self,
        op: Record,
        reader: Reader,
        awaitable: Awaitable[Any],
        scope: Optional[ContextVar[Optional[Record]]] = None,
    ) -> Any:
        """``Dispatcher``'s traced call with this backend's steps written in line: the same steps in
        the same order under the same guards (start, the request's details when recording, the
        request hook, the span made current, its context injected; then the outcome read and the
        span and metric finished), in a third of the Python calls. The dispatcher uses it when
        OpenTelemetry is the only backend."""
        scope_token = scope.set(op) if scope is not None else None
        try:
            span: Any = None
            token = None
            detailed = metrics = False
            try:
                metrics = op.leaf and self._live_metrics
                if self._live_tracing:
                    parent = current_context()
                    span = self._span(op, parent)
                    detailed = span.is_recording()
                    if detailed:
                        try:
                            reader.details(op, self._capture_query, self._query_max_length)
                        except Exception as exc:
                            report(exc)
                        if self._request_hook is not None:
                            self._request(self._request_hook, span, op)
                    if detailed or span is not INVALID_SPAN:  # as in ``start``
                        current = trace.set_span_in_context(span, parent)
                        token = attach(current)
                        if op.carrier is not None:
                            propagate.inject(op.carrier, context=current)
            except Exception as exc:
                report(exc, "otel backend")
            if span is None and not metrics:
                return await awaitable
            started = perf_counter()
            response = error = None
            try:
                response = await awaitable
                return response
            except BaseException as exc:
                error = exc
                raise
            finally:  # the call's end, in line: the outcome read, the span and metric finished
                elapsed = perf_counter() - started
                if token is not None:
                    try:
                        detach(token)
                    except Exception as problem:
                        report(problem, "otel backend")
                try:
                    if error is None:
                        reader.response(op, response, detailed)
                    else:
                        reader.error(op, error, detailed)
                except Exception as problem:  # a reader that failed must not leave the span open
                    report(problem)
                try:
                    self._finish(span, detailed, metrics, elapsed, op, response, error)
                except Exception as problem:
                    report(problem, "otel backend")
                error = None  # no cycle through the exception's traceback and this frame
        finally:
            if scope_token is not None:
                scope.reset(scope_token)  # type: ignore[union-attr]

    # -- finish --------------------------------------------------------------------------------
    def finish(
        self, handle: _Handle, op: Record, response: Any, exc: Optional[BaseException]
    ) -> None:
        self._finish(
            handle.span,
            handle.detailed,
            handle.metrics,
            perf_counter() - handle.start,
            op,
            response,
            exc,
        )

    def _finish(
        self,
        span: Any,
        detailed: bool,
        metrics: bool,
        elapsed: float,
        op: Record,
        response: Any,
        exc: Optional[BaseException],
    ) -> None:
        try:
            if detailed and span is not None:
                self._on_finish(span, op, response, exc)
        finally:
            try:
                if span is not None:
                    span.end()
            finally:  # a span processor that raises in on_end must not cost the metric
                if metrics:
                    key = (
                        op.system,
                        op.name,
                        op.collection,
                        op.server_address,
                        op.server_port,
                        op.error_type,
                    )
                    try:
                        attributes = self._metric_sets[key]
                    except (KeyError, TypeError):  # a new set, or an unhashable value read
                        attributes = self._metric_attributes(op)
                    self.duration.record(elapsed, attributes)
                    if self._returned_rows is not None and op.returned_rows is not None:
                        self._record_returned_rows(op, attributes)

    def _record_returned_rows(self, op: Record, attributes: Attributes) -> None:
        """The returned-rows histogram, with the duration metric's attributes (opt-in)."""
        try:
            self._returned_rows.record(op.returned_rows, attributes)  # type: ignore[union-attr,arg-type]
        except Exception as exc:
            report(exc, "otel backend")

    def _on_finish(
        self, span: trace.Span, op: Record, response: Any, exc: Optional[BaseException]
    ) -> None:
        settings = self.settings
        if op.error_type is not None:
            # The outcome first: a bad value below must not turn an error into a success.
            self._record_failure(span, op, exc if exc is not None else op.raised)
        attributes: Attributes = {}
        text = op.query_text
        if text and settings.capture_query != "omit":
            attributes[A.DB_QUERY_TEXT] = text
            if settings.semconv_dup:
                attributes[A.OLD_DB_STATEMENT] = text
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
        batch_size = op.batch_size
        if batch_size is not None and batch_size >= 2:
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
                settings.response_hook(span, CallView(op), response)
            except Exception as exc:
                report(exc, "response_hook")

    def _record_failure(self, span: trace.Span, op: Record, exc: Optional[BaseException]) -> None:
        """ERROR status described by the server's reason, ``error.type``, and the exception event.

        Outside ``raw`` capture the reason and the event's message and stack trace are scrubbed of
        the values a server's message can echo (``scrub_reason``): the SDK's ``record_exception``
        would copy ``str(exc)`` into two attributes as it is.
        """
        error_type = str(op.error_type)
        mode = self.settings.capture_query
        reason = op.reason
        if reason is None and exc is not None:
            reason = str(exc) or None
        span.set_status(
            Status(StatusCode.ERROR, scrub_reason(reason, mode) if reason else error_type)
        )
        span.set_attribute(A.ERROR_TYPE, error_type)
        if exc is None:
            return
        if mode == "raw":
            span.record_exception(exc)
            return
        kind = type(exc)
        qualified = kind.__qualname__
        if kind.__module__ and kind.__module__ != "builtins":
            qualified = f"{kind.__module__}.{qualified}"
        message = scrub_reason(str(exc), mode)
        stacktrace = "".join(traceback.format_tb(exc.__traceback__))
        span.record_exception(
            exc,
            attributes={
                "exception.message": message,
                "exception.stacktrace": f"Traceback (most recent call last):\n{stacktrace}"
                f"{qualified}: {message}\n",
            },
        )

    def _metric_attributes(self, op: Record) -> Attributes:
        key = (op.system, op.name, op.collection, op.server_address, op.server_port, op.error_type)
        cacheable = True
        try:
            cached = self._metric_sets.get(key)
        except TypeError:  # an unhashable value read from a response: build the set, uncached
            cached, cacheable = None, False
        if cached is not None:
            return cached
        attributes: Attributes = {A.DB_SYSTEM_NAME: op.system, A.DB_OPERATION_NAME: op.name}
        if op.collection:
            attributes[A.DB_COLLECTION_NAME] = op.collection
        if op.server_address is not None:
            attributes[A.SERVER_ADDRESS] = op.server_address
        if op.server_port is not None:
            attributes[A.SERVER_PORT] = op.server_port
        if op.error_type is not None:
            attributes[A.ERROR_TYPE] = op.error_type
        if cacheable and len(self._metric_sets) < _CACHE_LIMIT:
            self._metric_sets[key] = attributes
        return attributes
