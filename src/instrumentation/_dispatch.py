"""The dispatcher: the one place that knows both clients and backends.

A client wrapper first asks ``Dispatcher.wants()`` (can any backend record anything right now?). When
none can (no SDK, no APM transaction) the wrapper calls the client straight through and builds
nothing. Otherwise it builds an ``Operation`` and hands the call to ``traced_call`` (a coroutine) or
``TracedAsyncIterator`` (an async generator such as ``async_scan``). They start one record per active
backend, make it current while the client's code runs, read the outcome back into the operation and
finish every record.

All of our work runs inside ``try``/``except Exception`` blocks that report and swallow (one guard
per step, so a failing step never skips the ones after it, and a started record is always
finished); the user's call runs outside them, so its result and exception pass through untouched
(same object, same traceback). Plain ``try`` rather than ``with guard`` on this path: it costs
nothing until something raises.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    List,
    Optional,
    Protocol,
    Sequence,
    Tuple,
)

from instrumentation._guard import report
from instrumentation._operation import Operation

try:  # the context keys behind ``suppress_instrumentation``, read directly: see ``suppressed``
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
    from opentelemetry.context import get_current as _current_context
    from opentelemetry.instrumentation.utils import _SUPPRESS_INSTRUMENTATION_KEY_PLAIN

    def suppressed() -> bool:
        """``not is_instrumentation_enabled()``, in one context lookup instead of four calls."""
        current = _current_context()
        return bool(
            current.get(_SUPPRESS_INSTRUMENTATION_KEY)
            or current.get(_SUPPRESS_INSTRUMENTATION_KEY_PLAIN)
        )

except ImportError:  # pragma: no cover - versions that moved them: the public, slower check
    from opentelemetry.instrumentation.utils import is_instrumentation_enabled

    def suppressed() -> bool:
        return not is_instrumentation_enabled()


OnResponse = Callable[[Operation, Any], None]
OnError = Callable[[Operation, BaseException], None]


class Backend(Protocol):
    """Records operations somewhere (OpenTelemetry, Elastic APM). Knows nothing of clients."""

    name: str

    def wants(self) -> bool:
        """Whether to record a call now: this backend could record it, and instrumentation is not
        suppressed (``suppressed()``). Asked before every call, so cheap; must never raise."""

    def start(self, op: Operation) -> Any:
        """Begin recording ``op``; return a handle, or ``None`` when there is nothing to record.

        A backend that will record more than the metric sets ``op.detailed``.
        """

    def enter(self, handle: Any) -> Any:
        """Make the record current for code running inside the call; return an exit token."""

    def exit(self, handle: Any, token: Any) -> None:
        """Undo ``enter``."""

    def finish(
        self, handle: Any, op: Operation, response: Any, exc: Optional[BaseException]
    ) -> None:
        """End the record with the operation's outcome."""


