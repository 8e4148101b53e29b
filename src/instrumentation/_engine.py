"""The engine: the one place that knows both clients and backends, and writes the steps of a call.

A client wrapper, closed over its ``Engine`` when the client is activated, first asks
``engine.wants()`` (can any backend record anything now?). When none can, it calls the client
straight through and builds nothing. Otherwise it reads the call's identity into a ``Record`` and
returns ``engine.call(record, reader, awaitable, scope, carrier)`` (a coroutine), or wraps an async
generator in ``engine.iterate(...)``. The steps of a traced call, in order, each under its own
guard (a failing step never skips the next, a started record is always ended):

1. the window opens (``time_ns``): the start of every backend's record and of the duration metric;
2. ``start``: one record per active backend, each saying whether it records in detail;
3. the request's details (query text, batch size), only when a backend records in detail;
4. ``enter``: each record made current while the client's code runs (a request hook runs here),
   unless ``start`` already made it current (a backend with nothing to run between: one that
   does not record in detail, or has no request hook, saves the step's call);
5. ``inject``: the trace context written into the request's ``carrier`` (``propagate_context``),
   in place of any trace header the application put there: one trace per request;
6. the user's call is awaited, outside every guard: its result or exception passes untouched;
7. the window closes; the outcome is read (``reader.response`` / ``reader.error``);
8. ``end``: each record leaves the context and ends from the outcome (span, metric, APM span).

These steps are written once, in ``_traced_call`` (calls) and ``TracedAsyncIterator`` (async
generators, whose records are current only inside each step of the generator). What is
specialised at ``instrument()`` time is *which* start/enter/inject/end they run: one backend's own
methods (the common setup: no fan-out), or ``_Fanout``'s, which loops over several backends.
"""

from __future__ import annotations

from contextvars import ContextVar
from time import time_ns
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    List,
    NamedTuple,
    Optional,
    Protocol,
    Sequence,
    Tuple,
)

from instrumentation import _trace_headers
from instrumentation._guard import report
from instrumentation._record import Record

Carrier = Dict[str, str]
Scope = Optional[ContextVar[Optional[Record]]]
#: What ``Backend.start`` returns: ``(handle, detailed, token)``.
Started = Tuple[Any, bool, Any]


def _nothing(*args: Any) -> None:
    return None


class Reader(NamedTuple):
    """How a client reads one kind of call into its ``Record``; the engine says how much.

    ``details(record, capture_query, max_length)`` reads the costly request details, and runs only
    when a backend records in detail; ``response(record, response, detailed)`` and
    ``error(record, exc, detailed)`` read the outcome (with ``detailed`` False, only what the
    duration metric needs); ``item(record, item)`` counts what an async generator yields.
    """

    response: Callable[[Record, Any, bool], None]
    error: Callable[[Record, BaseException, bool], None]
    details: Callable[[Record, str, int], None] = _nothing
    item: Callable[[Record, Any], None] = _nothing


class Backend(Protocol):
    """Records calls somewhere (OpenTelemetry, Elastic APM): starts and ends its own record of a
    call from the ``Record``, nothing of the flow. Knows no client, and only reads the record."""

    name: str

    def wants(self) -> bool:
        """Whether to record a call now (could record, not suppressed). Asked before every call,
        so cheap; must never raise."""

    def ready(self) -> bool:
        """Whether anything is there to record into at all (an SDK provider, an agent client);
        asked at ``instrument()`` and at exit only."""

    def start(self, record: Record, start_ns: int) -> Optional[Started]:
        """Begin recording at ``start_ns``: ``(handle, detailed, token)``, ``detailed`` when it
        shows more than the duration metric, ``token`` not ``None`` when ``start`` already made
        the record current (as ``enter`` would: nothing of the backend's needs the request's
        details first); ``None`` when there is nothing to record."""

    def enter(self, handle: Any, detailed: bool, record: Record) -> Any:
        """Make the record current for code running inside the call (the request's details are
        read by now); return a token for ``exit`` / ``end``. Asked only when ``start`` returned
        no token, and before each step of an async generator after its first."""

    def exit(self, handle: Any, token: Any) -> None:
        """Undo ``enter``."""

    def inject(self, handle: Any, carrier: Carrier) -> bool:
        """Write the record's trace context into the request's ``carrier``; False when it has
        none to send (the next backend is asked then)."""

    def end(
        self,
        handle: Any,
        detailed: bool,
        token: Any,
        record: Record,
        response: Any,
        exc: Optional[BaseException],
        start_ns: int,
        end_ns: int,
    ) -> None:
        """Undo ``enter`` (when ``token`` is not ``None``), then end the record with the call's
        outcome and the window ``start_ns``..``end_ns`` (the same for every backend)."""


