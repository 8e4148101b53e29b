"""Query capture: turn a request body into bounded, safe ``db.query.text``.

``sanitize`` keeps the JSON structure (keys, nesting) and replaces every leaf literal with ``"?"``;
a list of literals collapses to a single ``"?"``, so a vector never shows up as 768 question marks.
``raw`` keeps literals but still drops vectors (lists of 16+ numbers, and values under vector keys).
Both walk at most a bounded number of nodes, survive cycles, bytes, NDJSON and non-JSON types, and
cut the output at ``max_length`` characters (``bound``, which every captured text goes through, also
makes it valid Unicode). Nothing here raises: the worst answer is ``"?"``.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from typing import Any, List, Optional, Set

PLACEHOLDER = "?"
ELLIPSIS = "…"
VECTOR_KEYS = frozenset({"query_vector", "vector", "vectors", "embedding", "embeddings"})
_VECTOR_MIN_LENGTH = 16
_MAX_DEPTH = 64
_MAX_PARSE = 1 << 20  # bodies longer than this are not parsed: too costly to be worth it
_LEAVES = (str, int, float, bool, type(None))
_STRINGIFIED = (datetime.date, datetime.time, decimal.Decimal, uuid.UUID)


class _Walk:
    __slots__ = ("budget", "keep", "path")

    def __init__(self, keep_literals: bool, budget: int) -> None:
        self.keep = keep_literals
        self.budget = budget
        self.path: Set[int] = set()

    def leaf(self, value: Any) -> Any:
        if not self.keep:
            return PLACEHOLDER
        if isinstance(value, _LEAVES):
            return value
        if isinstance(value, _STRINGIFIED):
            return str(value)
        return PLACEHOLDER

    def node(self, value: Any, depth: int) -> Any:
        self.budget -= 1
        if self.budget < 0 or depth > _MAX_DEPTH:
            return ELLIPSIS
        if isinstance(value, dict):
            return self.mapping(value, depth)
        if isinstance(value, (list, tuple)):
            return self.sequence(value, depth)
        return self.leaf(value)

    def mapping(self, value: dict[Any, Any], depth: int) -> Any:
        marker = id(value)
        if marker in self.path:
            return PLACEHOLDER
        self.path.add(marker)
        out = {}
        for key, item in value.items():
            if self.budget <= 0:
                out[ELLIPSIS] = ELLIPSIS
                break
            name = (
                key
                if isinstance(key, str)
                else PLACEHOLDER
                if not isinstance(key, _LEAVES)
                else str(key)
            )
            if name in VECTOR_KEYS and isinstance(item, (list, tuple)):
                out[name] = PLACEHOLDER
                self.budget -= 1
                continue
            out[name] = self.node(item, depth + 1)
        self.path.discard(marker)
        return out

    def sequence(self, value: list[Any] | tuple[Any, ...], depth: int) -> Any:
        if all(isinstance(item, _LEAVES) for item in value):
            numeric = all(isinstance(i, (int, float)) and not isinstance(i, bool) for i in value)
            if not self.keep or (numeric and len(value) >= _VECTOR_MIN_LENGTH):
                return PLACEHOLDER
        marker = id(value)
        if marker in self.path:
            return PLACEHOLDER
        self.path.add(marker)
        out: List[Any] = []
        for item in value:
            if self.budget <= 0:
                out.append(ELLIPSIS)
                break
            out.append(self.node(item, depth + 1))
        self.path.discard(marker)
        return out


def _parse(text: str) -> Any:
    """JSON, else NDJSON (a list of its lines), else ``None``."""
    if len(text) > _MAX_PARSE:
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return None
    try:
        return [json.loads(line) for line in lines]
    except ValueError:
        return None


def bound(text: str, max_length: int) -> str:
    """``text`` cut to ``max_length`` characters, and encodable as UTF-8.

    A lone surrogate (text decoded with ``surrogateescape``; elasticsearch-py sends it with
    ``surrogatepass``) becomes ``"?"``: an OTLP exporter cannot serialise it and would drop the
    whole batch of spans, not just this one.
    """
    if len(text) > max_length:
        text = text[: max_length - 1] + ELLIPSIS
    if text.isascii():  # O(1) in CPython: the common case costs nothing
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def capture(body: Any, mode: str, max_length: int) -> Optional[str]:
    """The ``db.query.text`` for ``body`` in capture ``mode``; ``None`` for nothing to record."""
    if mode == "omit" or body is None:
        return None
    try:
        keep = mode == "raw"
        if isinstance(body, (bytes, bytearray, memoryview)):
            body = bytes(body[: _MAX_PARSE + 1]).decode("utf-8", errors="replace")
        if isinstance(body, str):
            parsed = _parse(body)
            if parsed is None:
                return bound(body, max_length) if keep else PLACEHOLDER
            body = parsed
        shape = _Walk(keep, max_length).node(body, 0)
        text = json.dumps(shape, ensure_ascii=False, separators=(",", ":"), default=str)
        return bound(text, max_length)
    except Exception:  # capture must never break a call; an unreadable body is just "?"
        return PLACEHOLDER
