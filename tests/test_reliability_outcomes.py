"""Tools for the differential reliability tests, and the tests that prove the tools can fail.

A differential test runs one scenario without instrumentation and with it, each time with a fresh
client, and asserts that the application saw the *same outcome*: the same return value, or an
exception of the same type with the same message, arguments, attributes and cause chain.
``picture`` turns a value or exception into plain comparable data for that; it ignores only what
differs between two identical calls anyway (timings and ``Date`` headers), and a caller may mask
strings it knows to vary (a port that changes between runs).

``SpanAudit`` watches a ``TracerProvider``: every span started, every ``end()`` call. It proves a
span ended exactly once and that none was left open, which the exporter alone cannot show (a span
ended twice is exported once; a span never ended is never exported).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import difflib
import enum
import pprint
import re
import threading
import uuid
from collections import Counter
from typing import Any, Awaitable, Callable, Dict, Iterator, List, Mapping, Optional, Set, Tuple

import pytest
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.trace import StatusCode

from tests.conftest import duration_points

#: Keys whose values differ between two identical calls: timings and the HTTP Date header.
VOLATILE_KEYS = frozenset({"date", "duration", "elapsed_seconds", "took"})
_MAX_DEPTH = 14

Mask = Callable[[str], str]
#: Object addresses in reprs and messages ("<... at 0x7f...>", anyio's "cancel scope 7f...").
_ADDRESS = re.compile(r"(0x|cancel scope )[0-9a-f]{6,}")
#: gRPC core prints a status's fields from a hash map: ``{grpc_status:14, grpc_message:"..."}``
#: and ``{grpc_message:"...", grpc_status:14}`` are the same error.
_GRPC_FIELDS = re.compile(r'\{((?:grpc_[a-z_]+:(?:"(?:[^"\\]|\\.)*"|[^,}"]*)(?:, )?)+)\}')
_GRPC_FIELD = re.compile(r'grpc_[a-z_]+:(?:"(?:[^"\\]|\\.)*"|[^,}"]*)')


def _sorted_grpc_fields(match: re.Match[str]) -> str:
    return "{" + ", ".join(sorted(_GRPC_FIELD.findall(match.group(1)))) + "}"


def normalise(text: str) -> str:
    """Take out what differs between two identical calls: object addresses, gRPC field order."""
    return _GRPC_FIELDS.sub(_sorted_grpc_fields, _ADDRESS.sub(r"\1<address>", text))


def _no_mask(text: str) -> str:
    return text


def picture(value: Any, mask: Mask = _no_mask) -> Any:
    """Plain, comparable (and readable on failure) data describing ``value``."""
    return _picture(value, mask, 0, set())


def _picture(value: Any, mask: Mask, depth: int, path: Set[int]) -> Any:
    if depth > _MAX_DEPTH:
        return "<deep>"
    if value is None or isinstance(value, (bool, float)):
        return value
    if isinstance(value, int):
        masked = mask(str(value))
        return value if masked == str(value) else masked
    if isinstance(value, str):
        return normalise(mask(value))
    if isinstance(value, (bytes, bytearray)):
        return _picture(bytes(value).decode("utf-8", errors="backslashreplace"), mask, depth, path)
    if isinstance(value, enum.Enum):
        return f"{type(value).__qualname__}.{value.name}"
    if isinstance(value, uuid.UUID):
        return f"{type(value).__qualname__}({value})"
    marker = id(value)
    if marker in path:
        return "<cycle>"
    path = path | {marker}
    nxt = depth + 1
    if isinstance(value, BaseException):
        return {
            "exception": f"{type(value).__module__}.{type(value).__qualname__}",
            "str": _picture(str(value), mask, nxt, path),
            "args": _picture(value.args, mask, nxt, path),
            "attributes": _picture(_attributes(value), mask, nxt, path),
            "cause": _picture(value.__cause__, mask, nxt, path),
            "context": _picture(value.__context__, mask, nxt, path),
        }
    if isinstance(value, Mapping):
        return {
            _picture(str(key), mask, nxt, path): _picture(item, mask, nxt, path)
            for key, item in value.items()
            if str(key).lower() not in VOLATILE_KEYS
        }
    if isinstance(value, (list, tuple)):
        return [_picture(item, mask, nxt, path) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted(repr(_picture(item, mask, nxt, path)) for item in value)
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    if hasattr(value, "body") and hasattr(value, "meta"):  # elastic_transport API responses
        fields = {"body": value.body, "meta": value.meta}
        return {kind: _picture(fields, mask, nxt, path)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
        return {kind: _picture(fields, mask, nxt, path)}
    attributes = _attributes(value)
    if attributes:
        return {kind: _picture(attributes, mask, nxt, path)}
    return {kind: _picture(repr(value), mask, nxt, path)}


def _attributes(value: Any) -> Dict[str, Any]:
    found: Dict[str, Any] = {}
    for name, item in getattr(value, "__dict__", {}).items():
        if name not in ("__traceback__", "_elastic_apm_span_id"):
            found[name] = item
    for cls in type(value).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if name not in found and not name.startswith("__") and hasattr(value, name):
                found[name] = getattr(value, name)
    return {name: found[name] for name in sorted(found)}


class Outcome:
    """What the application saw: a value, or an exception (``raised``)."""

    def __init__(self, raised: bool, value: Any, mask: Mask = _no_mask) -> None:
        self.raised = raised
        self.value = value
        self.picture = {"raised" if raised else "returned": picture(value, mask)}

    def __repr__(self) -> str:
        return f"Outcome({self.picture!r})"


async def outcome_of(call: Callable[[], Awaitable[Any]], mask: Mask = _no_mask) -> Outcome:
    """Await ``call()`` and keep what came out, including ``CancelledError`` and timeouts."""
    try:
        value = await call()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        return Outcome(True, exc, mask)
    return Outcome(False, value, mask)


def assert_same_outcome(plain: Outcome, traced: Outcome) -> None:
    if traced.picture != plain.picture:  # pytest truncates nested diffs: print the whole one
        before = pprint.pformat(plain.picture, width=100).splitlines()
        after = pprint.pformat(traced.picture, width=100).splitlines()
        print("\n".join(difflib.unified_diff(before, after, "plain", "traced", lineterm="")))
    assert traced.picture == plain.picture


async def within(seconds: float, awaitable: Awaitable[Any]) -> Any:
    """``asyncio.timeout`` (Python 3.11+), else ``asyncio.wait_for``: the application's deadline."""
    timeout = getattr(asyncio, "timeout", None)
    if timeout is None:  # pragma: no cover - Python < 3.11
        return await asyncio.wait_for(awaitable, seconds)
    async with timeout(seconds):
        return await awaitable


