"""The dispatcher: the one place that knows both clients and backends.

A client wrapper first asks ``Dispatcher.wants()`` (can any backend record anything right now?). When
none can (no SDK, no APM transaction) the wrapper calls the client straight through and builds
nothing. Otherwise it reads the call's identity into a ``Record`` and hands the call, with the
client's ``Reader``, to ``Dispatcher.call`` (a coroutine) or ``TracedAsyncIterator`` (an async
generator such as ``async_scan``). ``call`` is a lone backend's own ``traced_call`` when it has one
(OpenTelemetry: the steps below written in line, the common setup's fast path), else
``traced_call`` here, in which the dispatcher

1. starts one record per active backend (span, APM span), each saying whether it records in
   detail (a recording span) or only the duration metric;
2. tells the reader how much to read: the request's details (query text, batch size) only when a
   backend records in detail, and the same ``detailed`` flag again for the response or error;
3. makes the records current while the client's code runs, and finishes them with the outcome.

Backends only read the record; the client only writes it. All of our work runs inside
``try``/``except Exception`` blocks that report and swallow (one guard per step, so a failing step
never skips the ones after it, and a started record is always finished); the user's call runs
outside them, so its result and exception pass through untouched (same object, same traceback).
Plain ``try`` rather than ``with guard`` on this path: it costs nothing until something raises.
"""

from __future__ import annotations