class _Steps(NamedTuple):
    """What the steps run: one backend's own methods, or ``_Fanout``'s over several."""

    start: Callable[[Record, int], Optional[Started]]
    enter: Callable[[Any, bool, Record], Any]
    exit: Callable[[Any, Any], None]
    inject: Callable[[Any, Carrier], bool]
    end: Callable[..., None]
    capture_query: str
    max_length: int
    #: What a failure of these methods is logged as (``otel backend``).
    label: str


def _traced_call(steps: _Steps) -> Callable[..., Awaitable[Any]]:
    """The traced call for ``steps``, their methods bound as locals of the closure."""
    start, enter, inject, end = steps.start, steps.enter, steps.inject, steps.end
    capture_query, max_length, label = steps.capture_query, steps.max_length, steps.label

    async def call(
        record: Record,
        reader: Reader,
        awaitable: Awaitable[Any],
        scope: Scope = None,
        carrier: Optional[Carrier] = None,
    ) -> Any:
        """Await ``awaitable`` (the client's call, not yet started) as ``record``. ``scope``, when
        given, holds ``record`` while the call runs (how a client recognises, further down, the
        calls that belong to it); ``carrier``, the headers the request will send."""
        scope_token = scope.set(record) if scope is not None else None
        try:
            start_ns = time_ns()
            started = None
            try:
                started = start(record, start_ns)
            except Exception as exc:
                report(exc, label)
            if started is None:
                return await awaitable
            handle, detailed, token = started
            if detailed:
                try:
                    reader.details(record, capture_query, max_length)
                except Exception as exc:
                    report(exc)
            if token is None:
                try:
                    token = enter(handle, detailed, record)
                except Exception as exc:
                    report(exc, label)
            if carrier is not None:
                try:
                    if carrier:  # the application's own trace headers: ours replace them
                        _trace_headers.clear(carrier)
                    inject(handle, carrier)
                except Exception as exc:
                    report(exc, label)
            response = error = None
            try:
                response = await awaitable
                return response
            except BaseException as exc:
                error = exc
                raise
            finally:
                end_ns = time_ns()
                try:
                    if error is None:
                        reader.response(record, response, detailed)
                    else:
                        reader.error(record, error, detailed)
                except Exception as problem:  # a reader that failed must not leave a record open
                    report(problem)
                try:
                    end(handle, detailed, token, record, response, error, start_ns, end_ns)
                except Exception as problem:
                    report(problem, label)
                error = None  # no cycle through the exception's traceback and this frame
        finally:
            if scope_token is not None:
                scope.reset(scope_token)  # type: ignore[union-attr]

    return call