async def cancel_when(event: asyncio.Event, awaitable: Awaitable[Any]) -> Any:
    """Run ``awaitable`` as a task and cancel it once ``event`` is set (the call is in flight)."""
    task = asyncio.ensure_future(awaitable)
    waiter = asyncio.ensure_future(event.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    task.cancel()
    return await task


class Arrivals(list):  # type: ignore[type-arg]
    """A stand-in's request log that also wakes the test when a request arrives.

    The stand-ins append every request they receive to a list (``requests``, ``grpc_requests``,
    ``rest_requests``), possibly from another thread; swapping that list for this one lets a test
    *await* "the call is now in flight" instead of sleeping for it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, keep: Any = ()) -> None:
        super().__init__(keep)
        self._loop = loop
        self.arrived = asyncio.Event()

    def append(self, item: Any) -> None:
        super().append(item)
        try:
            self._loop.call_soon_threadsafe(self.arrived.set)
        except RuntimeError:  # the test's loop is closed: nobody is waiting any more
            pass

    def rearm(self) -> asyncio.Event:
        self.arrived = asyncio.Event()
        return self.arrived


class _Ledger(SpanProcessor):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: Dict[int, str] = {}
        self.started = 0

    def on_start(self, span: Span, parent_context: Any = None) -> None:
        with self.lock:
            self.started += 1
            self.open[span.context.span_id] = span.name

    def on_end(self, span: ReadableSpan) -> None:
        with self.lock:
            assert span.context is not None
            self.open.pop(span.context.span_id, None)


class SpanAudit:
    """Counts ``end()`` calls per span and the spans still open, on one provider."""

    def __init__(self, provider: TracerProvider, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ends: Counter[int] = Counter()
        self.ledger = _Ledger()
        provider.add_span_processor(self.ledger)
        original = Span.end
        ends = self.ends

        def counting_end(span: Span, end_time: Optional[int] = None) -> None:
            ends[span.context.span_id] += 1
            original(span, end_time)

        monkeypatch.setattr(Span, "end", counting_end)

    def reset(self) -> None:
        self.ends.clear()

    def assert_all_ended_once(self) -> None:
        assert self.ledger.open == {}, f"spans left open: {self.ledger.open}"
        twice = {span_id: n for span_id, n in self.ends.items() if n != 1}
        assert twice == {}, f"spans ended more than once: {twice}"


def status_of(span: ReadableSpan) -> Optional[str]:
    """``None`` for a successful span, else its ``error.type`` (asserting the status agrees)."""
    error_type = (span.attributes or {}).get("error.type")
    if span.status.status_code is StatusCode.ERROR:
        assert error_type is not None, f"{span.name}: ERROR without error.type"
        assert span.status.description, f"{span.name}: ERROR without a reason"
        return str(error_type)
    assert span.status.status_code is StatusCode.UNSET, span.status
    assert error_type is None, f"{span.name}: error.type {error_type!r} on a successful span"
    return None


class ApmRecorder:
    """The Elastic APM side of a traced run: a real agent client sending to the loopback intake.

    ``transaction()`` wraps the application's call in a sampled transaction; ``spans()`` flushes the
    agent and returns what the intake received since the last call, checking that no span arrived
    twice (the agent sends a span once per ``end()``: a second end would be a second event).
    """

    def __init__(self, client: Any, intake: Any) -> None:
        self.client = client
        self.intake = intake

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.intake.reset()
        self.client.begin_transaction("request")
        try:
            yield
        finally:
            self.client.end_transaction("GET /reliability", "HTTP 2xx")

    async def spans(self) -> List[Dict[str, Any]]:
        await self.intake.flush(self.client)
        spans = list(self.intake.spans)
        ids = [span["id"] for span in spans]
        assert len(ids) == len(set(ids)), f"an APM span was sent twice: {self.intake.describe()}"
        return spans


class Traced:
    """What the instrumented run left: OpenTelemetry spans and, with an agent, APM spans."""

    def __init__(self) -> None:
        self.spans: List[Any] = []
        self.apm_spans: List[Dict[str, Any]] = []


def apm_outcomes(spans: List[Dict[str, Any]]) -> List[Tuple[str, str]]:
    """(name, outcome) of each APM span, sorted."""
    return sorted((span["name"], span["outcome"]) for span in spans)


def expected_apm_outcomes(spans: Any) -> List[Tuple[str, str]]:
    """The APM (name, outcome) pairs that match (span name, error.type or None) pairs."""
    return sorted((name, "success" if error is None else "failure") for name, error in spans)


#: The duration metric's data points (one shared reader of them, in conftest).
metric_points = duration_points


# -- the tools can fail ---------------------------------------------------------------------------
class _Boom(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


async def _returning(value: Any) -> Any:
    return value


async def _raising(exc: BaseException) -> Any:
    raise exc


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (lambda: _returning({"hits": [1]}), lambda: _returning({"hits": [2]})),
        (lambda: _returning(1), lambda: _raising(_Boom("x", 1))),
        (lambda: _raising(_Boom("x", 1)), lambda: _raising(_Boom("y", 1))),
        (lambda: _raising(_Boom("x", 1)), lambda: _raising(_Boom("x", 2))),
        (lambda: _raising(_Boom("x", 1)), lambda: _raising(ValueError("x"))),
        (lambda: _raising(KeyError("x")), lambda: _raising(LookupError("x"))),
    ],
)
async def test_a_changed_value_message_attribute_or_type_is_a_different_outcome(
    left: Any, right: Any
) -> None:
    assert (await outcome_of(left)).picture != (await outcome_of(right)).picture


async def test_a_changed_cause_is_a_different_outcome() -> None:
    def chained(cause: BaseException) -> BaseException:
        exc = _Boom("x", 1)
        exc.__cause__ = cause
        return exc

    one = await outcome_of(lambda: _raising(chained(ValueError("a"))))
    other = await outcome_of(lambda: _raising(chained(ValueError("b"))))
    assert one.picture != other.picture


async def test_only_timings_dates_and_object_addresses_are_ignored() -> None:
    one = await outcome_of(lambda: _returning({"took": 3, "Date": "Mon", "at": "<x at 0x7f00aa>"}))
    other = await outcome_of(
        lambda: _returning({"took": 9, "Date": "Tue", "at": "<x at 0x7f00bb>"})
    )
    assert one.picture == other.picture
    changed = await outcome_of(lambda: _returning({"took": 9, "Date": "Tue", "at": "<y at 0x7f>"}))
    assert changed.picture != one.picture


def test_grpc_status_fields_compare_in_any_order_but_not_with_other_values() -> None:
    one = 'peer {grpc_status:14, grpc_message:"gone, really"}'
    other = 'peer {grpc_message:"gone, really", grpc_status:14}'
    assert normalise(one) == normalise(other)
    assert normalise(one) != normalise('peer {grpc_message:"gone, really", grpc_status:4}')


async def test_cancellation_and_timeouts_are_outcomes() -> None:
    never, in_flight = asyncio.Event(), asyncio.Event()
    in_flight.set()
    cancelled = await outcome_of(lambda: cancel_when(in_flight, never.wait()))
    assert cancelled.raised and isinstance(cancelled.value, asyncio.CancelledError)
    timed_out = await outcome_of(lambda: within(0.01, never.wait()))
    assert timed_out.raised and isinstance(timed_out.value, asyncio.TimeoutError)


def test_span_audit_sees_a_double_end_and_an_open_span(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = TracerProvider()
    audit = SpanAudit(provider, monkeypatch)
    tracer = provider.get_tracer("t")
    twice = tracer.start_span("twice")
    twice.end()
    twice.end()
    with pytest.raises(AssertionError, match="more than once"):
        audit.assert_all_ended_once()
    audit.reset()
    tracer.start_span("left open")
    with pytest.raises(AssertionError, match="left open"):
        audit.assert_all_ended_once()
