"""Loopback Elasticsearch stand-in for tests.

:class:`ElasticsearchStandIn` is a small aiohttp server bound to 127.0.0.1 that speaks enough of
the Elasticsearch REST protocol for the real ``elasticsearch.AsyncElasticsearch`` client (either
node class), its async helpers and its async DSL classes to run against it unchanged, over real
sockets and without Docker: the ``X-Elastic-Product`` header, compatibility mimetypes, NDJSON
bodies, scrolls, points in time, per-item bulk results and Elasticsearch-shaped errors.

Data lives in memory and is visible at once (every write behaves as if refreshed). A
:class:`FaultPlan` injects error statuses, slow answers, dropped connections and malformed bodies,
and every request the server sees is kept in ``requests`` as a :class:`RecordedRequest`.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import fnmatch
import functools
import itertools
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple
from urllib.parse import unquote

from aiohttp import web

__all__ = ["ElasticsearchStandIn", "FaultPlan", "RecordedRequest"]

_Json = Dict[str, Any]
_Reply = Tuple[int, Any]  # (status, JSON-able body or None for an empty body)

_WRITE_SHARDS: _Json = {"total": 2, "successful": 1, "failed": 0}
_NOOP_SHARDS: _Json = {"total": 0, "successful": 0, "failed": 0}
_DEFAULT_SIZE = 10
_TOTAL_HITS_CAP = 10_000
_COMPAT_RE = re.compile(
    r"application/vnd\.elasticsearch\+(?:json|x-ndjson)\s*;\s*compatible-with\s*=\s*(\d+)", re.I
)
_ACCEPTED_BODY_TYPES = re.compile(
    r"^\s*application/(?:json|x-ndjson|vnd\.elasticsearch\+(?:json|x-ndjson))\b", re.I
)
_ERROR_TYPES = {
    400: "illegal_argument_exception",
    401: "security_exception",
    403: "security_exception",
    404: "resource_not_found_exception",
    408: "timeout_exception",
    409: "version_conflict_engine_exception",
    413: "content_too_long_exception",
    429: "es_rejected_execution_exception",
    503: "cluster_block_exception",
}
_MALFORMED_BODY = b'{"took":1,"timed_out":false,"hits":{"total":{"value":'
_STATIC_SETTINGS = ("number_of_shards", "codec", "routing_partition_size", "analysis.")
_BUCKET_AGGS = frozenset(
    {
        "adjacency_matrix",
        "auto_date_histogram",
        "composite",
        "date_histogram",
        "date_range",
        "filters",
        "geohash_grid",
        "geotile_grid",
        "histogram",
        "ip_range",
        "multi_terms",
        "range",
        "rare_terms",
        "significant_terms",
        "significant_text",
        "variable_width_histogram",
    }
)


# --------------------------------------------------------------------------- errors


class _EsError(Exception):
    """An Elasticsearch error answer: ``{"error": {"type": ..., "reason": ...}, "status": N}``."""

    def __init__(self, status: int, type_: str, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.status = status
        self.type = type_
        self.reason = reason
        self.extra = extra

    def cause(self) -> _Json:
        return {"type": self.type, "reason": self.reason, **self.extra}

    def body(self) -> _Json:
        cause = self.cause()
        return {"error": {"root_cause": [cause], **cause}, "status": self.status}


def _index_not_found(name: str) -> _EsError:
    return _EsError(
        404,
        "index_not_found_exception",
        f"no such index [{name}]",
        **{"resource.type": "index_or_alias", "resource.id": name},
        index_uuid="_na_",
        index=name,
    )


def _bad_request(reason: str, type_: str = "illegal_argument_exception") -> _EsError:
    return _EsError(400, type_, reason)


# --------------------------------------------------------------------------- faults and records


class _Headers(Dict[str, str]):
    """A plain dict of header names (lower-cased) whose lookups ignore case, as HTTP does."""

    def __init__(self, items: Iterable[Tuple[str, str]] = ()) -> None:
        super().__init__((k.lower(), v) for k, v in items)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


@dataclass
class RecordedRequest:
    """One request as the stand-in received it (body already gunzipped).

    ``headers`` is a dict with lower-cased names that also answers ``headers["Accept"]``.
    """

    method: str
    path: str
    query: Dict[str, str]
    headers: Dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON (``None`` when empty)."""
        return json.loads(self.body) if self.body else None

    def ndjson(self) -> List[Any]:
        """The body parsed as newline-delimited JSON."""
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]


@dataclass
class _Fault:
    path: re.Pattern[str]
    method: Optional[str]
    status: Optional[int]
    body: Any
    remaining: int
    delay: float
    drop: bool
    malformed: bool
    headers: Dict[str, str]


class FaultPlan:
    """Faults to hand out, first match first, each for its next ``times`` matching requests."""

    def __init__(self) -> None:
        self._faults: List[_Fault] = []
        self._lock = threading.Lock()

    def add(
        self,
        *,
        path: str = ".*",
        method: Optional[str] = None,
        status: Optional[int] = None,
        body: Any = None,
        times: int = 1,
        delay: float = 0.0,
        drop: bool = False,
        malformed: bool = False,
        headers: Optional[Dict[str, str]] = None,
    ) -> None:
        """Plan a fault for the next ``times`` requests whose path matches ``path`` (re.search).

        ``status`` answers with an Elasticsearch-shaped error body (or ``body`` when given; a
        ``body`` without ``status`` answers 200), ``drop`` closes the connection without an
        answer, ``malformed`` answers 200 with a JSON content type and a body that is not JSON,
        and ``delay`` waits that many seconds first (alone it only delays the normal answer).
        ``headers`` are added to whatever answer goes out.
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        fault = _Fault(
            path=re.compile(path),
            method=method.upper() if method else None,
            status=status,
            body=body,
            remaining=times,
            delay=delay,
            drop=drop,
            malformed=malformed,
            headers=dict(headers or {}),
        )
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending(self) -> int:
        """How many faulty answers are still planned."""
        with self._lock:
            return sum(f.remaining for f in self._faults)

    def take(self, method: str, path: str) -> Optional[_Fault]:
        """Use up one planned fault for this request, if one matches."""
        with self._lock:
            for fault in self._faults:
                if fault.method not in (None, method) or not fault.path.search(path):
                    continue
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None


# --------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class _Doc:
    """A stored document; never mutated (writes replace it, so snapshots stay consistent)."""

    source: _Json
    version: int
    seq_no: int
    primary_term: int = 1


@dataclass
class _Index:
    name: str
    uuid: str
    settings: Dict[str, Any]  # flat keys without the "index." prefix, string values
    mappings: _Json
    aliases: _Json
    docs: Dict[str, _Doc] = field(default_factory=dict)
    last_seq_no: int = -1
    closed: bool = False

    def next_seq_no(self) -> int:
        self.last_seq_no += 1
        return self.last_seq_no

    @property
    def shards(self) -> int:
        try:
            return int(self.settings.get("number_of_shards", "1"))
        except ValueError:
            return 1


@dataclass
class _Hit:
    index: str
    id: str
    doc: _Doc
    ordinal: int
    score: Optional[float] = 1.0
    sort: List[Any] = field(default_factory=list)


@dataclass
class _SortKey:
    field: str
    desc: bool
    missing_first: bool


@dataclass
class _Cursor:
    """A scroll context: every hit of the search, and how far the client has read."""

    hits: List[_Hit]
    position: int
    size: int
    body: _Json
    query: Dict[str, str]
    shards: int


# (index name, its documents): live indices or a point-in-time snapshot of them
_Source = Tuple[str, Dict[str, _Doc]]


@dataclass
class _Call:
    """The parts of a request a handler needs."""

    method: str
    path: str
    params: Dict[str, str]
    query: Dict[str, str]
    body: bytes

    def json(self, *, required: bool = False) -> _Json:
        if not self.body.strip():
            if required:
                raise _bad_request(
                    "Validation Failed: 1: request body is required;",
                    "action_request_validation_exception",
                )
            return {}
        try:
            value = json.loads(self.body)
        except ValueError as exc:
            raise _bad_request(
                f"Failed to parse JSON body: {exc}", "x_content_parse_exception"
            ) from None
        if not isinstance(value, dict):
            raise _bad_request(
                "request body is required to be a JSON object", "x_content_parse_exception"
            )
        return value

    def ndjson(self) -> List[Any]:
        lines = []
        for number, line in enumerate(self.body.splitlines(), 1):
            if not line.strip():
                continue
            try:
                lines.append(json.loads(line))
            except ValueError as exc:
                raise _bad_request(
                    f"Failed to parse line [{number}] of the NDJSON body: {exc}",
                    "x_content_parse_exception",
                ) from None
        return lines

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.query.get(name)
        if value is None:
            return default
        return value.lower() in ("", "true")

    def integer(self, name: str) -> Optional[int]:
        value = self.query.get(name)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise _bad_request(
                f"Failed to parse int parameter [{name}] with value [{value}]"
            ) from None


_Handler = Callable[[_Call], _Reply]


@dataclass
class _Route:
    methods: Tuple[str, ...]
    template: Tuple[str, ...]
    handler: _Handler

    def match(self, segments: List[str]) -> Optional[Dict[str, str]]:
        if len(segments) != len(self.template):
            return None
        params: Dict[str, str] = {}
        for token, segment in zip(self.template, segments):
            if token.startswith("{"):
                # Index names never start with "_" ("_all" aside), so "/_search" is no index.
                if token == "{index}" and segment.startswith("_") and segment != "_all":
                    return None
                params[token[1:-1]] = segment
            elif token != segment:
                return None
        return params


# --------------------------------------------------------------------------- small helpers


def _new_id() -> str:
    """A 20-character URL-safe id, shaped like the ones Elasticsearch generates."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes[:15]).decode()