from contextvars import ContextVar
from functools import partial
from typing import (
    Any,
    AsyncIterator,
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


def _nothing(*args: Any) -> None:
    return None


class Reader(NamedTuple):
    """How a client reads one kind of call into its ``Record``; the dispatcher says how much.

    ``details(record, capture_query, max_length)`` reads the costly request details, and runs only
    when a backend records in detail; ``response(record, response, detailed)`` and
    ``error(record, exc, detailed)`` read the outcome (with ``detailed`` False, only what the
    duration metric needs); ``item(record, item)`` counts what an async generator yields.
    """

    response: Callable[[Record, Any, bool], None]
    error: Callable[[Record, BaseException, bool], None]
    details: Callable[[Record, str, int], None] = _nothing
    item: Callable[[Record, Any], None] = _nothing


class Handle(Protocol):
    """A backend's record of one call. ``detailed``: it shows more than the duration metric."""

    detailed: bool


class Backend(Protocol):
    """Records calls somewhere (OpenTelemetry, Elastic APM). Knows nothing of clients, and only
    reads the ``Record``. It may also have ``traced_call(record, reader, awaitable, scope=None)``:
    the whole of ``traced_call`` below for itself alone, run when it is the only backend."""

    name: str

    def wants(self) -> bool:
        """Whether to record a call now: this backend could record it, and instrumentation is not
        suppressed. Asked before every call, so cheap; must never raise."""

    def ready(self) -> bool:
        """Whether anything is there to record into at all (an SDK provider, an agent client):
        asked at ``instrument()`` and at exit only, to tell a user who would otherwise see nothing."""

    def start(self, record: Record) -> Optional[Handle]:
        """Begin recording ``record``; a handle, or ``None`` when there is nothing to record."""

    def enter(self, handle: Any, record: Record) -> Any:
        """Make the record current for code running inside the call (the request's details are
        read by now); return an exit token."""

    def exit(self, handle: Any, token: Any) -> None:
        """Undo ``enter``."""

    def inject(self, handle: Any, carrier: Dict[str, str]) -> bool:
        """Write the record's trace context into outgoing ``carrier`` headers; False when it has
        none to send (the next backend is asked then)."""

    def finish(
        self, handle: Any, record: Record, response: Any, exc: Optional[BaseException]
    ) -> None:
        """End the record with the call's outcome."""


State = Tuple[List[Any], List[Any], bool]


class Dispatcher:
    """Fans one operation out to every active backend; a failing backend never stops the others."""

    __slots__ = (
        "_fused",
        "_injecting",
        "_only",
        "backends",
        "begin",
        "call",
        "capture_query",
        "end",
        "propagate",
        "query_max_length",
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
        #: How request details are read (``capture_query`` mode, bound of the text).
        self.capture_query = capture_query
        self.query_max_length = query_max_length
        #: Whether to trace a call at all; the clients ask it before building anything. With one
        #: backend (the common case) it is that backend's own ``wants``: no call in between.
        self.wants: Callable[[], bool] = (
            self.backends[0].wants if len(self.backends) == 1 else self._any_wants
        )
        #: The order in which backends are asked for the call's trace context (``inject``):
        #: those with ``inject_first`` (Elastic APM), then the rest as configured.
        self._injecting: Tuple[int, ...] = tuple(
            sorted(
                range(len(self.backends)),
                key=lambda index: not getattr(self.backends[index], "inject_first", False),
            )
        )
        #: ``begin`` / ``end`` of a traced call: with one backend, straight calls into it (no
        #: lists of handles and tokens, no loops); the state each returns is its own.
        self._only: Optional[Backend] = self.backends[0] if len(self.backends) == 1 else None
        self.begin: Callable[[Record, Reader], Any] = (
            self._begin_one if self._only is not None else self._begin_all
        )
        self.end: Callable[[Any, Record, Reader, Any, Optional[BaseException]], None] = (
            self._end_one if self._only is not None else self._end_all
        )
        #: ``call(record, reader, awaitable, scope=None)``: the traced call a client returns. A
        #: lone backend that has a ``traced_call`` of its own (the whole call written in line)
        #: runs it; otherwise ``traced_call`` below runs ``begin`` and ``end``.
        fused = getattr(self._only, "traced_call", None)
        self.call: Callable[..., Awaitable[Any]] = (
            fused if fused is not None else partial(traced_call, self)
        )
        #: With several backends: each one's own ``traced_call`` (or ``None``), for the calls that
        #: only it wants (OpenTelemetry and Elastic APM both installed, no APM transaction).
        self._fused: Tuple[Optional[Callable[..., Awaitable[Any]]], ...] = tuple(
            getattr(backend, "traced_call", None) for backend in self.backends
        )
        if self._only is None and any(call is not None for call in self._fused):
            self.call = self._call_some

    def _any_wants(self) -> bool:
        for backend in self.backends:
            try:
                if backend.wants():
                    return True
            except Exception as exc:
                report(exc, f"{backend.name} backend")
        return False

    def _call_some(
        self,
        record: Record,
        reader: Reader,
        awaitable: Awaitable[Any],
        scope: Optional[ContextVar[Optional[Record]]] = None,
    ) -> Awaitable[Any]:
        """Several backends: when exactly one wants this call and has a ``traced_call`` of its own,
        that runs it alone (asking each backend again costs less than the general path's lists);
        otherwise ``traced_call`` below, with every backend."""
        only = None
        for index, backend in enumerate(self.backends):
            try:
                wanted = backend.wants()
            except Exception as exc:
                report(exc, f"{backend.name} backend")
                wanted = False
            if wanted:
                if only is not None:
                    return traced_call(self, record, reader, awaitable, scope)
                only = index
        fused = self._fused[only] if only is not None else None
        if fused is None:
            return traced_call(self, record, reader, awaitable, scope)
        return fused(record, reader, awaitable, scope)

    def _begin_one(self, record: Record, reader: Reader) -> Optional[Tuple[Any, Any, bool]]:
        """``_begin_all`` for one backend: its handle, token and detail level, or ``None``."""
        backend: Any = self._only
        try:
            handle = backend.start(record)
        except Exception as exc:
            report(exc, f"{backend.name} backend")
            return None
        if handle is None:
            return None
        detailed = handle.detailed
        if detailed:
            try:
                reader.details(record, self.capture_query, self.query_max_length)
            except Exception as exc:
                report(exc)
        token = None
        try:
            token = backend.enter(handle, record)
            if record.carrier is not None:
                if record.carrier:
                    _trace_headers.clear(record.carrier)
                backend.inject(handle, record.carrier)
        except Exception as exc:
            report(exc, f"{backend.name} backend")
        return handle, token, detailed

    def _end_one(
        self,
        state: Tuple[Any, Any, bool],
        record: Record,
        reader: Reader,
        response: Any,
        exc: Optional[BaseException],
    ) -> None:
        """``_end_all`` for one backend."""
        backend: Any = self._only
        handle, token, detailed = state
        try:
            backend.exit(handle, token)
        except Exception as error:
            report(error, f"{backend.name} backend")
        try:
            if exc is None:
                reader.response(record, response, detailed)
            else:
                reader.error(record, exc, detailed)
        except Exception as error:  # a reader that failed must not leave the record open
            report(error)
        try:
            backend.finish(handle, record, response, exc)
        except Exception as error:
            report(error, f"{backend.name} backend")

    def _begin_all(self, record: Record, reader: Reader) -> Optional[State]:
        """``start`` then ``enter``: handles, tokens and the detail level, or ``None``."""
        started = self.start(record, reader)
        if started is None:
            return None
        handles, detailed = started
        tokens = self.enter(handles, record)
        if record.carrier is not None:
            self.inject(handles, record.carrier)
        return handles, tokens, detailed

    def start(self, record: Record, reader: Reader) -> Optional[Tuple[List[Any], bool]]:
        """One handle per backend and whether any records in detail (then the request's details
        are read), or ``None`` when no backend records this call."""
        handles: List[Any] = []
        started = detailed = False
        for backend in self.backends:
            handle = None
            try:
                handle = backend.start(record)
            except Exception as exc:
                report(exc, f"{backend.name} backend")
            if handle is not None:
                started = True
                if handle.detailed:
                    detailed = True
            handles.append(handle)
        if not started:
            return None
        if detailed:
            try:
                reader.details(record, self.capture_query, self.query_max_length)
            except Exception as exc:
                report(exc)
        return handles, detailed

    def enter(self, handles: List[Any], record: Record) -> List[Any]:
        tokens: List[Any] = []
        for backend, handle in zip(self.backends, handles):
            token = None
            if handle is not None:
                try:
                    token = backend.enter(handle, record)
                except Exception as exc:
                    report(exc, f"{backend.name} backend")
            tokens.append(token)
        return tokens

    def inject(self, handles: List[Any], carrier: Dict[str, str]) -> None:
        """One backend's trace context into ``carrier``: one trace per request.

        The trace-context headers already in ``carrier`` (the application's own) are removed, then
        the backends are asked in ``_injecting`` order and the first that has a context for this
        call writes all of them: Elastic APM when it records the call (its agent's own HTTP
        instrumentation, when on, writes the same APM context), else OpenTelemetry."""
        try:
            if carrier:
                _trace_headers.clear(carrier)
        except Exception as exc:
            report(exc)
        for index in self._injecting:
            handle = handles[index]
            if handle is not None:
                backend = self.backends[index]
                try:
                    if backend.inject(handle, carrier):
                        return
                except Exception as exc:
                    report(exc, f"{backend.name} backend")

    def exit(self, handles: List[Any], tokens: List[Any]) -> None:
        for index in range(len(handles) - 1, -1, -1):
            if handles[index] is not None:
                try:
                    self.backends[index].exit(handles[index], tokens[index])
                except Exception as exc:
                    report(exc, f"{self.backends[index].name} backend")

    def finish(
        self, handles: List[Any], record: Record, response: Any, exc: Optional[BaseException]
    ) -> None:
        for index in range(len(handles) - 1, -1, -1):
            if handles[index] is not None:
                try:
                    self.backends[index].finish(handles[index], record, response, exc)
                except Exception as error:
                    report(error, f"{self.backends[index].name} backend")

    def _end_all(
        self,
        state: State,
        record: Record,
        reader: Reader,
        response: Any,
        exc: Optional[BaseException],
    ) -> None:
        """After the call: leave its context, read its outcome, finish every record."""
        handles, tokens, detailed = state
        self.exit(handles, tokens)
        try:
            if exc is None:
                reader.response(record, response, detailed)
            else:
                reader.error(record, exc, detailed)
        except Exception as error:  # a reader that failed must not leave the records open
            report(error)
        self.finish(handles, record, response, exc)


async def traced_call(
    dispatcher: Dispatcher,
    record: Record,
    reader: Reader,
    awaitable: Awaitable[Any],
    scope: Optional[ContextVar[Optional[Record]]] = None,
) -> Any:
    """Await ``awaitable`` (the client's call, not yet started) as ``record``: one backend record
    each, current while the call runs. ``scope``, when given, holds ``record`` for the call's
    duration (how a client module recognises, further down, the calls that belong to it)."""
    token = scope.set(record) if scope is not None else None
    try:
        state = None
        try:
            state = dispatcher.begin(record, reader)
        except Exception as exc:
            report(exc)
        try:
            response = await awaitable
        except BaseException as exc:
            if state is not None:
                dispatcher.end(state, record, reader, None, exc)
            raise
        if state is not None:
            dispatcher.end(state, record, reader, response, None)
        return response
    finally:
        if token is not None:
            scope.reset(token)  # type: ignore[union-attr]


class TracedAsyncIterator:
    """An async generator traced as one call from its first step to its end.

    The records are current only while the generator itself runs (inside each ``__anext__``), never
    in the consumer's loop body between steps.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        record: Record,
        reader: Reader,
        inner: AsyncIterator[Any],
    ) -> None:
        self._dispatcher = dispatcher
        self._record = record
        self._reader = reader
        self._inner = inner
        self._handles: Optional[List[Any]] = None
        self._detailed = False
        self._started = False
        self._done = False

    def __aiter__(self) -> TracedAsyncIterator:
        return self

    async def __anext__(self) -> Any:
        tokens: Optional[List[Any]] = None
        try:
            if not self._started and not self._done:
                self._started = True
                started = self._dispatcher.start(self._record, self._reader)
                if started is not None:
                    self._handles, self._detailed = started
            if self._handles is not None and not self._done:
                tokens = self._dispatcher.enter(self._handles, self._record)
        except Exception as exc:
            report(exc)
        try:
            item = await self._inner.__anext__()
        except StopAsyncIteration:
            self._exit(tokens)
            self._finish(None)
            raise
        except BaseException as exc:
            self._exit(tokens)
            self._finish(exc)
            raise
        self._exit(tokens)
        try:
            self._reader.item(self._record, item)
        except Exception as exc:
            report(exc)
        return item

    def _exit(self, tokens: Optional[List[Any]]) -> None:
        if self._handles is not None and tokens is not None:
            self._dispatcher.exit(self._handles, tokens)

    def _finish(self, exc: Optional[BaseException]) -> None:
        if self._done or self._handles is None:
            self._done = True
            return
        self._done = True
        if exc is not None:
            try:
                self._reader.error(self._record, exc, self._detailed)
            except Exception as error:  # a reader that failed must not leave the records open
                report(error)
        self._dispatcher.finish(self._handles, self._record, None, exc)

    async def aclose(self) -> None:
        try:
            aclose = getattr(self._inner, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            self._finish(None)

    def __del__(self) -> None:
        # An abandoned generator still ends its records rather than leaving them open.
        if not self._done and self._handles is not None:
            self._finish(None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
