"""Query capture: turn a request body into bounded, safe ``db.query.text``.

``sanitize`` keeps the JSON structure (keys, nesting) and replaces every leaf literal with ``"?"``;
a list of literals collapses to a single ``"?"``, so a vector never shows up as 768 question marks.
``raw`` keeps literals but still drops vectors (lists of 16+ numbers, and values under vector keys).
Both walk at most a bounded number of nodes and levels (so cycles end too), bytes, NDJSON and non-JSON types, and
cut the output at ``max_length`` characters (``bound``, which every captured text goes through, also
makes it valid Unicode). Nothing here raises: the worst answer is ``"?"``.
"""

from __future__ import annotations

import datetime
import decimal
import json
import re
import uuid
from typing import Any, Dict, List, Optional, Tuple

PLACEHOLDER = "?"
ELLIPSIS = "…"
VECTOR_KEYS = frozenset({"query_vector", "vector", "vectors", "embedding", "embeddings"})
_VECTOR_MIN_LENGTH = 16
_MAX_DEPTH = 64
_MAX_PARSE = 1 << 20  # bodies longer than this are not parsed: too costly to be worth it
_LEAVES = (str, int, float, bool, type(None))
_STRINGIFIED = (datetime.date, datetime.time, decimal.Decimal, uuid.UUID)


_LITERAL_TYPES = frozenset(_LEAVES)
_encode_string = json.encoder.encode_basestring  # C: a JSON string, non-ASCII kept
_PLACEHOLDER_TEXT = '"?"'
_ELLIPSIS_TEXT = _encode_string(ELLIPSIS)
_CUT_MAPPING = f"{_ELLIPSIS_TEXT}:{_ELLIPSIS_TEXT}"


def _float_text(value: float) -> str:
    """As ``json`` writes a float (``allow_nan``: NaN and the infinities as names)."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _literal_text(value: Any) -> str:
    """A literal of exactly a JSON type, as JSON."""
    kind = type(value)
    if kind is str:
        return str(_encode_string(value))
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        return _float_text(value)
    if value is None:
        return "null"
    return "true" if value else "false"


def _odd_text(value: Any, keep: bool) -> str:
    """A leaf that is not exactly a JSON type: a subclass of one, or something JSON lacks."""
    if not keep:
        return _PLACEHOLDER_TEXT
    if isinstance(value, str):
        return str(_encode_string(str.__str__(value)))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, _STRINGIFIED):
        return str(_encode_string(str(value)))
    return _PLACEHOLDER_TEXT


def _key_name(key: Any) -> str:
    """A key as the JSON encoder spells it (``null``, ``1.5``), as the encoder's path does."""
    if isinstance(key, str):
        return str.__str__(key)
    if key is None or isinstance(key, bool):
        return json.dumps(key)
    if isinstance(key, (int, float)):
        return _float_text(key) if isinstance(key, float) else int.__repr__(key)
    return PLACEHOLDER


def _literal_list(value: Any) -> Tuple[bool, bool]:
    """(every item is a literal, every item is a number): such a list is one ``"?"`` when
    sanitising, and a vector when it is long and numeric. Dates, times, decimals and UUIDs count
    as literals: JSON serializers write them as strings or numbers."""
    numeric = True
    for item in value:
        kind = type(item)
        if kind is int or kind is float:
            continue
        if kind is str or kind is bool or item is None:
            numeric = False
            continue
        if isinstance(item, _STRINGIFIED):
            numeric = False
            continue
        if not isinstance(item, _LEAVES):
            return False, False
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            numeric = False
    return True, numeric