class TracedAsyncIterator:
    """An async generator traced as one call from its first step to its end: the same steps as
    ``_traced_call``, spread over the generator's steps. The records are current only while the
    generator itself runs (inside each ``__anext__``), never in the consumer's loop body."""

    def __init__(
        self,
        steps: _Steps,
        record: Record,
        reader: Reader,
        inner: Any,
        *,
        scope: Scope = None,
        carrier: Optional[Carrier] = None,
    ) -> None:
        self._steps = steps
        self._record = record
        self._reader = reader
        self._inner = inner
        self._scope = scope
        self._carrier = carrier
        self._started: Optional[Started] = None
        self._start_ns = 0
        self._begun = False
        self._done = False

    def __aiter__(self) -> TracedAsyncIterator:
        return self

    async def __anext__(self) -> Any:
        scope = self._scope
        if scope is None:
            return await self._step()
        scope_token = scope.set(self._record)
        try:
            return await self._step()
        finally:
            scope.reset(scope_token)

    async def _step(self) -> Any:
        """One step of the generator, with the records current while it runs (the first step
        starts them, reads the details and sends the trace context, as ``_traced_call`` does)."""
        steps, record = self._steps, self._record
        token = None
        first = False
        if not self._begun and not self._done:
            first = True
            self._begun = True
            self._start_ns = time_ns()
            try:
                self._started = steps.start(record, self._start_ns)
            except Exception as exc:
                report(exc, steps.label)
            if self._started is not None:
                token = self._started[2]  # made current by start itself
                if self._started[1]:
                    try:
                        self._reader.details(record, steps.capture_query, steps.max_length)
                    except Exception as exc:
                        report(exc)
        started = self._started
        if started is not None and token is None and not self._done:
            try:
                token = steps.enter(started[0], started[1], record)
            except Exception as exc:
                report(exc, steps.label)
        if first and started is not None and self._carrier is not None:
            try:
                if self._carrier:  # the application's own trace headers: ours replace them
                    _trace_headers.clear(self._carrier)
                steps.inject(started[0], self._carrier)
            except Exception as exc:
                report(exc, steps.label)
        try:
            item = await self._inner.__anext__()
        except StopAsyncIteration:
            self._exit(token)
            self._finish(None)
            raise
        except BaseException as exc:
            self._exit(token)
            self._finish(exc)
            raise
        self._exit(token)
        try:
            self._reader.item(record, item)
        except Exception as exc:
            report(exc)
        return item

    def _exit(self, token: Any) -> None:
        if self._started is not None and token is not None:
            try:
                self._steps.exit(self._started[0], token)
            except Exception as exc:
                report(exc, self._steps.label)

    def _finish(self, exc: Optional[BaseException]) -> None:
        started = self._started
        if self._done or started is None:
            self._done = True
            return
        self._done = True
        end_ns = time_ns()
        handle, detailed = started[0], started[1]
        if exc is not None:
            try:
                self._reader.error(self._record, exc, detailed)
            except Exception as error:  # a reader that failed must not leave a record open
                report(error)
        try:
            self._steps.end(handle, detailed, None, self._record, None, exc, self._start_ns, end_ns)
        except Exception as error:
            report(error, self._steps.label)

    async def aclose(self) -> None:
        try:
            aclose = getattr(self._inner, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            self._finish(None)

    def __del__(self) -> None:
        # An abandoned generator still ends its records rather than leaving them open.
        if not self._done and self._started is not None:
            self._finish(None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Fanout:
    """Several backends as one: each step loops over them (the last-started ends first), and a
    failing backend never stops the others. Its handle is the list of each backend's own."""

    def __init__(self, backends: Sequence[Backend]) -> None:
        self.backends = tuple(backends)
        #: The order in which backends are asked for the call's trace context (``inject``):
        #: those with ``inject_first`` (Elastic APM), then the rest as configured.
        self._injecting = tuple(
            sorted(
                range(len(self.backends)),
                key=lambda index: not getattr(self.backends[index], "inject_first", False),
            )
        )

    def start(self, record: Record, start_ns: int) -> Optional[Started]:
        """Each backend's ``start``; the tokens of those that made their record current
        already are kept for ``enter``, which the engine always asks of the fan-out."""
        handles: List[Optional[Started]] = []
        started = detailed = False
        for backend in self.backends:
            handle = None
            try:
                handle = backend.start(record, start_ns)
            except Exception as exc:
                report(exc, f"{backend.name} backend")
            if handle is not None:
                started = True
                detailed = detailed or handle[1]
            handles.append(handle)
        return (handles, detailed, None) if started else None

    def enter(self, handles: List[Any], detailed: bool, record: Record) -> List[Any]:
        """Each record made current, but for those whose ``start`` did (their token is kept:
        once only, at the call's first ``enter``; an async generator's later steps enter all)."""
        tokens: List[Any] = []
        for index, (backend, handle) in enumerate(zip(self.backends, handles)):
            token = None
            if handle is not None:
                token = handle[2]
                if token is not None:
                    handles[index] = (handle[0], handle[1], None)
                else:
                    try:
                        token = backend.enter(handle[0], handle[1], record)
                    except Exception as exc:
                        report(exc, f"{backend.name} backend")
            tokens.append(token)
        return tokens

    def inject(self, handles: List[Any], carrier: Carrier) -> bool:
        """One backend's trace context: one trace per request. The first that has a context for
        this call writes all of its headers, asked in ``_injecting`` order: Elastic APM when it
        records the call (its agent's own HTTP instrumentation, when on, writes the same APM
        context), else OpenTelemetry."""
        for index in self._injecting:
            handle, backend = handles[index], self.backends[index]
            if handle is not None:
                try:
                    if backend.inject(handle[0], carrier):
                        return True
                except Exception as exc:
                    report(exc, f"{backend.name} backend")
        return False

    def exit(self, handles: List[Any], tokens: List[Any]) -> None:
        for index in range(len(handles) - 1, -1, -1):
            handle = handles[index]
            if handle is not None and tokens[index] is not None:
                try:
                    self.backends[index].exit(handle[0], tokens[index])
                except Exception as exc:
                    report(exc, f"{self.backends[index].name} backend")

    def end(
        self, handles: List[Any], detailed: bool, tokens: Optional[List[Any]], *outcome: Any
    ) -> None:
        """``outcome``: the record, response, exception and window, as ``Backend.end`` takes them."""
        for index in range(len(handles) - 1, -1, -1):
            handle = handles[index]
            if handle is None:
                continue
            backend = self.backends[index]
            token = tokens[index] if tokens is not None else None
            try:
                backend.end(handle[0], handle[1], token, *outcome)
            except Exception as error:
                report(error, f"{backend.name} backend")


def _steps(backend: Any, capture_query: str, max_length: int) -> _Steps:
    name = getattr(backend, "name", None)
    return _Steps(
        backend.start,
        backend.enter,
        backend.exit,
        backend.inject,
        backend.end,
        capture_query,
        max_length,
        f"{name} backend" if name else "instrumentation",
    )


class Engine:
    """What the active backends make of a call, composed once per set of backends and options.

    ``wants`` and ``call`` are chosen here: with one backend, that backend's own ``wants`` and the
    traced call over its own methods (no fan-out); with several, a call that runs the traced call
    over the one backend that wants it when only one does (OpenTelemetry and Elastic APM both
    installed, no APM transaction), else over all of them.
    """

    __slots__ = (
        "_each",
        "_fanout_call",
        "_fanout_steps",
        "backends",
        "call",
        "capture_query",
        "propagate",
        "query_max_length",
        "steps",
        "wants",
    )

    def __init__(
        self,
        backends: Sequence[Backend],
        capture_query: str = "sanitize",
        query_max_length: int = 2048,
        propagate: bool = False,
    ) -> None:
        self.backends: Tuple[Backend, ...] = tuple(backends)
        #: Clients send the call's trace context with its requests (``propagate_context``).
        self.propagate = propagate
        self.capture_query = capture_query
        self.query_max_length = query_max_length
        #: Each backend's ``wants`` and its own traced call, for calls only it wants.
        self._each = tuple(
            (backend, backend.wants, _traced_call(_steps(backend, capture_query, query_max_length)))
            for backend in self.backends
        )
        fanout = _Fanout(self.backends)
        self._fanout_steps = _steps(fanout, capture_query, query_max_length)
        self._fanout_call = _traced_call(self._fanout_steps)
        self.wants: Callable[[], bool]
        #: ``call(record, reader, awaitable, scope=None, carrier=None)``: the traced call.
        self.call: Callable[..., Awaitable[Any]]
        #: What an async generator's steps run (``iterate``).
        self.steps: _Steps
        if len(self.backends) == 1:
            only = self._each[0]
            self.wants = only[1]
            self.call = only[2]
            self.steps = _steps(only[0], capture_query, query_max_length)
        else:
            self.wants = self._any_wants
            self.call = self._call_some
            self.steps = self._fanout_steps

    def _any_wants(self) -> bool:
        for backend, wants, _ in self._each:
            try:
                if wants():
                    return True
            except Exception as exc:
                report(exc, f"{backend.name} backend")
        return False

    def _call_some(
        self,
        record: Record,
        reader: Reader,
        awaitable: Awaitable[Any],
        scope: Scope = None,
        carrier: Optional[Carrier] = None,
    ) -> Awaitable[Any]:
        """Several backends: the traced call over the one that wants this call, when only one
        does (asking each again costs less than the fan-out's lists); else over all."""
        chosen = None
        for backend, wants, call in self._each:
            try:
                wanted = wants()
            except Exception as exc:
                report(exc, f"{backend.name} backend")
                wanted = False
            if wanted:
                if chosen is not None:
                    return self._fanout_call(record, reader, awaitable, scope, carrier)
                chosen = call
        if chosen is None:
            return self._fanout_call(record, reader, awaitable, scope, carrier)
        return chosen(record, reader, awaitable, scope, carrier)

    def wrapper(
        self,
        read: Callable[[Any, Any, Any], Optional[Record]],
        reader: Reader,
        scope: Scope = None,
        carry: Optional[Callable[[Any, Any], Tuple[Any, Any, Carrier]]] = None,
        untraced: Optional[Callable[[Any], Any]] = None,
    ) -> Callable[..., Any]:
        """The wrapt wrapper of a client method that returns the awaitable its caller awaits.

        ``read(instance, args, kwargs)``: the call's record (``None``: not traced); ``scope``:
        when it already holds a record, the call is part of that one and passes straight
        through; ``carry(args, kwargs)``, with ``propagate_context``: the call's arguments with
        the headers (a new dict, the carrier) its request will send; ``untraced(awaitable)``:
        what to return for a call nothing records, when not its awaitable as it is.
        """
        wants, call = self.wants, self.call
        if not self.propagate:
            carry = None

        def traced(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            if scope is not None and scope.get() is not None:
                return wrapped(*args, **kwargs)
            if not wants():
                if untraced is not None:
                    return untraced(wrapped(*args, **kwargs))
                return wrapped(*args, **kwargs)
            record = carrier = None
            try:
                record = read(instance, args, kwargs)
                if carry is not None and record is not None:
                    args, kwargs, carrier = carry(args, kwargs)
            except Exception as exc:
                report(exc)
                record = None
            if record is None:
                return wrapped(*args, **kwargs)
            return call(record, reader, wrapped(*args, **kwargs), scope, carrier)

        return traced

    def iterate(
        self,
        record: Record,
        reader: Reader,
        inner: Any,
        scope: Scope = None,
        carrier: Optional[Carrier] = None,
    ) -> TracedAsyncIterator:
        """``inner`` (an async generator, not started) traced as one call; ``scope`` holds the
        record while each of its steps runs, and ``carrier`` (as for ``call``) gets the trace
        context once the records started, before the generator's first step runs."""
        return TracedAsyncIterator(self.steps, record, reader, inner, scope=scope, carrier=carrier)