class Dispatcher:
    """Fans one operation out to every active backend; a failing backend never stops the others."""

    __slots__ = ("backends", "wants")

    def __init__(self, backends: Sequence[Backend]) -> None:
        self.backends: Tuple[Backend, ...] = tuple(backends)
        #: Whether to trace a call at all; the clients ask it before building anything. With one
        #: backend (the common case) it is that backend's own ``wants``: no call in between.
        self.wants: Callable[[], bool] = (
            self.backends[0].wants if len(self.backends) == 1 else self._any_wants
        )

    def _any_wants(self) -> bool:
        for backend in self.backends:
            try:
                if backend.wants():
                    return True
            except Exception as exc:
                report(exc, f"{backend.name} backend")
        return False

    def begin(self, op: Operation) -> Optional[Tuple[List[Any], List[Any]]]:
        """``start`` then ``enter``: the handles and tokens, or ``None`` when nothing records."""
        handles = self.start(op)
        if handles is None:
            return None
        return handles, self.enter(handles)

    def start(self, op: Operation) -> Optional[List[Any]]:
        """One handle per backend, or ``None`` when no backend records this operation."""
        handles: List[Any] = []
        started = False
        for backend in self.backends:
            handle = None
            try:
                handle = backend.start(op)
            except Exception as exc:
                report(exc, f"{backend.name} backend")
            if handle is not None:
                started = True
            handles.append(handle)
        return handles if started else None

    def enter(self, handles: List[Any]) -> List[Any]:
        tokens: List[Any] = []
        for backend, handle in zip(self.backends, handles):
            token = None
            if handle is not None:
                try:
                    token = backend.enter(handle)
                except Exception as exc:
                    report(exc, f"{backend.name} backend")
            tokens.append(token)
        return tokens

    def exit(self, handles: List[Any], tokens: List[Any]) -> None:
        for index in range(len(handles) - 1, -1, -1):
            if handles[index] is not None:
                try:
                    self.backends[index].exit(handles[index], tokens[index])
                except Exception as exc:
                    report(exc, f"{self.backends[index].name} backend")

    def finish(
        self, handles: List[Any], op: Operation, response: Any, exc: Optional[BaseException]
    ) -> None:
        for index in range(len(handles) - 1, -1, -1):
            if handles[index] is not None:
                try:
                    self.backends[index].finish(handles[index], op, response, exc)
                except Exception as error:
                    report(error, f"{self.backends[index].name} backend")

    def end(
        self,
        state: Tuple[List[Any], List[Any]],
        op: Operation,
        response: Any,
        exc: Optional[BaseException],
        on_response: OnResponse,
        on_error: OnError,
    ) -> None:
        """After the call: leave its context, read its outcome, finish every record."""
        handles, tokens = state
        self.exit(handles, tokens)
        try:
            if exc is None:
                on_response(op, response)
            else:
                on_error(op, exc)
        except Exception as error:  # a reader that failed must not leave the records open
            report(error)
        self.finish(handles, op, response, exc)


async def traced_call(
    dispatcher: Dispatcher,
    op: Operation,
    awaitable: Awaitable[Any],
    on_response: OnResponse,
    on_error: OnError,
    scope: Optional[ContextVar[Optional[Operation]]] = None,
) -> Any:
    """Await ``awaitable`` (the client's call, not yet started) as ``op``: one record per backend,
    current while the call runs. ``scope``, when given, holds ``op`` for the call's duration (how
    a client module recognises, further down, the calls that belong to it)."""
    token = scope.set(op) if scope is not None else None
    try:
        state = None
        try:
            state = dispatcher.begin(op)
        except Exception as exc:
            report(exc)
        try:
            response = await awaitable
        except BaseException as exc:
            if state is not None:
                dispatcher.end(state, op, None, exc, on_response, on_error)
            raise
        if state is not None:
            dispatcher.end(state, op, response, None, on_response, on_error)
        return response
    finally:
        if token is not None:
            scope.reset(token)  # type: ignore[union-attr]


class TracedAsyncIterator:
    """An async generator traced as one operation from its first step to its end.

    The records are current only while the generator itself runs (inside each ``__anext__``), never
    in the consumer's loop body between steps.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        op: Operation,
        inner: AsyncIterator[Any],
        on_item: Callable[[Operation, Any], None],
        on_error: OnError,
    ) -> None:
        self._dispatcher = dispatcher
        self._op = op
        self._inner = inner
        self._on_item = on_item
        self._on_error = on_error
        self._handles: Optional[List[Any]] = None
        self._started = False
        self._done = False

    def __aiter__(self) -> TracedAsyncIterator:
        return self

    async def __anext__(self) -> Any:
        tokens: Optional[List[Any]] = None
        try:
            if not self._started and not self._done:
                self._started = True
                self._handles = self._dispatcher.start(self._op)
            if self._handles is not None and not self._done:
                tokens = self._dispatcher.enter(self._handles)
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
            self._on_item(self._op, item)
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
                self._on_error(self._op, exc)
            except Exception as error:  # a reader that failed must not leave the records open
                report(error)
        self._dispatcher.finish(self._handles, self._op, None, exc)

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