def _text(body: Any, keep: bool, limit: int) -> str:
    """``body`` as compact JSON with every literal replaced by ``"?"`` (or kept, with ``keep``) and
    vectors dropped; at most ``_MAX_DEPTH`` levels (which also ends cycles: they are cut, not
    followed) and about ``limit`` characters of keys and nodes, past which the rest is ``"…"``.

    This runs on every request of a recording span, so it writes the JSON text directly (building
    a sanitised copy and encoding it costs twice as much) and handles literals inline.
    """
    parts: List[str] = []
    append = parts.append
    budget = limit

    def node(value: Any, depth: int) -> None:
        nonlocal budget
        budget -= 1
        if budget < 0 or depth > _MAX_DEPTH:
            append(_ELLIPSIS_TEXT)
        elif type(value) in _LITERAL_TYPES:
            append(_literal_text(value) if keep else _PLACEHOLDER_TEXT)
        elif isinstance(value, dict):
            mapping(value, depth + 1)
        elif isinstance(value, (list, tuple)):
            sequence(value, depth + 1)
        else:
            append(_odd_text(value, keep))

    def mapping(value: Dict[Any, Any], child: int) -> None:
        nonlocal budget
        append("{")
        separator = ""
        for key, item in value.items():
            append(separator)
            separator = ","
            if budget <= 0:
                append(_CUT_MAPPING)
                break
            name = key if type(key) is str else _key_name(key)
            key_text = _encode_string(name)
            budget -= len(key_text) >> 2
            append(key_text)
            append(":")
            kind = type(item)
            if kind in _LITERAL_TYPES:
                budget -= 1
                if budget < 0 or child > _MAX_DEPTH:
                    append(_ELLIPSIS_TEXT)
                elif keep:
                    text = _literal_text(item)
                    budget -= len(text) >> 2
                    append(text)
                else:
                    append(_PLACEHOLDER_TEXT)
            elif name in VECTOR_KEYS and isinstance(item, (list, tuple)):
                budget -= 1
                append(_PLACEHOLDER_TEXT)
            else:
                node(item, child)
        append("}")

    def sequence(value: Any, child: int) -> None:
        nonlocal budget
        literal, numeric = _literal_list(value)
        if literal and (not keep or (numeric and len(value) >= _VECTOR_MIN_LENGTH)):
            append(_PLACEHOLDER_TEXT)
            return
        append("[")
        separator = ""
        for item in value:
            append(separator)
            separator = ","
            if budget <= 0:
                append(_ELLIPSIS_TEXT)
                break
            if type(item) in _LITERAL_TYPES:
                budget -= 1
                if budget < 0 or child > _MAX_DEPTH:
                    append(_ELLIPSIS_TEXT)
                elif keep:
                    text = _literal_text(item)
                    budget -= len(text) >> 2
                    append(text)
                else:
                    append(_PLACEHOLDER_TEXT)
            else:
                node(item, child)
        append("]")

    node(body, 0)
    return "".join(parts)


# -- sanitize, in C ------------------------------------------------------------------------------
def _odd(value: Any) -> str:
    """What the JSON encoder writes for a value JSON has no type for: an escaped character, which
    hands the body to the walker (it writes such values as the walker's rules say)."""
    return "\x00"


#: The standard library's C JSON encoder, made once: compact separators, non-ASCII kept, no
#: cycle bookkeeping (a cycle ends in ``RecursionError``, and the walker below takes over).
_encode: Optional[Any] = None
_make_encoder = getattr(json.encoder, "c_make_encoder", None)
if _make_encoder is not None:  # CPython: always
    _encode = _make_encoder(None, _odd, _encode_string, None, ":", ",", False, False, True)
#: A number, ``true``, ``false`` or ``null`` between the quoted strings of compact JSON.
_BARE_LITERAL = re.compile(r"-?\d[\d.eE+-]*|true|false|null|NaN|-?Infinity")
_PUNCTUATION = ":,[]{}"
#: A list of nothing but placeholders (a list of literals, a vector), or an empty one.
_LITERAL_LIST = re.compile(r'\[(?:"\?"(?:,"\?")*)?\]')


