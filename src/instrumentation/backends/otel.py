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
from time import perf_counter
from typing import Any, Dict, Optional, Tuple

from opentelemetry import context, metrics, propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from instrumentation import _attributes as A
from instrumentation import _compat
from instrumentation._compat import (
    UNKNOWN,
    global_meter_provider,
    global_tracer_provider,
    suppressed,
)
from instrumentation._config import Settings
from instrumentation._guard import report
from instrumentation._query import scrub_reason
from instrumentation._record import AttributeValue, CallView, Record
from instrumentation._version import SCOPE_NAME, __version__

_SCHEMA_URL = "https://opentelemetry.io/schemas/1.44.0"
_CACHE_LIMIT = 2048
Attributes = Dict[str, AttributeValue]


class _Liveness:
    """Whether a provider records anything: an SDK one does, the API's no-op and proxy ones do not.

    Asked on every call, so it must cost next to nothing: for the global provider it reads the
    API's module global through ``_compat`` (``None`` until one is set), and counts as "live"
    (always correct, only slower) if an API version ever moves it. A provider that
    ``OTEL_PYTHON_TRACER_PROVIDER`` / ``OTEL_PYTHON_METER_PROVIDER`` names is loaded by the API on
    first use, so with those variables set the provider counts as live from the start.
    """

    __slots__ = ("_explicit", "_global", "_live", "_no_op", "_seen", "_variable")

    def __init__(
        self, explicit: Any, global_provider: Any, variable: str, no_op: Tuple[type, ...]
    ) -> None:
        if isinstance(explicit, no_op[1:]):  # the API's proxy: it stands for the global provider
            explicit = None
        self._explicit = explicit
        self._global = global_provider
        self._variable = variable in os.environ
        self._no_op = no_op
        self._seen: Any = UNKNOWN
        self._live = True

    def __call__(self) -> bool:
        provider = self._explicit
        if provider is None:
            provider = self._global()
            if provider is None:
                return self._variable
        if provider is not self._seen:
            self._seen = provider
            self._live = not isinstance(provider, self._no_op)
        return self._live


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
        self._tracing = _Liveness(
            settings.tracer_provider,
            global_tracer_provider,
            "OTEL_PYTHON_TRACER_PROVIDER",
            _compat.NO_OP_TRACER_PROVIDERS,
        )
        self._metrics = _Liveness(
            settings.meter_provider,
            global_meter_provider,
            "OTEL_PYTHON_METER_PROVIDER",
            _compat.NO_OP_METER_PROVIDERS,
        )
        #: Both providers are the global ones and no environment variable names one to load.
        self._globals_only = (
            settings.tracer_provider is None
            and settings.meter_provider is None
            and "OTEL_PYTHON_TRACER_PROVIDER" not in os.environ
            and "OTEL_PYTHON_METER_PROVIDER" not in os.environ
        )
        # (system, operation, collection) -> (span name, start attributes): built once, not per call.
        self._names: Dict[Tuple[str, str, Optional[str]], Tuple[str, Attributes]] = {}
        self._request_hook = settings.request_hook
        # The metric's attribute sets, likewise.
        self._metric_sets: Dict[Tuple[Any, ...], Attributes] = {}

    def wants(self) -> bool:
        if (
            self._globals_only
            and global_tracer_provider() is None
            and global_meter_provider() is None
        ):
            return False  # the common "no SDK at all": two attribute reads, no call
        try:
            return (self._tracing() or self._metrics()) and not suppressed()
        except Exception as exc:  # never, but this runs before every call: stay out of its way
            report(exc, "otel backend")
            return False

    def ready(self) -> bool:
        return self._tracing() or self._metrics()

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

    def start(self, op: Record) -> Optional[_Handle]:
        # A helper contains database calls but is none: no duration point of its own.
        metrics = op.leaf and self._metrics()
        if not self._tracing():
            # No tracer SDK: no span at all, only the metric (when a meter SDK records it).
            return _Handle(None, False, False, True) if metrics else None
        cached = self._names.get((op.system, op.name, op.collection))
        if cached is None or op.parameters:
            cached = self._start_attributes(op)
        span = self.tracer.start_span(
            cached[0],
            kind=SpanKind.CLIENT if op.leaf else SpanKind.INTERNAL,
            attributes=cached[1],
        )
        recording = span.is_recording()
        handle = _Handle(span, recording, recording or span.get_span_context().is_valid, metrics)
        if recording:
            handle.hook = self._request_hook
        return handle

    def enter(self, handle: _Handle, op: Record) -> Any:
        if handle.hook is not None:
            hook, handle.hook = handle.hook, None
            try:
                hook(handle.span, CallView(op))
            except Exception as exc:
                report(exc, "request_hook")
        if not handle.current:
            return None  # no span, or an invalid one: nothing to propagate, skip the context switch
        return context.attach(trace.set_span_in_context(handle.span))  # type: ignore[arg-type]

    def exit(self, handle: _Handle, token: Any) -> None:
        if token is not None:
            context.detach(token)

    def inject(self, handle: _Handle, carrier: Dict[str, str]) -> bool:
        """The global propagator's headers for this call's span (sampled out: the sampled flag off)."""
        if not handle.current:
            return False  # no span (a meter only), or an invalid one: nothing to continue
        propagate.inject(carrier, context=trace.set_span_in_context(handle.span))  # type: ignore[arg-type]
        return True

    # -- finish --------------------------------------------------------------------------------
    def finish(
        self, handle: _Handle, op: Record, response: Any, exc: Optional[BaseException]
    ) -> None:
        elapsed = perf_counter() - handle.start
        span = handle.span
        try:
            if handle.detailed and span is not None:
                self._on_finish(span, op, response, exc)
        finally:
            try:
                if span is not None:
                    span.end()
            finally:  # a span processor that raises in on_end must not cost the metric
                if handle.metrics:
                    self.duration.record(elapsed, self._metric_attributes(op))

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
