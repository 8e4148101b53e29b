"""The dispatcher: the one place that knows both clients and backends.

A client wrapper builds an ``Operation`` and hands the call to ``traced_call`` (a coroutine) or
``TracedAsyncIterator`` (an async generator such as ``async_scan``). They start one record per active
backend, make it current while the client's code runs, read the outcome back into the operation and
finish every record. All of our work runs inside ``guard``; the user's call runs outside it, so its
result and exception pass through untouched (same object, same traceback).
"""

from __future__ import annotations

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

from instrumentation._guard import guard, report
from instrumentation._operation import Operation

OnResponse = Callable[[Operation, Any], None]
OnError = Callable[[Operation, BaseException], None]


class Backend(Protocol):
    """Records operations somewhere (OpenTelemetry, Elastic APM). Knows nothing of clients."""

    name: str

    def start(self, op: Operation) -> Any:
        """Begin recording ``op``; return a handle (or ``None`` when there is nothing to record)."""

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

    __slots__ = ("backends",)

    def __init__(self, backends: Sequence[Backend]) -> None:
        self.backends: Tuple[Backend, ...] = tuple(backends)

    def start(self, op: Operation) -> List[Any]:
        handles: List[Any] = []
        for backend in self.backends:
            try:
                handles.append(backend.start(op))
            except Exception as exc:
                report(exc, f"{backend.name} backend")
                handles.append(None)
        return handles

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


async def traced_call(
    dispatcher: Dispatcher,
    op: Operation,
    call: Callable[[], Awaitable[Any]],
    on_response: OnResponse,
    on_error: OnError,
) -> Any:
    """Run ``call()`` as ``op``: one record per backend, current while the call runs."""
    handles: List[Any] = []
    tokens: List[Any] = []
    with guard:
        handles = dispatcher.start(op)
        tokens = dispatcher.enter(handles)
    try:
        response = await call()
    except BaseException as exc:
        with guard:
            dispatcher.exit(handles, tokens)
        with guard:
            on_error(op, exc)
        with guard:  # a reader that failed must not leave the records open
            dispatcher.finish(handles, op, None, exc)
        raise
    with guard:
        dispatcher.exit(handles, tokens)
    with guard:
        on_response(op, response)
    with guard:
        dispatcher.finish(handles, op, response, None)
    return response


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
        self._done = False

    def __aiter__(self) -> TracedAsyncIterator:
        return self

    async def __anext__(self) -> Any:
        tokens: List[Any] = []
        with guard:
            if self._handles is None and not self._done:
                self._handles = self._dispatcher.start(self._op)
            if self._handles is not None and not self._done:
                tokens = self._dispatcher.enter(self._handles)
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
        with guard:
            self._on_item(self._op, item)
        return item

    def _exit(self, tokens: List[Any]) -> None:
        with guard:
            if self._handles is not None and tokens:
                self._dispatcher.exit(self._handles, tokens)

    def _finish(self, exc: Optional[BaseException]) -> None:
        if self._done or self._handles is None:
            self._done = True
            return
        self._done = True
        if exc is not None:
            with guard:
                self._on_error(self._op, exc)
        with guard:  # a reader that failed must not leave the records open
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
