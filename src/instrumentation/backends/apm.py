"""Elastic APM backend: one span per operation in the agent's current, sampled transaction.

Spans are created through the agent's own ``Transaction.begin_span`` (so ``span_count``, dropped
spans, ``dropped_spans_stats`` and span compression stay the agent's bookkeeping), but without
``auto_activate``: the engine decides when a span is current (``enter``/``exit``), and ``exit``
puts back exactly the span stack that was current before. A call's span is a *leaf*, so the
agent's own Elasticsearch / HTTP spans under it are dropped uncounted: one span per call, never
two. A helper operation (``op.leaf`` False, ``async_bulk``) is neither a leaf nor an exit span, so
its API calls appear as its children and the dependency is counted once.

With ``apm_transactions`` on, an operation outside any transaction starts its own (type ``db``),
so calls from background workers and scripts are not lost.

Importing this module without ``elasticapm`` installed raises ``ImportError``: the backend is then
unavailable (``instrument(backends=["apm"])`` turns that into ``ValueError``).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import elasticapm
from elasticapm.conf import constants
from elasticapm.context.contextvars import ContextVarsContext
from elasticapm.traces import BaseSpan, DroppedSpan, execution_context
from elasticapm.utils.disttracing import TracingOptions

from instrumentation._compat import suppressed
from instrumentation._config import Settings
from instrumentation._guard import report
from instrumentation._record import AttributeValue, Record

SPAN_TYPE = "db"
SPAN_ACTION = "query"
#: The span type of a helper (``async_bulk``, ...): application code that contains database calls,
#: not a database call itself, so Kibana counts each dependency once, through the calls inside.
HELPER_SPAN_TYPE = "app"
#: ``transaction.type`` of the transactions started with ``apm_transactions``.
TRANSACTION_TYPE = "db"
BATCH_SIZE_LABEL = "db.operation.batch.size"
SUCCESS = "success"  # span outcome, and the result of our own transactions
FAILURE = "failure"
#: Our own frames on top of a span's stack trace: not where the application made the call.
_OWN_MODULES = ("instrumentation.", "wrapt.")

# Direct access to the agent's execution context: ``get_transaction()`` raises and catches a
# LookupError when no transaction was ever set in this context, and the span stack has no API to
# restore a saved state. The no-transaction path below is one ContextVar lookup.
if isinstance(execution_context, ContextVarsContext):
    _TRANSACTION_VAR = ContextVarsContext.elasticapm_transaction_var
    _SPANS_VAR = ContextVarsContext.elasticapm_spans_var
    _current_transaction: Callable[[None], Any] = _TRANSACTION_VAR.get

    def _spans() -> Tuple[Any, ...]:
        spans: Tuple[Any, ...] = _SPANS_VAR.get()
        return spans

    def _set_spans(spans: Tuple[Any, ...]) -> None:
        _SPANS_VAR.set(spans)

else:  # gevent / eventlet: the agent keeps its context in a (monkey-patched) thread local
    _LOCAL: Any = getattr(execution_context, "thread_local", None)
    if _LOCAL is None:  # pragma: no cover - an agent version we do not know
        raise ImportError("unsupported elasticapm execution context")

    def _current_transaction(default: None) -> Any:
        return getattr(_LOCAL, "transaction", default)

    def _spans() -> Tuple[Any, ...]:
        spans: Tuple[Any, ...] = getattr(_LOCAL, "spans", ())
        return spans

    def _set_spans(spans: Tuple[Any, ...]) -> None:
        _LOCAL.spans = spans


def _trim_frames(frames: List[Any]) -> List[Any]:
    """Drop our wrapper and engine frames from the top of a span's stack trace."""
    skip = 0
    for frame, _ in frames:
        if not str(frame.f_globals.get("__name__", "")).startswith(_OWN_MODULES):
            break
        skip += 1
    return frames[skip:] if skip else frames


class _Handle:
    __slots__ = ("detailed", "own", "span", "transaction")

    def __init__(self, span: Any, transaction: Any, own: bool) -> None:
        #: A span shows the request's details (a dropped one is still counted per destination).
        self.detailed = span is not None
        #: ``Span``, ``DroppedSpan``, or ``None`` (an own transaction that is not sampled).
        self.span = span
        self.transaction = transaction
        #: True when we started ``transaction`` (``apm_transactions``) and must end it.
        self.own = own