def _sanitized_json(text: str, max_length: int) -> Optional[str]:
    """Compact JSON ``text`` sanitised as the walker sanitises its body: split at the quotes, a
    string not followed by ``:`` is a value and becomes ``?``, as do the bare literals between;
    lists of placeholders collapse. ``None`` where the walker's answer could differ: an escape
    (what the encoder writes for a type JSON lacks), a vector key, a text far over ``max_length``."""
    if len(text) > 4 * max_length or "\\" in text or "vector" in text or "embedding" in text:
        return None
    parts = text.split('"')
    first = parts[0]
    if first.strip(_PUNCTUATION):  # a list body that starts with a literal
        if " " in first or "\n" in first:
            return None  # not compact JSON (a client's own serializer): the walker writes it
        parts[0] = _BARE_LITERAL.sub(_PLACEHOLDER_TEXT, first)
    for index in range(1, len(parts) - 1, 2):
        after = parts[index + 1]  # between this string and the next: never empty
        if after[0] != ":":  # not a key: a value
            parts[index] = PLACEHOLDER
        literal = after.strip(_PUNCTUATION)
        if literal:
            if " " in literal or "\n" in literal:
                return None  # as above
            # One literal (the common case) is replaced where it stands; several go to the regex.
            parts[index + 1] = (
                _BARE_LITERAL.sub(_PLACEHOLDER_TEXT, after)
                if "," in literal
                else after.replace(literal, _PLACEHOLDER_TEXT, 1)
            )
    text = '"'.join(parts)
    if '["?"' in text or "[]" in text:
        return _LITERAL_LIST.sub(_PLACEHOLDER_TEXT, text)
    return text


def sanitize_serialized(serialized: Any, body: Any, max_length: int) -> str:
    """``capture(body, "sanitize", max_length)`` read from the JSON (bytes or text) the client
    serialised anyway, not from a second encoding; from the body where that fails. Never raises."""
    try:
        text = serialized.decode("utf-8") if type(serialized) is bytes else serialized
        if type(text) is str:
            quick = _sanitized_json(text, max_length)
            if quick is not None:
                if len(quick) <= max_length and quick.isascii():
                    return quick  # what ``bound`` returns, without its frame
                return bound(quick, max_length)
    except Exception:  # not UTF-8 (a lone surrogate), an odd type: the body says it
        pass
    return capture(body, "sanitize", max_length) or PLACEHOLDER


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
        if not keep and isinstance(body, (dict, list, tuple)) and _encode is not None:
            try:  # the C encoder's JSON, read as text; the walker where either gives up
                text = _sanitized_json("".join(_encode(body, 0)), max_length)
            except (ValueError, TypeError, RecursionError, OverflowError):  # a cycle, an odd key
                text = None
            if text is not None:
                return bound(text, max_length)
        return bound(_text(body, keep, max_length), max_length)
    except Exception:  # capture must never break a call; an unreadable body is just "?"
        return PLACEHOLDER


# -- failure reasons ----------------------------------------------------------------------------
#: Upper bound of a span's status description (the server's reason), in every capture mode.
REASON_MAX_LENGTH = 512
#: What a server's error message can echo of the user's documents and queries.
_ECHOES = (
    # Elasticsearch's mapping errors end with the start of the offending value.
    (re.compile(r"\.?\s*Preview of field's value:.*", re.S), ""),
    # ... and date / number parsing errors quote it in brackets.
    (re.compile(r"(failed to parse date field|unable to parse date) \[[^\]]*\]"), r"\1 [?]"),
    (re.compile(r"(value) \[[^\]]*\]"), r"\1 [?]"),
    # A quoted literal: 'abc' or "abc" (an apostrophe inside a word, as in "can't", is no quote).
    (re.compile(r"(?<![A-Za-z])'[^'\n]*'"), "'?'"),
    (re.compile(r'"[^"\n]*"'), '"?"'),
)


def scrub_reason(text: str, mode: str) -> str:
    """A server's error message for a span's status: bounded, and in every mode but ``raw``
    stripped of the document and query values it can echo (quoted literals become ``'?'``).

    What is kept: the error type, field, index and collection names outside quotes, and the
    message's wording. Never raises.
    """
    try:
        if mode != "raw":
            for pattern, replacement in _ECHOES:
                text = pattern.sub(replacement, text)
        return bound(text.strip(), REASON_MAX_LENGTH)
    except Exception:  # a reason is a nicety: never let it cost the span
        return "?"
