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
from typing import Any, Dict, Optional, Tuple

from opentelemetry import metrics, trace
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
from instrumentation._guard import report
from instrumentation._query import scrub_reason
from instrumentation._record import AttributeValue, CallView, Record
from instrumentation._version import SCOPE_NAME, __version__
from instrumentation.backends import _w3c

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
        self.token_usage = meter.create_histogram(
            A.GEN_AI_CLIENT_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(A.TOKEN_BUCKETS),
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
            # Semantic-convention migration (docs/attributes.md): db.system by default, for
            # Elastic APM Server's dependency; all the old names with database/dup.
            if self.settings.semconv_db_system:
                attributes[A.OLD_DB_SYSTEM] = op.system
            if self.settings.semconv_dup:
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

    def start(self, op: Record, start_ns: int) -> Optional[Tuple[Any, bool, Any]]:
        """The span (``None`` with a meter only), whether it records (then in detail), and the
        span made current already, unless a request hook must see the request's details first
        (``enter`` then): the engine saves that step's call."""
        if not self._live_tracing:
            # No tracer SDK: no span at all, only the metric (when a meter SDK records it; a
            # helper contains database calls but is none: no duration point of its own).
            return (None, False, None) if op.leaf and self._live_metrics else None
        cached = self._names.get((op.system, op.name, op.collection))
        if cached is None or op.parameters:
            cached = self._start_attributes(op)
        parent = current_context()
        span = self.tracer.start_span(
            cached[0],
            parent,
            SpanKind.CLIENT if op.leaf else SpanKind.INTERNAL,
            cached[1],
            None,
            start_ns,
        )
        detailed = span.is_recording()
        if (detailed and self._request_hook is not None) or span is INVALID_SPAN:
            return span, detailed, None
        return span, detailed, attach(trace.set_span_in_context(span, parent))

    def enter(self, span: Any, detailed: bool, op: Record) -> Any:
        """The request hook (a recording span), then the span made current, unless there is none
        or it is the API's invalid span (``span_context.is_valid`` asks the same in four Python
        calls, ~3,000 instructions on every sampled-out call); a sampled-out span is made current
        too, so that what runs inside is sampled out with it."""
        if detailed and self._request_hook is not None:
            if op.query_summary is not None:  # the hook sees the name the statement gave
                span.update_name(op.query_summary)
            try:
                self._request_hook(span, CallView(op))
            except Exception as exc:
                report(exc, "request_hook")
        if span is None or span is INVALID_SPAN:
            return None
        return attach(trace.set_span_in_context(span, current_context()))

    def exit(self, span: Any, token: Any) -> None:
        detach(token)

    #: The global propagator's headers for this call's span (sampled out: the flag off); no span
    #: (a meter only) or an invalid one: nothing to continue. ``_w3c.write`` itself: no frame of
    #: ours around it.
    inject = staticmethod(_w3c.write)

    def end(
        self,
        span: Any,
        detailed: bool,
        token: Any,
        op: Record,
        response: Any,
        exc: Optional[BaseException],
        start_ns: int,
        end_ns: int,
    ) -> None:
        """The context restored, the span's outcome and attributes, the span ended at ``end_ns``
        and the duration metric recorded over the same window, each even if the one before it
        failed."""
        try:
            if token is not None:
                detach(token)
        finally:
            try:
                if detailed:
                    self._on_finish(span, op, response, exc)
            finally:
                try:
                    if span is not None:
                        span.end(end_ns)
                finally:  # a span processor that raises in on_end must not cost the metric
                    if op.leaf and self._live_metrics:
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
                        elapsed = (end_ns - start_ns) / 1e9
                        self.duration.record(elapsed if elapsed > 0 else 0.0, attributes)
                        if self._returned_rows is not None and op.returned_rows is not None:
                            self._record_returned_rows(op, attributes)
                        extra = op.attributes
                        if extra is not None and (
                            A.GEN_AI_USAGE_INPUT_TOKENS in extra
                            or A.GEN_AI_USAGE_OUTPUT_TOKENS in extra
                        ):
                            self._record_token_usage(extra)

    # -- GenAI: the tokens of a Weaviate generate.* call ----------------------------------------
    _TOKEN_TYPES = (
        (A.GEN_AI_USAGE_INPUT_TOKENS, "input"),
        (A.GEN_AI_USAGE_OUTPUT_TOKENS, "output"),
    )

    def _record_token_usage(self, attributes: Attributes) -> None:
        """``gen_ai.client.token.usage``: one point per token type the call's answer counted."""
        for key, token_type in self._TOKEN_TYPES:
            count = attributes.get(key)
            if not isinstance(count, int):
                continue
            point: Attributes = {A.GEN_AI_TOKEN_TYPE: token_type}
            for name in (A.GEN_AI_PROVIDER_NAME, A.GEN_AI_REQUEST_MODEL):
                value = attributes.get(name)
                if value is not None:
                    point[name] = value
            self.token_usage.record(count, point)

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
        if op.query_summary is not None:
            # A query language's statement, read once the span started, named the call: the
            # span's name, ``db.query.summary`` and ``db.collection.name`` follow it.
            span.update_name(op.query_summary)
            attributes[A.DB_QUERY_SUMMARY] = op.query_summary
            if op.collection:
                attributes[A.DB_COLLECTION_NAME] = op.collection
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