def _opaque_id(kind: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{uuid.uuid4().hex}".encode()).decode()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _as_list(value: Any) -> List[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _flatten(value: Any) -> List[Any]:
    if isinstance(value, list):
        return [leaf for item in value for leaf in _flatten(item)]
    return [value]


def _values(source: Any, path: str) -> List[Any]:
    """Values at a dotted path, looking through arrays of objects like Elasticsearch does."""
    if isinstance(source, dict) and path in source:
        return [v for v in _flatten(source[path]) if v is not None]
    nodes = [source]
    for part in path.split("."):
        nodes = [
            leaf
            for node in nodes
            if isinstance(node, dict) and part in node
            for leaf in _flatten(node[part])
        ]
    return [v for v in nodes if v is not None]


def _field_values(index: str, doc_id: str, source: _Json, name: str) -> List[Any]:
    if name == "_id":
        return [doc_id]
    if name == "_index":
        return [index]
    found = _values(source, name)
    if not found and "." in name:
        # "title.keyword" and other multi-fields read the value of their parent field.
        found = [v for v in _values(source, name.rsplit(".", 1)[0]) if not isinstance(v, dict)]
    return found


def _leaves(value: Any) -> List[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [] if value is None else [value]


def _tokens(text: Any) -> List[str]:
    return re.findall(r"\w+", str(text).lower())


def _rank(value: Any) -> Tuple[int, Any]:
    """A total order over JSON scalars: numbers (and booleans), then strings, then the rest."""
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, json.dumps(value, sort_keys=True))


def _compare(a: Any, b: Any) -> int:
    ra, rb = _rank(a), _rank(b)
    return (ra > rb) - (ra < rb)


def _deep_merge(target: _Json, patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


# --------------------------------------------------------------------------- settings and mappings


def _stringify(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return [_stringify(v) for v in value]
    if value is None:
        return None
    return str(value)


def _flat_settings(raw: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    """Flatten settings to dotted keys without the ``index.`` prefix, stringifying leaves."""
    out: Dict[str, Any] = {}
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat_settings(value, f"{name}."))
        else:
            out[name[len("index.") :] if name.startswith("index.") else name] = _stringify(value)
    return out


def _nest(flat: Mapping[str, Any]) -> _Json:
    out: _Json = {}
    for key in sorted(flat):
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = flat[key]
    return out


def _version_id(version: str) -> str:
    numbers = [int(n) for n in re.findall(r"\d+", version)[:3]] + [0, 0, 0]
    return str(numbers[0] * 1_000_000 + numbers[1] * 10_000 + numbers[2] * 100 + 99)


def _infer_mapping(value: Any) -> Optional[_Json]:
    """The dynamic mapping Elasticsearch would pick for a new field holding ``value``."""
    if isinstance(value, list):
        for item in value:
            inferred = _infer_mapping(item)
            if inferred is not None:
                return inferred
        return None
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "long"}
    if isinstance(value, float):
        return {"type": "float"}
    if isinstance(value, dict):
        props = {k: m for k, v in value.items() if (m := _infer_mapping(v)) is not None}
        return {"properties": props}
    if isinstance(value, str):
        if re.fullmatch(
            r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?", value
        ):
            return {"type": "date"}
        return {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}
    return None


def _field_type(spec: Mapping[str, Any]) -> Optional[str]:
    if "type" in spec:
        return str(spec["type"])
    return "object" if "properties" in spec else None


def _merge_properties(current: _Json, new: Mapping[str, Any], prefix: str = "") -> None:
    """Merge new field mappings in, refusing type changes as Elasticsearch does."""
    for name, spec in new.items():
        existing = current.get(name)
        if not isinstance(existing, dict) or not isinstance(spec, dict):
            current[name] = copy.deepcopy(spec)
            continue
        old_type, new_type = _field_type(existing), _field_type(spec)
        if old_type and new_type and old_type != new_type:
            raise _bad_request(
                f"mapper [{prefix}{name}] cannot be changed from type [{old_type}] to [{new_type}]"
            )
        for key, value in spec.items():
            if key == "properties" and isinstance(value, dict):
                _merge_properties(existing.setdefault("properties", {}), value, f"{prefix}{name}.")
            else:
                existing[key] = copy.deepcopy(value)


def _dynamic_update(index: _Index, source: Mapping[str, Any]) -> None:
    """Add mappings for fields not seen before (or refuse them under ``dynamic: strict``)."""
    dynamic = str(index.mappings.get("dynamic", "true")).lower()
    props = index.mappings.setdefault("properties", {})
    for name, value in source.items():
        if name in props:
            existing = props[name]
            if isinstance(value, dict) and isinstance(existing, dict) and "properties" in existing:
                nested = _infer_mapping(value) or {}
                _merge_new_only(existing["properties"], nested.get("properties", {}))
            continue
        if dynamic == "strict":
            raise _bad_request(
                f"[1:2] mapping set to strict, dynamic introduction of [{name}] within [_doc] "
                "is not allowed",
                "strict_dynamic_mapping_exception",
            )
        inferred = _infer_mapping(value)
        if dynamic != "false" and inferred is not None:
            props[name] = inferred


def _merge_new_only(current: _Json, inferred: Mapping[str, Any]) -> None:
    for name, spec in inferred.items():
        if name not in current:
            current[name] = spec
        elif isinstance(spec, dict) and "properties" in spec and "properties" in current[name]:
            _merge_new_only(current[name]["properties"], spec["properties"])


# --------------------------------------------------------------------------- _source filtering


def _source_filter(spec: Any) -> Optional[Tuple[List[str], List[str]]]:
    """Turn a ``_source`` option into (includes, excludes); ``None`` means leave it out."""
    if spec is None or spec is True:
        return [], []
    if spec is False:
        return None
    if isinstance(spec, str):
        if spec.lower() == "false":
            return None
        if spec.lower() == "true" or not spec:
            return [], []
        return spec.split(","), []
    if isinstance(spec, list):
        return [str(s) for s in spec], []
    if isinstance(spec, dict):
        includes = _as_list(spec.get("includes", spec.get("include")))
        excludes = _as_list(spec.get("excludes", spec.get("exclude")))
        return [str(s) for s in includes], [str(s) for s in excludes]
    return [], []


def _query_source_filter(
    query: Mapping[str, str], body_spec: Any = None
) -> Optional[Tuple[List[str], List[str]]]:
    spec = _source_filter(query["_source"] if "_source" in query else body_spec)
    if spec is None:
        return None
    includes, excludes = spec
    if query.get("_source_includes"):
        includes = includes + query["_source_includes"].split(",")
    if query.get("_source_excludes"):
        excludes = excludes + query["_source_excludes"].split(",")
    return includes, excludes


def _filter_source(
    source: Mapping[str, Any], includes: List[str], excludes: List[str], prefix: str = ""
) -> _Json:
    out: _Json = {}
    for key, value in source.items():
        path = f"{prefix}{key}"
        if any(fnmatch.fnmatchcase(path, p) for p in excludes):
            continue
        included = not includes or any(fnmatch.fnmatchcase(path, p) for p in includes)
        if isinstance(value, dict):
            sub = _filter_source(value, [] if included else includes, excludes, f"{path}.")
            if included or sub:
                out[key] = sub
        elif included:
            out[key] = copy.deepcopy(value)
    return out


def _render_source(source: _Json, spec: Optional[Tuple[List[str], List[str]]]) -> Optional[_Json]:
    if spec is None:
        return None
    includes, excludes = spec
    if not includes and not excludes:
        return copy.deepcopy(source)
    return _filter_source(source, includes, excludes)


# --------------------------------------------------------------------------- query matching


def _field_spec(spec: Mapping[str, Any], value_key: str) -> Tuple[str, Any, Mapping[str, Any]]:
    """Split ``{"field": value}`` / ``{"field": {value_key: value, ...}}`` into its parts."""
    names = [k for k in spec if k not in ("boost", "_name")]
    if not names:
        raise _bad_request("query is missing a field name", "parsing_exception")
    name = names[0]
    value = spec[name]
    if isinstance(value, dict):
        return name, value.get(value_key, value.get("query", value.get("value"))), value
    return name, value, {}


def _term_equal(value: Any, target: Any, case_insensitive: bool = False) -> bool:
    if isinstance(value, bool) or isinstance(target, bool):
        return str(value).lower() == str(target).lower()
    if isinstance(value, (int, float)):
        try:
            return float(value) == float(target)
        except (TypeError, ValueError):
            return False
    if isinstance(value, str) and isinstance(target, (str, int, float)):
        if case_insensitive:
            return value.lower() == str(target).lower()
        return value == str(target)
    return bool(value == target)


def _text_match(values: List[Any], text: Any, operator: str = "or", phrase: bool = False) -> bool:
    """``match``-style matching: any (or all) query tokens appear among the value's tokens."""
    wanted = _tokens(text)
    if not wanted:
        return False
    for value in values:
        if isinstance(value, str):
            have = _tokens(value)
            if phrase:
                if " ".join(wanted) in " ".join(have):
                    return True
            elif operator.lower() == "and":
                if all(t in have for t in wanted):
                    return True
            elif any(t in have for t in wanted):
                return True
        elif _term_equal(value, text):
            return True
    return False


def _in_range(value: Any, bounds: Mapping[str, Any]) -> bool:
    for op, bound in bounds.items():
        if op not in ("gt", "gte", "lt", "lte") or bound is None:
            continue
        if isinstance(bound, str) and bound.startswith("now"):
            continue  # date math is beyond the stand-in: treat as satisfied
        order = _compare(value, bound)
        if (
            (op == "gt" and order <= 0)
            or (op == "gte" and order < 0)
            or (op == "lt" and order >= 0)
            or (op == "lte" and order > 0)
        ):
            return False
    return True


def _minimum_should_match(spec: Any, clauses: int, default: int) -> int:
    if spec is None:
        return default
    text = str(spec).strip()
    if text.endswith("%"):
        return int(clauses * int(text[:-1]) / 100)
    count = int(text)
    return count if count >= 0 else clauses + count


def _matches(query: Any, index: str, doc_id: str, source: _Json) -> bool:
    """Whether a document matches a query. Unknown query types match everything."""
    if not query:
        return True
    if not isinstance(query, dict) or len(query) != 1:
        raise _bad_request(
            "[query] malformed query, expected a single query type", "parsing_exception"
        )
    ((kind, spec),) = query.items()
    spec = spec if isinstance(spec, dict) else {}

    def values(name: str) -> List[Any]:
        return _field_values(index, doc_id, source, name)

    def sub(q: Any) -> bool:
        return _matches(q, index, doc_id, source)

    if kind == "match_all":
        return True
    if kind == "match_none":
        return False
    if kind == "bool":
        required = _as_list(spec.get("must")) + _as_list(spec.get("filter"))
        if not all(sub(q) for q in required):
            return False
        if any(sub(q) for q in _as_list(spec.get("must_not"))):
            return False
        should = _as_list(spec.get("should"))
        if should:
            needed = _minimum_should_match(
                spec.get("minimum_should_match"), len(should), 0 if required else 1
            )
            return sum(1 for q in should if sub(q)) >= needed
        return True
    if kind == "term":
        name, target, opts = _field_spec(spec, "value")
        ci = bool(opts.get("case_insensitive"))
        return any(_term_equal(v, target, ci) for v in values(name))
    if kind == "terms":
        name, targets, _ = _field_spec(spec, "value")
        return any(_term_equal(v, t) for v in values(name) for t in _as_list(targets))
    if kind in ("match", "match_phrase", "match_phrase_prefix", "match_bool_prefix"):
        name, text, opts = _field_spec(spec, "query")
        phrase = kind != "match" and kind != "match_bool_prefix"
        return _text_match(values(name), text, str(opts.get("operator", "or")), phrase)
    if kind == "multi_match":
        names = [str(f).split("^")[0] for f in _as_list(spec.get("fields"))] or ["*"]
        found = [v for n in names for v in (_leaves(source) if n == "*" else values(n))]
        phrase = spec.get("type") in ("phrase", "phrase_prefix")
        return _text_match(found, spec.get("query"), str(spec.get("operator", "or")), phrase)
    if kind in ("query_string", "simple_query_string"):
        return _query_string_match(spec, index, doc_id, source)
    if kind == "prefix":
        name, prefix, opts = _field_spec(spec, "value")
        ci = bool(opts.get("case_insensitive"))
        return any(
            isinstance(v, str)
            and (v.lower().startswith(str(prefix).lower()) if ci else v.startswith(str(prefix)))
            for v in values(name)
        )
    if kind == "wildcard":
        name, pattern, opts = _field_spec(spec, "value")
        pattern = opts.get("wildcard", pattern)
        return any(
            isinstance(v, str) and fnmatch.fnmatchcase(v, str(pattern)) for v in values(name)
        )
    if kind == "regexp":
        name, pattern, _ = _field_spec(spec, "value")
        return any(isinstance(v, str) and re.fullmatch(str(pattern), v) for v in values(name))
    if kind == "range":
        name, _, bounds = _field_spec(spec, "value")
        return any(_in_range(v, bounds) for v in values(name))
    if kind == "exists":
        return bool(values(str(spec.get("field", ""))))
    if kind == "ids":
        return doc_id in [str(v) for v in _as_list(spec.get("values"))]
    if kind == "constant_score":
        return sub(spec.get("filter"))
    if kind in ("nested", "function_score", "script_score"):
        return sub(spec.get("query"))
    if kind == "boosting":
        return sub(spec.get("positive"))
    if kind == "dis_max":
        return any(sub(q) for q in _as_list(spec.get("queries")))
    return True


def _query_string_match(spec: Mapping[str, Any], index: str, doc_id: str, source: _Json) -> bool:
    text = str(spec.get("query", "")).strip()
    if text in ("", "*", "*:*"):
        return True
    if ":" in text and " " not in text:
        name, _, value = text.partition(":")
        if value in ("*", ""):
            return bool(_field_values(index, doc_id, source, name))
        return _text_match(_field_values(index, doc_id, source, name), value)
    names = _as_list(spec.get("fields")) or _as_list(spec.get("default_field"))
    found = [
        v
        for n in [str(n).split("^")[0] for n in names] or ["*"]
        for v in (_leaves(source) if n == "*" else _field_values(index, doc_id, source, n))
    ]
    words = [t for t in _tokens(text) if t not in ("and", "or", "not")]
    return _text_match(found, " ".join(words), str(spec.get("default_operator", "or")))


def _q_param_query(q: str) -> _Json:
    return {"query_string": {"query": q}}


# --------------------------------------------------------------------------- sorting


def _parse_sort(spec: Any) -> List[_SortKey]:
    keys: List[_SortKey] = []
    items: List[Any] = []
    for item in _as_list(spec):
        items.extend(item.split(",") if isinstance(item, str) else [item])
    for item in items:
        if isinstance(item, str):
            name, _, order = item.strip().partition(":")
            options: Mapping[str, Any] = {"order": order} if order else {}
        elif isinstance(item, dict) and item:
            name, raw = next(iter(item.items()))
            options = raw if isinstance(raw, dict) else {"order": raw}
        else:
            continue
        default = "desc" if name == "_score" else "asc"
        desc = str(options.get("order") or default).lower() == "desc"
        keys.append(_SortKey(name, desc, options.get("missing") == "_first"))
    return keys


def _sort_value(hit: _Hit, key: _SortKey) -> Any:
    if key.field == "_score":
        return hit.score
    if key.field in ("_doc", "_shard_doc"):
        return hit.ordinal
    found = [
        v
        for v in _field_values(hit.index, hit.id, hit.doc.source, key.field)
        if not isinstance(v, (dict, list))
    ]
    if not found:
        return None
    ordered = sorted(found, key=_rank)
    return ordered[-1] if key.desc else ordered[0]


def _compare_sort(left: List[Any], right: List[Any], keys: List[_SortKey]) -> int:
    for a, b, key in zip(left, right, keys):
        if a is None and b is None:
            continue
        if a is None or b is None:
            missing_first = key.missing_first
            return (-1 if missing_first else 1) * (1 if a is None else -1)
        order = _compare(a, b)
        if order:
            return -order if key.desc else order
    return 0


# --------------------------------------------------------------------------- aggregations


def _numbers(hits: Iterable[_Hit], name: str) -> List[float]:
    out: List[float] = []
    for hit in hits:
        for v in _field_values(hit.index, hit.id, hit.doc.source, name):
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out.append(float(v))
    return out


def _aggregate(aggs: Mapping[str, Any], hits: List[_Hit]) -> _Json:
    """A handful of common aggregations over the matching hits."""
    out: _Json = {}
    for name, spec in aggs.items():
        if not isinstance(spec, dict):
            continue
        subs = spec.get("aggs") or spec.get("aggregations") or {}
        kinds = [k for k in spec if k not in ("aggs", "aggregations", "meta")]
        if not kinds:
            continue
        kind, body = kinds[0], spec[kinds[0]] or {}
        out[name] = _aggregate_one(kind, body, subs, hits)
        if "meta" in spec:
            out[name]["meta"] = spec["meta"]
    return out


def _aggregate_one(kind: str, body: _Json, subs: Mapping[str, Any], hits: List[_Hit]) -> _Json:
    name = str(body.get("field", ""))
    if kind == "terms":
        counts: Dict[str, Tuple[Any, List[_Hit]]] = {}
        for hit in hits:
            seen = set()
            for v in _field_values(hit.index, hit.id, hit.doc.source, name):
                marker = json.dumps(v, sort_keys=True)
                if isinstance(v, (dict, list)) or marker in seen:
                    continue
                seen.add(marker)
                counts.setdefault(marker, (v, []))[1].append(hit)
        ordered = sorted(counts.values(), key=lambda kv: (-len(kv[1]), _rank(kv[0])))
        size = int(body.get("size", 10))
        buckets = []
        for key, members in ordered[:size]:
            bucket: _Json = {"key": key, "doc_count": len(members)}
            if isinstance(key, bool):
                bucket.update(key=int(key), key_as_string=str(key).lower())
            bucket.update(_aggregate(subs, members))
            buckets.append(bucket)
        other = sum(len(m) for _, m in ordered[size:])
        return {"doc_count_error_upper_bound": 0, "sum_other_doc_count": other, "buckets": buckets}
    if kind == "filter":
        members = [h for h in hits if _matches(body, h.index, h.id, h.doc.source)]
        return {"doc_count": len(members), **_aggregate(subs, members)}
    if kind == "missing":
        members = [h for h in hits if not _field_values(h.index, h.id, h.doc.source, name)]
        return {"doc_count": len(members), **_aggregate(subs, members)}
    numbers = _numbers(hits, name)
    if kind == "avg":
        return {"value": sum(numbers) / len(numbers) if numbers else None}
    if kind == "sum":
        return {"value": sum(numbers)}
    if kind == "min":
        return {"value": min(numbers) if numbers else None}
    if kind == "max":
        return {"value": max(numbers) if numbers else None}
    if kind == "stats":
        return {
            "count": len(numbers),
            "min": min(numbers) if numbers else None,
            "max": max(numbers) if numbers else None,
            "avg": sum(numbers) / len(numbers) if numbers else None,
            "sum": sum(numbers),
        }
    if kind in ("value_count", "cardinality"):
        found = [
            json.dumps(v, sort_keys=True)
            for h in hits
            for v in _field_values(h.index, h.id, h.doc.source, name)
        ]
        return {"value": len(found) if kind == "value_count" else len(set(found))}
    if kind in _BUCKET_AGGS:
        return {"buckets": []}
    return {"value": None}


# --------------------------------------------------------------------------- scripts


_ASSIGN_RE = re.compile(r"^ctx\._source\.([\w.]+)\s*(=|\+=|-=)\s*(.+)$", re.S)
_CALL_RE = re.compile(r"^ctx\._source\.([\w.]+)\.(add|remove)\((.*)\)$", re.S)
_REMOVE_RE = re.compile(r"^ctx\._source\.remove\(\s*(.+?)\s*\)$")
_OP_RE = re.compile(r"^ctx\.op\s*=\s*(.+)$")


def _script_value(expr: str, params: Mapping[str, Any]) -> Any:
    expr = expr.strip()
    m = re.fullmatch(r"params(?:\.([\w.]+)|\[['\"](.+?)['\"]\])", expr)
    if m:
        name = m.group(1) or m.group(2)
        found = _values(dict(params), name)
        return copy.deepcopy(params.get(name, found[0] if found else None))
    if len(expr) >= 2 and expr[0] == expr[-1] and expr[0] in "'\"":
        return expr[1:-1]
    try:
        return json.loads(expr)
    except ValueError:
        return None


def _container(source: _Json, path: str) -> Tuple[_Json, str]:
    *parents, leaf = path.split(".")
    node = source
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    return node, leaf


def _apply_script(source: _Json, script: Any, stored: Mapping[str, Any]) -> str:
    """Run the few Painless shapes tests use (assign, +=, -=, add, remove, ctx.op).

    Mutates ``source`` and returns the operation: "index", "noop" or "delete". Statements it
    does not understand are skipped: this is no Painless interpreter.
    """
    params: Mapping[str, Any] = {}
    if isinstance(script, str):
        code = script
    elif isinstance(script, dict):
        if "id" in script:
            stored_script = stored.get(str(script["id"]))
            if stored_script is None:
                raise _EsError(
                    404, "resource_not_found_exception", f"unable to find script [{script['id']}]"
                )
            code = str(stored_script.get("source", ""))
        else:
            code = str(script.get("source", script.get("inline", "")))
        params = script.get("params") or {}
    else:
        return "index"
    op = "index"
    for statement in (s.strip() for s in code.split(";")):
        if m := _ASSIGN_RE.match(statement):
            node, leaf = _container(source, m.group(1))
            value = _script_value(m.group(3), params)
            if m.group(2) == "=":
                node[leaf] = value
            elif m.group(2) == "+=":
                current = node.get(leaf)
                node[leaf] = value if current is None else current + value
            else:
                node[leaf] = (node.get(leaf) or 0) - value
        elif m := _REMOVE_RE.match(statement):
            node, leaf = _container(source, str(_script_value(m.group(1), params)))
            node.pop(leaf, None)
        elif m := _CALL_RE.match(statement):
            node, leaf = _container(source, m.group(1))
            items = node.setdefault(leaf, [])
            value = _script_value(m.group(3), params)
            if isinstance(items, list):
                if m.group(2) == "add":
                    items.append(value)
                elif value in items:
                    items.remove(value)
        elif m := _OP_RE.match(statement):
            op = str(_script_value(m.group(1), params))
    return op


def _render_template(template: Any, params: Mapping[str, Any]) -> _Json:
    """Render a mustache search template (``{{name}}`` and ``{{#toJson}}name{{/toJson}}``)."""
    text = template if isinstance(template, str) else json.dumps(template)

    def lookup(name: str) -> Any:
        found = _values(dict(params), name.strip())
        return found[0] if len(found) == 1 else (found or "")

    text = re.sub(
        r"\{\{#toJson\}\}(.+?)\{\{/toJson\}\}", lambda m: json.dumps(lookup(m.group(1))), text
    )
    text = re.sub(r"\{\{\s*([\w.]+)\s*\}\}", lambda m: str(lookup(m.group(1))), text)
    try:
        rendered = json.loads(text)
    except ValueError as exc:
        raise _bad_request(
            f"failed to parse rendered template: {exc}", "x_content_parse_exception"
        ) from None
    if not isinstance(rendered, dict):
        raise _bad_request(
            "the rendered template is not a JSON object", "x_content_parse_exception"
        )
    return rendered


# --------------------------------------------------------------------------- the server


class ElasticsearchStandIn:
    """An in-memory Elasticsearch on 127.0.0.1 for tests: ``async with ElasticsearchStandIn()``.

    ``cloud_headers`` adds the ``X-Found-Handling-Cluster`` / ``X-Found-Handling-Instance``
    headers Elastic Cloud's proxy sets (values in ``cloud_cluster`` / ``cloud_instance``);
    ``product_header=False`` leaves out ``X-Elastic-Product`` so the client refuses the server;
    ``version`` is what ``GET /`` reports.
    """

    def __init__(
        self, *, cloud_headers: bool = False, product_header: bool = True, version: str = "9.1.0"
    ) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.cloud_headers = cloud_headers
        self.product_header = product_header
        self.version = version
        self.faults = FaultPlan()
        self.requests: List[RecordedRequest] = []
        self.cluster_name = "stand-in"
        self.cluster_uuid = _new_id()[:22]
        self.node_name = "stand-in-node-1"
        self.node_id = _new_id()[:22]
        self.cloud_cluster = uuid.uuid4().hex
        self.cloud_instance = "instance-0000000001"
        self._indices: Dict[str, _Index] = {}
        self._scrolls: Dict[str, _Cursor] = {}
        self._pits: Dict[str, List[_Source]] = {}
        self._async_searches: Dict[str, _Json] = {}
        self._scripts: Dict[str, _Json] = {}
        self._task_ids = itertools.count(1)
        self._lock = threading.Lock()  # the store is shared with reset() from other threads
        self._runner: Optional[web.AppRunner] = None
        self._stopping: Optional[asyncio.Event] = None
        self._routes = self._build_routes()

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the stand-in is already running")
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=100 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is None:
            return
        if self._stopping is not None:
            self._stopping.set()  # let delayed answers go out now instead of holding shutdown
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> ElasticsearchStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def reset(self) -> None:
        """Forget all indices, documents, scrolls, points in time, faults and requests."""
        with self._lock:
            self._indices.clear()
            self._scrolls.clear()
            self._pits.clear()
            self._async_searches.clear()
            self._scripts.clear()
        self.faults.clear()
        self.requests.clear()

    # ------------------------------------------------------------------ HTTP plumbing

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        method = request.method.upper()
        self.requests.append(
            RecordedRequest(
                method=method,
                path=request.path,
                query=dict(request.query),
                headers=_Headers(request.headers.items()),
                body=body,
            )
        )
        fault = self.faults.take(method, request.path)
        extra = dict(fault.headers) if fault else {}
        if fault and fault.delay > 0:
            await self._pause(fault.delay)
        if fault and fault.drop:
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)  # never sent: the connection is gone
        if fault and fault.malformed:
            headers = self._headers(request, extra)
            headers["Content-Type"] = self._content_type(request)
            return web.Response(status=200, body=_MALFORMED_BODY, headers=headers)
        if fault and (fault.status is not None or fault.body is not None):
            status = fault.status if fault.status is not None else 200
            return self._respond(request, status, self._fault_body(fault, status), extra)
        with self._lock:
            status, payload = self._dispatch(request, method, body)
        return self._respond(request, status, payload, extra)

    async def _pause(self, seconds: float) -> None:
        assert self._stopping is not None
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass

    @staticmethod
    def _fault_body(fault: _Fault, status: int) -> Any:
        if fault.body is not None:
            return fault.body
        type_ = _ERROR_TYPES.get(status, "exception")
        return _EsError(status, type_, f"stand-in fault: HTTP {status} [{type_}]").body()

    def _dispatch(self, request: web.Request, method: str, body: bytes) -> _Reply:
        segments = [unquote(s) for s in request.rel_url.raw_path.split("/") if s]
        allowed: List[str] = []
        content_type = request.headers.get("Content-Type", "")
        try:
            if body.strip() and content_type and not _ACCEPTED_BODY_TYPES.match(content_type):
                return 406, {
                    "error": f"Content-Type header [{content_type}] is not supported",
                    "status": 406,
                }
            for route in self._routes:
                params = route.match(segments)
                if params is None:
                    continue
                if method not in route.methods and not (
                    method == "HEAD" and "GET" in route.methods
                ):
                    allowed.extend(route.methods)
                    continue
                call = _Call(method, request.path, params, dict(request.query), body)
                return route.handler(call)
            if allowed:
                uri = request.path
                allowed_list = ",".join(sorted(set(allowed)))
                return 405, {
                    "error": f"Incorrect HTTP method for uri [{uri}] and method [{method}], "
                    f"allowed: [{allowed_list}]",
                    "status": 405,
                }
            raise _EsError(
                404,
                "resource_not_found_exception",
                f"no handler found for uri [{request.path}] and method [{method}]",
            )
        except _EsError as exc:
            return exc.status, exc.body()

    def _headers(self, request: web.Request, extra: Mapping[str, str]) -> Dict[str, str]:
        headers: Dict[str, str] = {}
        if self.product_header:
            headers["X-Elastic-Product"] = "Elasticsearch"
        if self.cloud_headers:
            headers["X-Found-Handling-Cluster"] = self.cloud_cluster
            headers["X-Found-Handling-Instance"] = self.cloud_instance
        opaque_id = request.headers.get("X-Opaque-Id")
        if opaque_id:
            headers["X-Opaque-Id"] = opaque_id
        headers.update(extra)
        return headers

    @staticmethod
    def _content_type(request: web.Request) -> str:
        """Answer in the compatibility mimetype the client asked for, like Elasticsearch does."""
        wanted = request.headers.get("Accept", "") or request.headers.get("Content-Type", "")
        m = _COMPAT_RE.search(wanted)
        if m:
            return f"application/vnd.elasticsearch+json;compatible-with={m.group(1)}"
        return "application/json"

    def _respond(
        self, request: web.Request, status: int, payload: Any, extra: Mapping[str, str]
    ) -> web.Response:
        headers = self._headers(request, extra)
        headers.setdefault("Content-Type", self._content_type(request))
        if request.method.upper() == "HEAD" or payload is None:
            return web.Response(status=status, headers=headers)
        if isinstance(payload, bytes):
            data = payload
        elif isinstance(payload, str):
            data = payload.encode()
        else:
            data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return web.Response(status=status, body=data, headers=headers)

    # ------------------------------------------------------------------ routing table

    def _build_routes(self) -> List[_Route]:
        get, post, put, delete = ("GET",), ("POST",), ("PUT",), ("DELETE",)
        read = ("GET", "POST")
        write = ("PUT", "POST")
        table: List[Tuple[Tuple[str, ...], str, _Handler]] = [
            (get, "", self._info),
            (read, "_search", self._search),
            (read, "{index}/_search", self._search),
            (read, "_count", self._count),
            (read, "{index}/_count", self._count),
            (read, "_msearch", self._msearch),
            (read, "{index}/_msearch", self._msearch),
            (read, "_search/template", self._search_template),
            (read, "{index}/_search/template", self._search_template),
            (read, "_msearch/template", self._msearch_template),
            (read, "{index}/_msearch/template", self._msearch_template),
            (read, "_search/scroll", self._scroll),
            (read, "_search/scroll/{scroll_id}", self._scroll),
            (delete, "_search/scroll", self._clear_scroll),
            (delete, "_search/scroll/{scroll_id}", self._clear_scroll),
            (write, "_bulk", self._bulk),
            (write, "{index}/_bulk", self._bulk),
            (read, "_mget", self._mget),
            (read, "{index}/_mget", self._mget),
            (post, "{index}/_delete_by_query", self._delete_by_query),
            (post, "{index}/_update_by_query", self._update_by_query),
            (post, "_async_search", self._async_search_submit),
            (post, "{index}/_async_search", self._async_search_submit),
            (get, "_async_search/status/{id}", self._async_search_status),
            (get, "_async_search/{id}", self._async_search_get),
            (delete, "_async_search/{id}", self._async_search_delete),
            (read, "{index}/_eql/search", self._eql_search),
            (post, "_query", self._esql_query),
            (read, "{index}/_terms_enum", self._terms_enum),
            (post, "{index}/_pit", self._open_pit),
            (delete, "_pit", self._close_pit),
            (get, "_cluster/health", self._cluster_health),
            (get, "_cluster/health/{index}", self._cluster_health),
            (get, "_cluster/state", self._cluster_state),
            (get, "_cluster/state/{metric}", self._cluster_state),
            (get, "_cluster/state/{metric}/{index}", self._cluster_state),
            (get, "_data_stream", self._get_data_stream),
            (get, "_data_stream/{name}", self._get_data_stream),
            (write, "_scripts/{id}", self._put_script),
            (get, "_scripts/{id}", self._get_script),
            (delete, "_scripts/{id}", self._delete_script),
            (get, "_mapping", self._get_mapping),
            (get, "{index}/_mapping", self._get_mapping),
            (write, "{index}/_mapping", self._put_mapping),
            (get, "_settings", self._get_settings),
            (get, "{index}/_settings", self._get_settings),
            (put, "_settings", self._put_settings),
            (put, "{index}/_settings", self._put_settings),
            (read, "_refresh", self._refresh),
            (read, "{index}/_refresh", self._refresh),
            (post, "{index}/_open", self._open_index),
            (post, "{index}/_close", self._close_index),
            (put, "{index}", self._create_index),
            (get, "{index}", self._get_index),
            (delete, "{index}", self._delete_index),
            (write, "{index}/_doc/{id}", self._index_doc),
            (post, "{index}/_doc", self._index_doc),
            (get, "{index}/_doc/{id}", self._get_doc),
            (delete, "{index}/_doc/{id}", self._delete_doc),
            (write, "{index}/_create/{id}", self._create_doc),
            (post, "{index}/_update/{id}", self._update_doc),
            (get, "{index}/_source/{id}", self._get_source),
        ]
        return [
            _Route(methods, tuple(t for t in template.split("/") if t), handler)
            for methods, template, handler in table
        ]

    # ------------------------------------------------------------------ index resolution

    def _resolve(
        self,
        expression: Optional[str],
        *,
        ignore_unavailable: bool = False,
        allow_no_indices: bool = True,
    ) -> List[_Index]:
        """Indices named by a comma-separated list of names, aliases, wildcards and -exclusions."""
        ordered = [self._indices[name] for name in sorted(self._indices)]
        if not expression or expression in ("_all", "*"):
            return [i for i in ordered if not i.name.startswith(".")]
        chosen: Dict[str, _Index] = {}
        for part in (p.strip() for p in expression.split(",")):
            if not part:
                continue
            if part.startswith("-") and chosen:
                for name in [n for n in chosen if fnmatch.fnmatchcase(n, part[1:])]:
                    del chosen[name]
            elif "*" in part or "?" in part:
                for index in ordered:
                    names = [index.name, *index.aliases]
                    if any(fnmatch.fnmatchcase(n, part) for n in names):
                        if part.startswith(".") or not index.name.startswith("."):
                            chosen[index.name] = index
            else:
                found = [i for i in ordered if i.name == part or part in i.aliases]
                if not found and not ignore_unavailable:
                    raise _index_not_found(part)
                chosen.update((i.name, i) for i in found)
        if not chosen and not allow_no_indices:
            raise _index_not_found(expression)
        return list(chosen.values())

    def _resolve_call(self, call: _Call, expression: Optional[str] = None) -> List[_Index]:
        indices = self._resolve(
            expression if expression is not None else call.params.get("index"),
            ignore_unavailable=call.flag("ignore_unavailable"),
            allow_no_indices=call.flag("allow_no_indices", True),
        )
        for index in indices:
            if index.closed:
                raise _EsError(
                    400,
                    "index_closed_exception",
                    "closed",
                    index_uuid=index.uuid,
                    index=index.name,
                )
        return indices

    def _concrete(self, name: str) -> _Index:
        """A single existing, open index (or the index behind a single-index alias)."""
        indices = self._resolve(name)
        if len(indices) != 1:
            if not indices:
                raise _index_not_found(name)
            raise _bad_request(f"[{name}] resolves to more than one index")
        index = indices[0]
        if index.closed:
            raise _EsError(
                400, "index_closed_exception", "closed", index_uuid=index.uuid, index=index.name
            )
        return index

    def _for_write(self, name: str) -> _Index:
        """The index a write goes to, created on the fly as Elasticsearch does."""
        if name in self._indices or any(name in i.aliases for i in self._indices.values()):
            return self._concrete(name)
        return self._new_index(name, {})

    def _new_index(self, name: str, body: Mapping[str, Any]) -> _Index:
        _validate_index_name(name)
        if name in self._indices:
            existing = self._indices[name]
            raise _EsError(
                400,
                "resource_already_exists_exception",
                f"index [{name}/{existing.uuid}] already exists",
                index_uuid=existing.uuid,
                index=name,
            )
        index_uuid = _new_id()[:22]
        settings: Dict[str, Any] = {
            "number_of_shards": "1",
            "number_of_replicas": "1",
            "routing.allocation.include._tier_preference": "data_content",
            "provided_name": name,
            "creation_date": str(_now_ms()),
            "uuid": index_uuid,
            "version.created": _version_id(self.version),
        }
        raw_settings = body.get("settings") or {}
        settings.update({k: v for k, v in _flat_settings(raw_settings).items() if v is not None})
        mappings = copy.deepcopy(body.get("mappings") or {})
        index = _Index(
            name, index_uuid, settings, mappings, copy.deepcopy(body.get("aliases") or {})
        )
        self._indices[name] = index
        return index

    # ------------------------------------------------------------------ documents

    def _write_result(self, index: _Index, doc_id: str, doc: _Doc, result: str) -> _Json:
        return {
            "_index": index.name,
            "_id": doc_id,
            "_version": doc.version,
            "result": result,
            "_shards": dict(_NOOP_SHARDS if result == "noop" else _WRITE_SHARDS),
            "_seq_no": doc.seq_no,
            "_primary_term": doc.primary_term,
        }

    @staticmethod
    def _conflict(index: _Index, reason: str) -> _EsError:
        return _EsError(
            409,
            "version_conflict_engine_exception",
            reason,
            index_uuid=index.uuid,
            shard="0",
            index=index.name,
        )

    def _check_seq_no(
        self,
        index: _Index,
        doc_id: str,
        if_seq_no: Optional[int],
        if_primary_term: Optional[int],
    ) -> None:
        if if_seq_no is None and if_primary_term is None:
            return
        existing = index.docs.get(doc_id)
        wanted = f"required seqNo [{if_seq_no}], primary term [{if_primary_term}]"
        if existing is None:
            raise self._conflict(
                index, f"[{doc_id}]: version conflict, {wanted}. but no document was found"
            )
        if (if_seq_no is not None and existing.seq_no != if_seq_no) or (
            if_primary_term is not None and existing.primary_term != if_primary_term
        ):
            raise self._conflict(
                index,
                f"[{doc_id}]: version conflict, {wanted}. current document has seqNo "
                f"[{existing.seq_no}] and primary term [{existing.primary_term}]",
            )

    def _store(
        self,
        index: _Index,
        doc_id: str,
        source: Any,
        *,
        op_type: str = "index",
        if_seq_no: Optional[int] = None,
        if_primary_term: Optional[int] = None,
    ) -> _Reply:
        if not isinstance(source, dict):
            raise _bad_request(
                "failed to parse: the document source must be a JSON object",
                "document_parsing_exception",
            )
        existing = index.docs.get(doc_id)
        if op_type == "create" and existing is not None:
            raise self._conflict(
                index,
                f"[{doc_id}]: version conflict, document already exists "
                f"(current version [{existing.version}])",
            )
        self._check_seq_no(index, doc_id, if_seq_no, if_primary_term)
        _dynamic_update(index, source)
        doc = _Doc(source, existing.version + 1 if existing else 1, index.next_seq_no())
        index.docs[doc_id] = doc
        if existing is None:
            return 201, self._write_result(index, doc_id, doc, "created")
        return 200, self._write_result(index, doc_id, doc, "updated")

    def _remove(
        self,
        index: _Index,
        doc_id: str,
        if_seq_no: Optional[int] = None,
        if_primary_term: Optional[int] = None,
    ) -> _Reply:
        self._check_seq_no(index, doc_id, if_seq_no, if_primary_term)
        existing = index.docs.pop(doc_id, None)
        if existing is None:
            ghost = _Doc({}, 1, index.next_seq_no())
            return 404, self._write_result(index, doc_id, ghost, "not_found")
        doc = _Doc({}, existing.version + 1, index.next_seq_no())
        return 200, self._write_result(index, doc_id, doc, "deleted")

    def _apply_update(
        self,
        index: _Index,
        doc_id: str,
        body: _Json,
        *,
        if_seq_no: Optional[int] = None,
        if_primary_term: Optional[int] = None,
        want_source: bool = False,
    ) -> _Reply:
        self._check_seq_no(index, doc_id, if_seq_no, if_primary_term)
        existing = index.docs.get(doc_id)
        if existing is None:
            if body.get("doc_as_upsert") and isinstance(body.get("doc"), dict):
                status, result = self._store(index, doc_id, copy.deepcopy(body["doc"]))
            elif isinstance(body.get("upsert"), dict):
                status, result = self._store(index, doc_id, copy.deepcopy(body["upsert"]))
            else:
                raise _EsError(
                    404,
                    "document_missing_exception",
                    f"[{doc_id}]: document missing",
                    index_uuid=index.uuid,
                    shard="0",
                    index=index.name,
                )
        else:
            source = copy.deepcopy(existing.source)
            op = "index"
            if isinstance(body.get("doc"), dict):
                _deep_merge(source, body["doc"])
            if body.get("script") is not None:
                op = _apply_script(source, body["script"], self._scripts)
            if op == "delete":
                status, result = self._remove(index, doc_id)
            elif op == "noop" or (source == existing.source and body.get("detect_noop", True)):
                status, result = 200, self._write_result(index, doc_id, existing, "noop")
            else:
                status, result = self._store(index, doc_id, source)
                status = 200
        if want_source and doc_id in index.docs:
            doc = index.docs[doc_id]
            result["get"] = {
                "_seq_no": doc.seq_no,
                "_primary_term": doc.primary_term,
                "found": True,
                "_source": copy.deepcopy(doc.source),
            }
        return status, result

    def _doc_body(
        self, index: _Index, doc_id: str, source_spec: Optional[Tuple[List[str], List[str]]]
    ) -> _Reply:
        doc = index.docs.get(doc_id)
        if doc is None:
            return 404, {"_index": index.name, "_id": doc_id, "found": False}
        body: _Json = {
            "_index": index.name,
            "_id": doc_id,
            "_version": doc.version,
            "_seq_no": doc.seq_no,
            "_primary_term": doc.primary_term,
            "found": True,
        }
        rendered = _render_source(doc.source, source_spec)
        if rendered is not None:
            body["_source"] = rendered
        return 200, body

    # ------------------------------------------------------------------ search engine

    def _collect(self, sources: List[_Source], body: _Json, query: Mapping[str, str]) -> List[_Hit]:
        """Every hit of a search, filtered and sorted, before paging."""
        q = body.get("query")
        if q is None and query.get("q"):
            q = _q_param_query(query["q"])
        hits: List[_Hit] = []
        ordinal = 0
        for name, docs in sources:
            for doc_id, doc in docs.items():
                if _matches(q, name, doc_id, doc.source):
                    hits.append(_Hit(name, doc_id, doc, ordinal))
                ordinal += 1
        keys = self._sort_keys(body, query)
        if keys:
            for hit in hits:
                hit.sort = [_sort_value(hit, key) for key in keys]
            hits.sort(
                key=functools.cmp_to_key(
                    lambda a, b: _compare_sort(a.sort, b.sort, keys) or (a.ordinal - b.ordinal)
                )
            )
            if not body.get("track_scores") and all(k.field != "_score" for k in keys):
                for hit in hits:
                    hit.score = None
        after = body.get("search_after")
        if after is not None:
            if not keys:
                raise _bad_request("Sort must contain at least one field.", "parsing_exception")
            hits = [h for h in hits if _compare_sort(h.sort, list(after), keys) > 0]
        return hits

    @staticmethod
    def _sort_keys(body: _Json, query: Mapping[str, str]) -> List[_SortKey]:
        spec = body.get("sort", query.get("sort"))
        if spec is None and "pit" in body:
            spec = "_shard_doc"
        return _parse_sort(spec)

    @staticmethod
    def _paging(body: _Json, query: Mapping[str, str]) -> Tuple[int, int]:
        try:
            size = int(body.get("size", query.get("size", _DEFAULT_SIZE)))
            start = int(body.get("from", query.get("from", 0)))
        except (TypeError, ValueError):
            raise _bad_request("[size] and [from] must be integers") from None
        if size < 0 or start < 0:
            raise _bad_request("[from] and [size] must not be negative")
        return start, size

    def _hits_body(
        self, page: List[_Hit], total: int, body: _Json, query: Mapping[str, str]
    ) -> _Json:
        source_spec = _query_source_filter(query, body.get("_source"))
        hits = []
        for hit in page:
            item: _Json = {"_index": hit.index, "_id": hit.id, "_score": hit.score}
            if body.get("version") or query.get("version") == "true":
                item["_version"] = hit.doc.version
            if body.get("seq_no_primary_term") or query.get("seq_no_primary_term") == "true":
                item["_seq_no"] = hit.doc.seq_no
                item["_primary_term"] = hit.doc.primary_term
            rendered = _render_source(hit.doc.source, source_spec)
            if rendered is not None:
                item["_source"] = rendered
            if hit.sort:
                item["sort"] = list(hit.sort)
            hits.append(item)
        scores = [h.score for h in page if h.score is not None]
        out: _Json = {"max_score": max(scores) if scores else None, "hits": hits}
        track = body.get("track_total_hits", query.get("track_total_hits", _TOTAL_HITS_CAP))
        if query.get("rest_total_hits_as_int") == "true":
            out = {"total": total, **out}
        elif str(track).lower() != "false":
            cap = None if str(track).lower() == "true" else int(track)
            if cap is not None and total > cap:
                out = {"total": {"value": cap, "relation": "gte"}, **out}
            else:
                out = {"total": {"value": total, "relation": "eq"}, **out}
        return out

    def _search_body(
        self,
        sources: List[_Source],
        body: _Json,
        query: Mapping[str, str],
        *,
        shards: int,
        scroll: bool = False,
    ) -> _Json:
        started = time.monotonic()
        hits = self._collect(sources, body, query)
        start, size = self._paging(body, query)
        page = hits[start : start + size]
        result: _Json = {
            "took": 0,
            "timed_out": False,
            "_shards": {"total": shards, "successful": shards, "skipped": 0, "failed": 0},
            "hits": self._hits_body(page, len(hits), body, query),
        }
        aggs = body.get("aggs") or body.get("aggregations")
        if isinstance(aggs, dict):
            result["aggregations"] = _aggregate(aggs, hits)
        if scroll:
            scroll_id = _opaque_id("scroll")
            self._scrolls[scroll_id] = _Cursor(hits, start + size, size, body, dict(query), shards)
            result = {"_scroll_id": scroll_id, **result}
        if isinstance(body.get("pit"), dict):
            result = {"pit_id": body["pit"].get("id"), **result}
        result["took"] = int((time.monotonic() - started) * 1000)
        return result

    def _run_search(self, call: _Call, body: _Json, index: Optional[str] = None) -> _Json:
        pit = body.get("pit")
        if isinstance(pit, dict):
            if call.params.get("index"):
                raise _bad_request(
                    "Validation Failed: 1: [indices] cannot be used with point in time;",
                    "action_request_validation_exception",
                )
            sources = self._pits.get(str(pit.get("id")))
            if sources is None:
                raise _EsError(
                    404,
                    "search_context_missing_exception",
                    f"No search context found for id [{pit.get('id')}]",
                )
            shards = len(sources)
        else:
            indices = self._resolve_call(call, index)
            sources = [(i.name, i.docs) for i in indices]
            shards = sum(i.shards for i in indices)
        scroll = bool(call.query.get("scroll"))
        return self._search_body(sources, body, call.query, shards=shards, scroll=scroll)

    # ------------------------------------------------------------------ handlers: root, search

    def _info(self, call: _Call) -> _Reply:
        if call.method == "HEAD":
            return 200, None
        major = int(re.findall(r"\d+", self.version)[0]) if re.search(r"\d", self.version) else 9
        return 200, {
            "name": self.node_name,
            "cluster_name": self.cluster_name,
            "cluster_uuid": self.cluster_uuid,
            "version": {
                "number": self.version,
                "build_flavor": "default",
                "build_type": "docker",
                "build_hash": "0" * 40,
                "build_date": "2025-01-01T00:00:00.000000000Z",
                "build_snapshot": False,
                "lucene_version": "10.2.2" if major >= 9 else "9.12.0",
                "minimum_wire_compatibility_version": f"{major - 1}.18.0",
                "minimum_index_compatibility_version": f"{major - 1}.0.0",
            },
            "tagline": "You Know, for Search",
        }

    def _search(self, call: _Call) -> _Reply:
        return 200, self._run_search(call, call.json())

    def _count(self, call: _Call) -> _Reply:
        body = call.json()
        indices = self._resolve_call(call)
        sources = [(i.name, i.docs) for i in indices]
        hits = self._collect(sources, {"query": body.get("query")}, call.query)
        shards = sum(i.shards for i in indices)
        return 200, {
            "count": len(hits),
            "_shards": {"total": shards, "successful": shards, "skipped": 0, "failed": 0},
        }

    def _msearch(self, call: _Call) -> _Reply:
        return self._multi(call, lambda header, body: self._run_search(call, body, header))

    def _search_template(self, call: _Call) -> _Reply:
        body = self._template_body(call.json(required=True))
        return 200, self._run_search(call, body)

    def _msearch_template(self, call: _Call) -> _Reply:
        def one(header: Optional[str], template: _Json) -> _Json:
            return self._run_search(call, self._template_body(template), header)

        return self._multi(call, one)

    def _template_body(self, request: _Json) -> _Json:
        source = request.get("source")
        if source is None and "id" in request:
            stored = self._scripts.get(str(request["id"]))
            if stored is None:
                raise _EsError(
                    404, "resource_not_found_exception", f"unable to find script [{request['id']}]"
                )
            source = stored.get("source")
        if source is None:
            raise _bad_request("template is missing", "action_request_validation_exception")
        return _render_template(source, request.get("params") or {})

    def _multi(self, call: _Call, run: Callable[[Optional[str], _Json], _Json]) -> _Reply:
        lines = call.ndjson()
        if len(lines) % 2:
            raise _bad_request("The msearch request must be terminated by a newline [\\n]")
        started = time.monotonic()
        responses: List[_Json] = []
        for header, body in zip(lines[::2], lines[1::2]):
            if not isinstance(header, dict) or not isinstance(body, dict):
                raise _bad_request("msearch header and body lines must be JSON objects")
            target = header.get("index")
            if isinstance(target, list):
                target = ",".join(str(t) for t in target)
            try:
                responses.append({**run(target, body), "status": 200})
            except _EsError as exc:
                responses.append(exc.body())
        return 200, {"took": int((time.monotonic() - started) * 1000), "responses": responses}

    def _scroll(self, call: _Call) -> _Reply:
        body = call.json()
        scroll_id = (
            body.get("scroll_id") or call.params.get("scroll_id") or call.query.get("scroll_id")
        )
        cursor = self._scrolls.get(str(scroll_id))
        if cursor is None:
            raise _EsError(
                404,
                "search_context_missing_exception",
                f"No search context found for id [{scroll_id}]",
            )
        page = cursor.hits[cursor.position : cursor.position + cursor.size]
        cursor.position += cursor.size
        shards = cursor.shards
        return 200, {
            "_scroll_id": scroll_id,
            "took": 0,
            "timed_out": False,
            "_shards": {"total": shards, "successful": shards, "skipped": 0, "failed": 0},
            "hits": self._hits_body(page, len(cursor.hits), cursor.body, cursor.query),
        }

    def _clear_scroll(self, call: _Call) -> _Reply:
        body = call.json()
        wanted = _as_list(body.get("scroll_id") or call.params.get("scroll_id"))
        ids = [i for w in wanted for i in str(w).split(",")]
        if "_all" in ids:
            freed = len(self._scrolls)
            self._scrolls.clear()
        else:
            freed = sum(1 for i in ids if self._scrolls.pop(i, None) is not None)
        return (200 if freed or not ids else 404), {"succeeded": True, "num_freed": freed}

    # ------------------------------------------------------------------ handlers: bulk and multi-doc

    def _bulk(self, call: _Call) -> _Reply:
        started = time.monotonic()
        lines = call.ndjson()
        if not lines:
            raise _bad_request(
                "Validation Failed: 1: no requests added;", "action_request_validation_exception"
            )
        items: List[_Json] = []
        position = 0
        while position < len(lines):
            action = lines[position]
            position += 1
            if not isinstance(action, dict) or len(action) != 1:
                raise _bad_request(
                    f"Malformed action/metadata line [{position}], expected a single action"
                )
            ((op, meta),) = action.items()
            if op not in ("index", "create", "update", "delete") or not isinstance(meta, dict):
                raise _bad_request(
                    f"Malformed action/metadata line [{position}], expected one of "
                    f"[create, delete, index, update] but found [{op}]"
                )
            source = None
            if op != "delete":
                if position >= len(lines):
                    raise _bad_request(f"Missing source line for the [{op}] action")
                source = lines[position]
                position += 1
            items.append({op: self._bulk_item(call, op, meta, source)})
        errors = any("error" in next(iter(item.values())) for item in items)
        took = int((time.monotonic() - started) * 1000)
        return 200, {"errors": errors, "took": took, "items": items}

    def _bulk_item(self, call: _Call, op: str, meta: _Json, source: Any) -> _Json:
        name = str(meta.get("_index") or call.params.get("index") or "")
        doc_id = str(meta["_id"]) if meta.get("_id") is not None else None
        if not name:
            return {
                "_index": None,
                "_id": doc_id,
                "status": 400,
                "error": {
                    "type": "action_request_validation_exception",
                    "reason": "index is missing",
                },
            }
        if doc_id is None and op in ("index", "create"):
            doc_id = _new_id()
        if doc_id is None:
            return {
                "_index": name,
                "_id": None,
                "status": 400,
                "error": {"type": "action_request_validation_exception", "reason": "id is missing"},
            }
        failure = _fail_marker(op, source)
        try:
            index = self._for_write(name)
            if failure is not None:
                raise _EsError(
                    400,
                    failure,
                    f"stand-in was asked to fail this [{op}] action",
                    index_uuid=index.uuid,
                    shard="0",
                    index=index.name,
                )
            seq = _int_or_none(meta.get("if_seq_no", meta.get("_if_seq_no")))
            term = _int_or_none(meta.get("if_primary_term", meta.get("_if_primary_term")))
            if op == "delete":
                status, result = self._remove(index, doc_id, seq, term)
            elif op == "update":
                body = source if isinstance(source, dict) else {}
                status, result = self._apply_update(
                    index, doc_id, body, if_seq_no=seq, if_primary_term=term
                )
            else:
                status, result = self._store(
                    index, doc_id, source, op_type=op, if_seq_no=seq, if_primary_term=term
                )
        except _EsError as exc:
            return {"_index": name, "_id": doc_id, "status": exc.status, "error": exc.cause()}
        return {**result, "status": status}

    def _mget(self, call: _Call) -> _Reply:
        body = call.json(required=True)
        default_index = call.params.get("index")
        specs = body.get("docs")
        if specs is None:
            specs = [{"_id": doc_id} for doc_id in _as_list(body.get("ids"))]
        docs: List[_Json] = []
        for spec in specs:
            name = spec.get("_index", default_index)
            doc_id = str(spec.get("_id"))
            if not name:
                docs.append(
                    {
                        "_index": None,
                        "_id": doc_id,
                        "error": {
                            "type": "action_request_validation_exception",
                            "reason": "index is missing",
                        },
                    }
                )
                continue
            try:
                index = self._concrete(str(name))
                spec_filter = _query_source_filter(call.query, spec.get("_source"))
                docs.append(self._doc_body(index, doc_id, spec_filter)[1])
            except _EsError as exc:
                docs.append({"_index": name, "_id": doc_id, "error": exc.body()["error"]})
        return 200, {"docs": docs}

    def _by_query_result(self, call: _Call, **counts: int) -> _Reply:
        if not call.flag("wait_for_completion", True):
            return 200, {"task": f"{self.node_id}:{next(self._task_ids)}"}
        total = sum(counts.values())
        return 200, {
            "took": 0,
            "timed_out": False,
            "total": total,
            "updated": counts.get("updated", 0),
            "deleted": counts.get("deleted", 0),
            "batches": 1 if total else 0,
            "version_conflicts": 0,
            "noops": counts.get("noops", 0),
            "retries": {"bulk": 0, "search": 0},
            "throttled_millis": 0,
            "requests_per_second": -1.0,
            "throttled_until_millis": 0,
            "failures": [],
        }

    def _matching_docs(self, call: _Call, body: _Json) -> List[Tuple[_Index, str]]:
        indices = self._resolve_call(call)
        q = body.get("query")
        if q is None and call.query.get("q"):
            q = _q_param_query(call.query["q"])
        found = [
            (index, doc_id)
            for index in indices
            for doc_id, doc in index.docs.items()
            if _matches(q, index.name, doc_id, doc.source)
        ]
        limit = body.get("max_docs", call.query.get("max_docs"))
        return found[: int(limit)] if limit is not None else found

    def _delete_by_query(self, call: _Call) -> _Reply:
        body = call.json()
        matched = self._matching_docs(call, body)
        for index, doc_id in matched:
            self._remove(index, doc_id)
        return self._by_query_result(call, deleted=len(matched))

    def _update_by_query(self, call: _Call) -> _Reply:
        body = call.json()
        counts = {"updated": 0, "deleted": 0, "noops": 0}
        for index, doc_id in self._matching_docs(call, body):
            source = copy.deepcopy(index.docs[doc_id].source)
            op = "index"
            if body.get("script") is not None:
                op = _apply_script(source, body["script"], self._scripts)
            if op == "noop":
                counts["noops"] += 1
            elif op == "delete":
                self._remove(index, doc_id)
                counts["deleted"] += 1
            else:
                self._store(index, doc_id, source)
                counts["updated"] += 1
        return self._by_query_result(call, **counts)

    # ------------------------------------------------------------------ handlers: other searches

    def _async_search_submit(self, call: _Call) -> _Reply:
        now = _now_ms()
        response = self._run_search(call, call.json())
        result: _Json = {
            "is_partial": False,
            "is_running": False,
            "start_time_in_millis": now,
            "expiration_time_in_millis": now + 5 * 24 * 3600 * 1000,
            "completion_time_in_millis": _now_ms(),
            "response": response,
        }
        if call.flag("keep_on_completion"):
            search_id = _opaque_id("async_search")
            result = {"id": search_id, **result}
            self._async_searches[search_id] = result
        return 200, result

    def _stored_async_search(self, call: _Call) -> _Json:
        found = self._async_searches.get(call.params["id"])
        if found is None:
            raise _EsError(404, "resource_not_found_exception", call.params["id"])
        return found

    def _async_search_get(self, call: _Call) -> _Reply:
        return 200, self._stored_async_search(call)

    def _async_search_status(self, call: _Call) -> _Reply:
        found = self._stored_async_search(call)
        status = {k: v for k, v in found.items() if k != "response"}
        status["_shards"] = found["response"]["_shards"]
        status["completion_status"] = 200
        return 200, status

    def _async_search_delete(self, call: _Call) -> _Reply:
        self._stored_async_search(call)
        del self._async_searches[call.params["id"]]
        return 200, {"acknowledged": True}

    def _eql_search(self, call: _Call) -> _Reply:
        body = call.json(required=True)
        text = str(body.get("query", "")).strip()
        indices = self._resolve_call(call)
        size = int(body.get("size", 10))
        total: _Json = {"value": 0, "relation": "eq"}
        if text.lower().startswith("sequence"):
            hits: _Json = {"total": total, "sequences": []}
        else:
            m = re.match(r"^(\w+)\s+where\s+(.+)$", text, re.S | re.I)
            if not m:
                raise _bad_request(
                    f"line 1:1: no viable alternative at input '{text}'", "parsing_exception"
                )
            category, condition = m.group(1), m.group(2)
            pairs = re.findall(r"([\w.]+)\s*==\s*(\"[^\"]*\"|'[^']*'|[\w.-]+)", condition)
            events = []
            for index in indices:
                for doc_id, doc in index.docs.items():
                    if category != "any" and not any(
                        _term_equal(v, category)
                        for v in _field_values(index.name, doc_id, doc.source, "event.category")
                    ):
                        continue
                    if all(
                        any(
                            _term_equal(v, _script_value(value, {}) if value[0] in "'\"" else value)
                            for v in _field_values(index.name, doc_id, doc.source, name)
                        )
                        for name, value in pairs
                    ):
                        events.append(
                            {
                                "_index": index.name,
                                "_id": doc_id,
                                "_source": copy.deepcopy(doc.source),
                            }
                        )
            hits = {"total": {"value": len(events), "relation": "eq"}, "events": events[:size]}
        return 200, {
            "is_partial": False,
            "is_running": False,
            "took": 0,
            "timed_out": False,
            "hits": hits,
        }

    def _esql_query(self, call: _Call) -> _Reply:
        body = call.json(required=True)
        text = str(body.get("query", ""))
        columns: List[_Json] = []
        rows: List[List[Any]] = []
        source_match = re.match(r"^\s*FROM\s+([^\s|]+)", text, re.I)
        row_match = re.match(r"^\s*ROW\s+(.+?)\s*(\||$)", text, re.I | re.S)
        if source_match:
            try:
                indices = self._resolve(source_match.group(1))
            except _EsError:
                raise _EsError(
                    400,
                    "verification_exception",
                    f"Found 1 problem\nline 1:6: Unknown index [{source_match.group(1)}]",
                ) from None
            flat_docs = [_flat_doc(doc.source) for index in indices for doc in index.docs.values()]
            names = sorted({n for d in flat_docs for n in d})
            keep = re.search(r"\|\s*KEEP\s+([^|]+)", text, re.I)
            if keep:
                patterns = [p.strip() for p in keep.group(1).split(",")]
                names = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
            limit = re.search(r"\|\s*LIMIT\s+(\d+)", text, re.I)
            flat_docs = flat_docs[: int(limit.group(1)) if limit else 1000]
            columns = [
                {"name": n, "type": _esql_type([d.get(n) for d in flat_docs])} for n in names
            ]
            rows = [[d.get(n) for n in names] for d in flat_docs]
        elif row_match:
            for part in row_match.group(1).split(","):
                name, _, expr = part.partition("=")
                value = _script_value(expr, {})
                columns.append({"name": name.strip(), "type": _esql_type([value])})
            rows = [[_script_value(p.partition("=")[2], {}) for p in row_match.group(1).split(",")]]
        values: List[List[Any]] = rows
        if body.get("columnar"):
            values = [list(col) for col in zip(*rows)] if rows else [[] for _ in columns]
        return 200, {"took": 0, "is_partial": False, "columns": columns, "values": values}

    def _terms_enum(self, call: _Call) -> _Reply:
        body = call.json(required=True)
        name = body.get("field")
        if not name:
            raise _bad_request(
                "Validation Failed: 1: field cannot be null;", "action_request_validation_exception"
            )
        prefix = str(body.get("string", ""))
        insensitive = bool(body.get("case_insensitive"))
        indices = self._resolve_call(call)
        terms = set()
        for index in indices:
            for doc_id, doc in index.docs.items():
                for value in _field_values(index.name, doc_id, doc.source, str(name)):
                    if not isinstance(value, str):
                        continue
                    if value.startswith(prefix) or (
                        insensitive and value.lower().startswith(prefix.lower())
                    ):
                        terms.add(value)
        shards = sum(i.shards for i in indices)
        return 200, {
            "_shards": {"total": shards, "successful": shards, "failed": 0},
            "terms": sorted(terms)[: int(body.get("size", 10))],
            "complete": True,
        }

    def _open_pit(self, call: _Call) -> _Reply:
        if not call.query.get("keep_alive"):
            raise _bad_request(
                "Validation Failed: 1: [keep_alive] is not specified;",
                "action_request_validation_exception",
            )
        indices = self._resolve_call(call)
        pit_id = _opaque_id("pit")
        self._pits[pit_id] = [(i.name, dict(i.docs)) for i in indices]
        shards = sum(i.shards for i in indices)
        return 200, {
            "id": pit_id,
            "_shards": {"total": shards, "successful": shards, "skipped": 0, "failed": 0},
        }

    def _close_pit(self, call: _Call) -> _Reply:
        pit_id = str(call.json(required=True).get("id"))
        freed = 1 if self._pits.pop(pit_id, None) is not None else 0
        return (200 if freed else 404), {"succeeded": True, "num_freed": freed}

    # ------------------------------------------------------------------ handlers: cluster

    def _cluster_health(self, call: _Call) -> _Reply:
        try:
            indices = self._resolve(call.params.get("index"))
            timed_out = False
        except _EsError:
            indices, timed_out = [], True
        shards = sum(i.shards for i in indices)
        return (408 if timed_out else 200), {
            "cluster_name": self.cluster_name,
            "status": "red" if timed_out else "green",
            "timed_out": timed_out,
            "number_of_nodes": 1,
            "number_of_data_nodes": 1,
            "active_primary_shards": shards,
            "active_shards": shards,
            "relocating_shards": 0,
            "initializing_shards": 0,
            "unassigned_shards": 0,
            "unassigned_primary_shards": 0,
            "delayed_unassigned_shards": 0,
            "number_of_pending_tasks": 0,
            "number_of_in_flight_fetch": 0,
            "task_max_waiting_in_queue_millis": 0,
            "active_shards_percent_as_number": 100.0,
        }

    def _cluster_state(self, call: _Call) -> _Reply:
        metrics = call.params.get("metric", "_all").split(",")
        state: _Json = {"cluster_name": self.cluster_name, "cluster_uuid": self.cluster_uuid}
        if "_all" in metrics or "metadata" in metrics:
            state["metadata"] = {
                "cluster_uuid": self.cluster_uuid,
                "indices": {
                    i.name: {
                        "state": "close" if i.closed else "open",
                        "settings": {"index": _nest(i.settings)},
                        "mappings": {"_doc": copy.deepcopy(i.mappings)},
                        "aliases": sorted(i.aliases),
                    }
                    for i in self._resolve(call.params.get("index"))
                },
            }
        return 200, state

    def _get_data_stream(self, call: _Call) -> _Reply:
        name = call.params.get("name")
        if name and "*" not in name and name != "_all":
            raise _index_not_found(name)
        return 200, {"data_streams": []}

    def _put_script(self, call: _Call) -> _Reply:
        script = call.json(required=True).get("script")
        if not isinstance(script, dict) or "source" not in script:
            raise _bad_request(
                "must specify a script source", "action_request_validation_exception"
            )
        self._scripts[call.params["id"]] = copy.deepcopy(script)
        return 200, {"acknowledged": True}

    def _get_script(self, call: _Call) -> _Reply:
        script = self._scripts.get(call.params["id"])
        if script is None:
            return 404, {"_id": call.params["id"], "found": False}
        return 200, {"_id": call.params["id"], "found": True, "script": copy.deepcopy(script)}

    def _delete_script(self, call: _Call) -> _Reply:
        if self._scripts.pop(call.params["id"], None) is None:
            raise _EsError(
                404,
                "resource_not_found_exception",
                f"stored script [{call.params['id']}] does not exist",
            )
        return 200, {"acknowledged": True}

    # ------------------------------------------------------------------ handlers: indices

    def _create_index(self, call: _Call) -> _Reply:
        name = call.params["index"]
        self._new_index(name, call.json())
        return 200, {"acknowledged": True, "shards_acknowledged": True, "index": name}

    def _get_index(self, call: _Call) -> _Reply:
        indices = self._resolve(
            call.params["index"], ignore_unavailable=call.flag("ignore_unavailable")
        )
        if not indices and call.method == "HEAD":
            return 404, None
        return 200, {
            i.name: {
                "aliases": copy.deepcopy(i.aliases),
                "mappings": copy.deepcopy(i.mappings),
                "settings": {"index": _nest(i.settings)},
            }
            for i in indices
        }

    def _delete_index(self, call: _Call) -> _Reply:
        expression = call.params["index"]
        if "*" in expression or "?" in expression or expression == "_all":
            raise _bad_request(
                "Wildcard expressions or all indices are not allowed", "illegal_argument_exception"
            )
        for index in self._resolve(expression, ignore_unavailable=call.flag("ignore_unavailable")):
            del self._indices[index.name]
        return 200, {"acknowledged": True}

    def _get_mapping(self, call: _Call) -> _Reply:
        indices = self._resolve(
            call.params.get("index"), ignore_unavailable=call.flag("ignore_unavailable")
        )
        return 200, {i.name: {"mappings": copy.deepcopy(i.mappings)} for i in indices}

    def _put_mapping(self, call: _Call) -> _Reply:
        body = call.json(required=True)
        for index in self._resolve(call.params["index"]):
            for key, value in body.items():
                if key == "properties" and isinstance(value, dict):
                    _merge_properties(index.mappings.setdefault("properties", {}), value)
                else:
                    index.mappings[key] = copy.deepcopy(value)
        return 200, {"acknowledged": True}

    def _get_settings(self, call: _Call) -> _Reply:
        indices = self._resolve(
            call.params.get("index"), ignore_unavailable=call.flag("ignore_unavailable")
        )
        if call.flag("flat_settings"):
            return 200, {
                i.name: {"settings": {f"index.{k}": v for k, v in sorted(i.settings.items())}}
                for i in indices
            }
        return 200, {i.name: {"settings": {"index": _nest(i.settings)}} for i in indices}

    def _put_settings(self, call: _Call) -> _Reply:
        body = call.json(required=True)
        if set(body) == {"settings"} and isinstance(body["settings"], dict):
            body = body["settings"]
        changes = _flat_settings(body)
        indices = self._resolve(call.params.get("index"))
        for index in indices:
            static = [k for k in changes if k.startswith(_STATIC_SETTINGS)]
            if static and not index.closed:
                names = ", ".join(f"index.{k}" for k in static)
                raise _bad_request(
                    f"Can't update non dynamic settings [[{names}]] for open indices "
                    f"[[{index.name}/{index.uuid}]]"
                )
        for index in indices:
            for key, value in changes.items():
                if value is None:
                    index.settings.pop(key, None)
                else:
                    index.settings[key] = value
        return 200, {"acknowledged": True}

    def _refresh(self, call: _Call) -> _Reply:
        indices = self._resolve_call(call)
        shards = sum(i.shards for i in indices)
        return 200, {"_shards": {"total": shards * 2, "successful": shards, "failed": 0}}

    def _open_index(self, call: _Call) -> _Reply:
        for index in self._resolve(call.params["index"]):
            index.closed = False
        return 200, {"acknowledged": True, "shards_acknowledged": True}

    def _close_index(self, call: _Call) -> _Reply:
        indices = self._resolve(call.params["index"])
        for index in indices:
            index.closed = True
        return 200, {
            "acknowledged": True,
            "shards_acknowledged": True,
            "indices": {i.name: {"closed": True} for i in indices},
        }

    # ------------------------------------------------------------------ handlers: documents

    def _index_doc(self, call: _Call) -> _Reply:
        index = self._for_write(call.params["index"])
        doc_id = call.params.get("id")
        op_type = call.query.get("op_type", "index" if doc_id else "create")
        return self._store(
            index,
            doc_id or _new_id(),
            call.json(required=True),
            op_type=op_type,
            if_seq_no=call.integer("if_seq_no"),
            if_primary_term=call.integer("if_primary_term"),
        )

    def _create_doc(self, call: _Call) -> _Reply:
        index = self._for_write(call.params["index"])
        return self._store(index, call.params["id"], call.json(required=True), op_type="create")

    def _get_doc(self, call: _Call) -> _Reply:
        index = self._concrete(call.params["index"])
        return self._doc_body(index, call.params["id"], _query_source_filter(call.query))

    def _get_source(self, call: _Call) -> _Reply:
        index = self._concrete(call.params["index"])
        doc = index.docs.get(call.params["id"])
        if doc is None:
            raise _EsError(
                404,
                "resource_not_found_exception",
                f"Document not found [{index.name}]/[{call.params['id']}]",
            )
        spec = _query_source_filter(call.query) or ([], [])
        return 200, _render_source(doc.source, spec)

    def _delete_doc(self, call: _Call) -> _Reply:
        index = self._concrete(call.params["index"])
        return self._remove(
            index,
            call.params["id"],
            call.integer("if_seq_no"),
            call.integer("if_primary_term"),
        )

    def _update_doc(self, call: _Call) -> _Reply:
        index = self._for_write(call.params["index"])
        body = call.json(required=True)
        want_source = (
            call.flag("_source") if "_source" in call.query else body.get("_source") is True
        )
        return self._apply_update(
            index,
            call.params["id"],
            body,
            if_seq_no=call.integer("if_seq_no"),
            if_primary_term=call.integer("if_primary_term"),
            want_source=want_source,
        )


# --------------------------------------------------------------------------- module helpers


def _validate_index_name(name: str) -> None:
    problem = None
    if name != name.lower():
        problem = "must be lowercase"
    elif name.startswith(("_", "-", "+")):
        problem = "must not start with '_', '-', or '+'"
    elif name in (".", ".."):
        problem = "must not be '.' or '..'"
    elif any(c in name for c in '\\/*?"<>| ,#:'):
        problem = 'must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?]'
    if problem:
        raise _EsError(
            400,
            "invalid_index_name_exception",
            f"Invalid index name [{name}], {problem}",
            index_uuid="_na_",
            index=name,
        )


def _fail_marker(op: str, source: Any) -> Optional[str]:
    """The error type a bulk action asks for with a ``"_fail"`` key in its document."""
    if not isinstance(source, dict):
        return None
    candidates = [source]
    if op == "update":
        candidates += [
            v for k, v in source.items() if k in ("doc", "upsert") and isinstance(v, dict)
        ]
    for candidate in candidates:
        if "_fail" in candidate:
            return str(candidate["_fail"] or "mapper_parsing_exception")
    return None


def _int_or_none(value: Any) -> Optional[int]:
    return None if value is None else int(value)


def _flat_doc(source: Mapping[str, Any], prefix: str = "") -> _Json:
    out: _Json = {}
    for key, value in source.items():
        if isinstance(value, dict):
            out.update(_flat_doc(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _esql_type(values: List[Any]) -> str:
    for value in _flatten(values):
        if value is None:
            continue
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, int):
            return "long"
        if isinstance(value, float):
            return "double"
        if isinstance(value, str) and _infer_mapping(value) == {"type": "date"}:
            return "date"
        return "keyword"
    return "null"