class ElasticApmBackend:
    name = "apm"
    #: Asked first for a call's trace context (the engine's inject step): when it records the call
    #: (a transaction is current), the request carries the APM context, as it does when the agent's
    #: own HTTP instrumentation writes it, so the request's trace does not depend on that setting.
    inject_first = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._own_transactions = settings.apm_transactions

    def wants(self) -> bool:
        try:
            transaction = _current_transaction(None)
            if transaction is None or transaction.ended_time is not None:
                live = self._own_transactions and elasticapm.get_client() is not None
            else:
                live = bool(transaction.is_sampled) and not transaction.pause_sampling
            return live and not suppressed()
        except Exception as exc:  # never, but this runs before every call: stay out of its way
            report(exc, "apm backend")
            return False

    def ready(self) -> bool:
        return elasticapm.get_client() is not None

    # -- start ---------------------------------------------------------------------------------
    def start(self, op: Record, start_ns: int) -> Optional[Tuple[_Handle, bool, None]]:
        """The APM span (and its transaction with ``apm_transactions``); the agent keeps its own
        clock for both."""
        transaction = _current_transaction(None)
        # An ended transaction (a task that outlived its request) counts as none.
        if transaction is None or transaction.ended_time is not None:
            handle = self._start_transaction(op) if self._own_transactions else None
        elif not transaction.is_sampled or transaction.pause_sampling:
            return None
        else:
            handle = _Handle(self._begin(transaction, op), transaction, False)
        return (handle, handle.detailed, None) if handle is not None else None

    def _begin(self, transaction: Any, op: Record) -> Any:
        leaf = op.leaf
        span = transaction.begin_span(
            op.summary,
            SPAN_TYPE if leaf else HELPER_SPAN_TYPE,
            context={},
            leaf=leaf,
            span_subtype=op.system,
            span_action=SPAN_ACTION if leaf else None,
            sync=False,
            auto_activate=False,
        )
        if isinstance(span, DroppedSpan):
            # Dropped (transaction_max_spans, or under someone's leaf span). Still made current, as
            # a leaf for a leaf operation, so the agent's own span for this call is not counted as a
            # second drop.
            if leaf:
                span.leaf = True
            return span
        if span.frames:
            span.frames = _trim_frames(span.frames)
        return span

    def _start_transaction(self, op: Record) -> Optional[_Handle]:
        client = elasticapm.get_client()
        if client is None:
            return None
        transaction = client.begin_transaction(TRANSACTION_TYPE, auto_activate=False)
        if transaction is None:  # the agent is not recording
            return None
        transaction.name = op.summary
        span = None
        if transaction.is_sampled:
            saved = _spans()
            _set_spans(())  # a span left over from an earlier transaction is no parent of ours
            try:
                span = self._begin(transaction, op)
            finally:
                _set_spans(saved)
        return _Handle(span, transaction, True)

    # -- current while the client's code runs -----------------------------------------------------
    def enter(self, handle: _Handle, detailed: bool, op: Record) -> Tuple[Tuple[Any, ...], Any]:
        spans = _spans()
        if handle.own:
            previous = _current_transaction(None)
            execution_context.set_transaction(handle.transaction)
            _set_spans(() if handle.span is None else (handle.span,))
            return spans, previous
        _set_spans((*spans, handle.span))
        return spans, None

    def inject(self, handle: _Handle, carrier: Dict[str, str]) -> bool:
        """``traceparent`` (and ``tracestate``, ``elastic-apm-traceparent`` when the agent is
        configured so) for this call's span, as the agent's own HTTP instrumentations send it."""
        transaction = handle.transaction
        if transaction is None or transaction.trace_parent is None:
            return False
        span = handle.span
        while isinstance(span, DroppedSpan):
            span = span.parent
        parent_id = span.id if span is not None else transaction.id
        trace_parent = transaction.trace_parent.copy_from(
            span_id=parent_id, trace_options=TracingOptions(recorded=bool(transaction.is_sampled))
        )
        header = trace_parent.to_string()
        carrier[constants.TRACEPARENT_HEADER_NAME] = header
        if transaction.tracer.config.use_elastic_traceparent_header:
            carrier[constants.TRACEPARENT_LEGACY_HEADER_NAME] = header
        if trace_parent.tracestate:
            carrier[constants.TRACESTATE_HEADER_NAME] = trace_parent.tracestate
        return True

    def exit(self, handle: _Handle, token: Tuple[Tuple[Any, ...], Any]) -> None:
        spans, previous = token
        _set_spans(spans)
        if handle.own:
            execution_context.set_transaction(previous)

    # -- end -----------------------------------------------------------------------------------
    def end(
        self,
        handle: _Handle,
        detailed: bool,
        token: Any,
        op: Record,
        response: Any,
        exc: Optional[BaseException],
        start_ns: int,
        end_ns: int,
    ) -> None:
        try:
            if token is not None:
                self.exit(handle, token)
        finally:
            try:
                if handle.span is not None:
                    self._end_span(handle.span, handle.transaction, op, exc)
            finally:
                if handle.own:
                    self._end_transaction(handle.transaction, op)

    def _end_span(
        self, span: Any, transaction: Any, op: Record, exc: Optional[BaseException]
    ) -> None:
        outcome = SUCCESS if op.error_type is None else FAILURE
        if isinstance(span, DroppedSpan):
            context = span.context
            span.outcome = outcome
            # BaseSpan.end, not DroppedSpan.end: that one pops the top of the span stack, which is
            # not ours any more (exit already restored it).
            BaseSpan.end(span)
            if context is not None and op.leaf:
                # Dropped for transaction_max_spans: counted per destination, as the agent does.
                context.update(self._exit_context(op))
                agent = getattr(transaction.tracer, "_agent", None)
                if agent is None or agent.check_server_version(gte=(7, 16)):
                    transaction.track_dropped_span(span)
            return
        if op.leaf:
            span.context.update(self._exit_context(op))
        if op.query_summary is not None:  # a query language's statement named the call
            span.name = op.summary
        labels = self._labels(op)
        if labels:
            span.label(**labels)
        span.outcome = outcome
        span.end()
        if exc is not None and not hasattr(exc, "_elastic_apm_span_id"):
            # As the agent's capture_span does: an error captured from this exception has this span
            # as its parent. The innermost span wins (a helper does not overwrite its bulk call's).
            try:
                exc._elastic_apm_span_id = span.id  # type: ignore[attr-defined]
            except AttributeError:  # an exception class with __slots__
                pass

    def _exit_context(self, op: Record) -> Dict[str, Any]:
        """An exit span's ``context``: what Kibana's service map and dependencies are built from."""
        system = op.system
        instance = op.namespace or None
        db: Dict[str, Any] = {"type": system}
        if instance:
            db["instance"] = instance
        text = op.query_text
        if text and self.settings.capture_query != "omit":
            db["statement"] = text
        if op.rows_affected is not None:
            db["rows_affected"] = op.rows_affected
        destination: Dict[str, Any] = {
            # name and type are deprecated but still required by the intake API
            "service": {
                "resource": f"{system}/{instance}" if instance else system,
                "name": "",
                "type": "",
            }
        }
        if op.server_address:
            destination["address"] = op.server_address
        if op.server_port is not None:
            destination["port"] = op.server_port
        context: Dict[str, Any] = {
            "db": db,
            "destination": destination,
            # name None, not absent: the agent would otherwise infer "host:port" from http.url.
            "service": {"target": {"type": system, "name": instance}},
        }
        http: Dict[str, Any] = {}
        if op.url:
            http["url"] = op.url
        status = op.status_code
        if status and status.isascii() and status.isdigit():
            http["status_code"] = int(status)
        if http:
            context["http"] = http
        return context

    @staticmethod
    def _labels(op: Record) -> Dict[str, AttributeValue]:
        """Client-specific attributes (tenant, consistency level, node, helper counts) as labels."""
        labels: Dict[str, AttributeValue] = dict(op.attributes) if op.attributes else {}
        if op.batch_size is not None and op.batch_size >= 2:
            labels[BATCH_SIZE_LABEL] = op.batch_size
        return labels

    @staticmethod
    def _end_transaction(transaction: Any, op: Record) -> None:
        failed = op.error_type is not None
        transaction.outcome = FAILURE if failed else SUCCESS
        # The agent ends the *current* transaction: make ours current for that, then put back
        # whatever was current (finish may run outside the call, e.g. for an abandoned generator).
        previous = _current_transaction(None)
        execution_context.set_transaction(transaction)
        try:
            transaction.tracer.end_transaction(FAILURE if failed else SUCCESS)
        finally:
            execution_context.set_transaction(previous)
