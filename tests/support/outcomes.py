"""What the application saw, as comparable data: the heart of the differential tests.

A differential test runs one scenario without instrumentation and with it, each time with a fresh
client, and asserts that the application saw the *same outcome*: the same return value, or an
exception of the same type with the same message, arguments, attributes and cause chain.
``picture`` turns a value or exception into plain comparable data for that; it ignores only what
differs between two identical calls anyway (timings and ``Date`` headers), and a caller may mask
strings it knows to vary (a port that changes between runs). ``tests/support/test_outcomes.py``
shows the comparison can fail.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import pprint
import re
import uuid
from typing import Any, Awaitable, Callable, Dict, Mapping, Set

#: Keys whose values differ between two identical calls: timings and the HTTP Date header, and
#: the Content-Length of a body holding a timing (``took`` 9 or 10 ms; the body itself is compared).
VOLATILE_KEYS = frozenset({"content-length", "date", "duration", "elapsed_seconds", "took"})
_MAX_DEPTH = 14

Mask = Callable[[str], str]
#: Object addresses in reprs and messages ("<... at 0x7f...>", anyio's "cancel scope 7f...").
_ADDRESS = re.compile(r"(0x|cancel scope )[0-9a-f]{6,}")
#: Older gRPC cores (before 1.67) add when the error was made: ``created_time:"2026-...+00:00"``.
_GRPC_CREATED = re.compile(r'created_time:"[^"]*"(, )?|, created_time:"[^"]*"')
#: gRPC core prints a status's fields from a hash map: ``{grpc_status:14, grpc_message:"..."}``
#: and ``{grpc_message:"...", grpc_status:14}`` are the same error.
_GRPC_FIELDS = re.compile(r'\{((?:grpc_[a-z_]+:(?:"(?:[^"\\]|\\.)*"|[^,}"]*)(?:, )?)+)\}')
_GRPC_FIELD = re.compile(r'grpc_[a-z_]+:(?:"(?:[^"\\]|\\.)*"|[^,}"]*)')


def _sorted_grpc_fields(match: re.Match[str]) -> str:
    return "{" + ", ".join(sorted(_GRPC_FIELD.findall(match.group(1)))) + "}"


def normalise(text: str) -> str:
    """Take out what differs between two identical calls: object addresses, gRPC field order and
    creation times."""
    text = _GRPC_CREATED.sub("", _ADDRESS.sub(r"\1<address>", text))
    return _GRPC_FIELDS.sub(_sorted_grpc_fields, text)


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
