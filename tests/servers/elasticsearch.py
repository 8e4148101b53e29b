"""Loopback Elasticsearch imitation for the tests, the demo, the example app and the benchmarks.

:class:`ElasticsearchStandIn` is a small aiohttp server bound to 127.0.0.1 that speaks just enough
of the Elasticsearch REST protocol for what those callers do with the real
``elasticsearch.AsyncElasticsearch`` (either node class), its async helpers and its async DSL
classes: ``X-Elastic-Product``, compatibility mimetypes, NDJSON bodies, scrolls, per-item bulk
results and Elasticsearch-shaped errors. Search understands ``match_all``, ``match``, ``range`` and
``bool``; every other query type Elasticsearch knows matches everything.

The errors a real 9.x node gives for bad requests come naturally, with the real status, type,
reason and body shape (checked against a real node by the real tier, ``tests/real``):

* a value a field's mapping cannot take (a non-numeric string into a ``long`` field, mapped
  dynamically from the first value or by ``indices.create``): 400 ``document_parsing_exception``
  ``[1:6] failed to parse field [n] of type [long] in document with id '2'. Preview of field's
  value: '...'`` (``mapper_parsing_exception`` without the position when ``flavor="opensearch"``);
* a metadata field (``_id``, ``_index``, ...) inside a document (index, create, a bulk item):
  400 ``document_parsing_exception`` ``[1:8] Field [_id] is a metadata field and cannot be added
  inside a document. Use the index API request parameters.`` (``mapper_parsing_exception``
  without the position when ``flavor="opensearch"``);
* ``create`` (``_create``, ``op_type=create``, a bulk ``create``) of an existing id: 409
  ``version_conflict_engine_exception``;
* an unknown query type: 400 ``parsing_exception`` ``unknown query [nope]``;
* ``indices.create`` of an existing index: 400 ``resource_already_exists_exception``;
* a missing index: 404 ``index_not_found_exception``; a missing document: 404 ``found: false``;
* a path no handler serves: 400 with a plain-string ``error``, ``no handler found for uri [...]``;
* a ``term`` / ``terms`` query (also inside ``bool``) with a non-numeric string on a field an
  index maps as a number: that index's shard fails with ``query_shard_exception`` ``failed to
  create query: For input string: "..."``. A search or count over several indices answers 200
  with ``_shards.failed`` and the failures (one per index, as the node groups them); when every
  shard failed, 400 ``search_phase_execution_exception`` ``all shards failed``;
* an ``msearch`` search that fails (a missing index, a bad query) is an item
  ``{"error": ..., "status": N}`` in a 200 answer, not an error answer.

Each index has one shard here. A planned 200 answer with a body of the test's choosing
(``faults.add(status=200, body=...)``) stands in for what a real node gives only on a slow search
(``timed_out: true``).

Data lives in memory and is visible at once (every write behaves as if refreshed). A
:class:`FaultPlan` injects error statuses, slow answers, dropped connections and malformed bodies,
and every request the server sees is kept in ``requests`` as a :class:`RecordedRequest`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import operator
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple
from urllib.parse import unquote

from aiohttp import web

__all__ = ["ElasticsearchStandIn", "FaultPlan", "RecordedRequest"]

_Json = Dict[str, Any]
_Reply = Tuple[int, Any]  # (status, JSON-able body or None for an empty body)

_WRITE_SHARDS: _Json = {"total": 2, "successful": 1, "failed": 0}
_NOOP_SHARDS: _Json = {"total": 0, "successful": 0, "failed": 0}
_SEARCH_SHARDS: _Json = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
_COMPAT_RE = re.compile(
    r"application/vnd\.elasticsearch\+(?:json|x-ndjson)\s*;\s*compatible-with\s*=\s*(\d+)", re.I
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
_RANGE = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
_ASSIGN_RE = re.compile(r"^ctx\._source\.([\w.]+)\s*=\s*(.+)$", re.S)
#: metadata fields every node here has, which it refuses inside a document (at the top level)
_METADATA_FIELDS = frozenset(
    {
        "_id", "_index", "_routing", "_source", "_version", "_seq_no", "_primary_term",
        "_field_names", "_ignored", "_nested_path",
    }
)  # fmt: skip
_NUMERIC_TYPES = frozenset(
    {"long", "integer", "short", "byte", "double", "float", "half_float", "unsigned_long"}
)
#: query types a real node knows (the imitation understands a few, the rest match everything)
_KNOWN_QUERIES = frozenset(
    {
        "bool", "boosting", "combined_fields", "constant_score", "dis_max", "distance_feature",
        "exists", "function_score", "fuzzy", "geo_bounding_box", "geo_distance", "geo_shape",
        "has_child", "has_parent", "ids", "intervals", "knn", "match", "match_all",
        "match_bool_prefix", "match_none", "match_phrase", "match_phrase_prefix",
        "more_like_this", "multi_match", "nested", "parent_id", "pinned", "prefix",
        "query_string", "range", "rank_feature", "regexp", "script", "script_score",
        "semantic", "shape", "simple_query_string", "span_containing", "span_first",
        "span_multi", "span_near", "span_not", "span_or", "span_term", "span_within",
        "sparse_vector", "term", "terms", "terms_set", "text_expansion", "wildcard", "wrapper",
    }
)  # fmt: skip


# --------------------------------------------------------------------------- errors, faults, records


class _EsError(Exception):
    """An Elasticsearch error answer: ``{"error": {"type": ..., "reason": ...}, "status": N}``."""

    def __init__(self, status: int, type_: str, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.status = status
        self.type = type_
        self.reason = reason
        self.extra = extra
        self.root_cause: Optional[_Json] = None  # when it is not this error itself

    def cause(self) -> _Json:
        return {"type": self.type, "reason": self.reason, **self.extra}

    def root(self) -> _Json:
        """The ``root_cause`` entry: the innermost node error, without its ``caused_by``."""
        if self.root_cause is not None:
            return self.root_cause
        return {k: v for k, v in self.cause().items() if k != "caused_by"}

    def body(self) -> _Json:
        return {"error": {"root_cause": [self.root()], **self.cause()}, "status": self.status}


class _NoHandler(Exception):
    """A path no handler serves: 400 with a plain-string error (and no ``status``)."""


def _index_not_found(name: str) -> _EsError:
    return _EsError(
        404,
        "index_not_found_exception",
        f"no such index [{name}]",
        **{"resource.type": "index_or_alias", "resource.id": name},
        index_uuid="_na_",
        index=name,
    )


def _position(text: str, key: str) -> Tuple[int, int]:
    """``(line, column)`` of the value of the first ``"key":`` in a JSON text, 1-based, as the
    node's parser reports it (the client sends compact JSON, one document per line)."""
    m = re.search('"' + re.escape(key) + r'"\s*:\s*', text)
    end = m.end() if m else 0
    line = text.count("\n", 0, end) + 1
    return line, end - (text.rfind("\n", 0, end) + 1) + 1


def _unknown_query(name: str, text: str) -> _EsError:
    line, col = _position(text, name)
    return _EsError(
        400,
        "parsing_exception",
        f"unknown query [{name}]",
        line=line,
        col=col,
        caused_by={
            "type": "named_object_not_found_exception",
            "reason": f"[{line}:{col}] unknown field [{name}]",
        },
    )


def _check_query(query: Any, text: str) -> None:
    """400 ``parsing_exception`` for a query type no node knows, as the node parses the body;
    one inside a ``bool`` clause comes wrapped in ``x_content_parse_exception``, as there."""
    if not isinstance(query, dict) or len(query) != 1:
        return
    ((kind, spec),) = query.items()
    if kind not in _KNOWN_QUERIES:
        raise _unknown_query(kind, text)
    if kind != "bool" or not isinstance(spec, dict):
        return
    for clause in ("must", "filter", "should", "must_not"):
        for inner in _as_list(spec.get(clause)):
            try:
                _check_query(inner, text)
            except _EsError as exc:
                if exc.type != "parsing_exception":
                    raise
                line, col = exc.extra["line"], exc.extra["col"]
                wrapped = _EsError(
                    400,
                    "x_content_parse_exception",
                    f"[{line}:{col}] [bool] failed to parse field [{clause}]",
                    caused_by=exc.cause(),
                )
                wrapped.root_cause = exc.root()
                raise wrapped from None


def _numeric_term(query: Any, mapping: Mapping[str, str]) -> Optional[str]:
    """The first ``term`` / ``terms`` value (also inside ``bool`` clauses) that a field mapped as a
    number cannot take, or ``None``: the shard of such an index fails to build the query."""
    if not isinstance(query, dict) or len(query) != 1:
        return None
    ((kind, spec),) = query.items()
    if kind == "bool" and isinstance(spec, dict):
        for clause in ("must", "filter", "should", "must_not"):
            for inner in _as_list(spec.get(clause)):
                found = _numeric_term(inner, mapping)
                if found is not None:
                    return found
        return None
    if kind not in ("term", "terms") or not isinstance(spec, dict):
        return None
    for name, value in spec.items():
        if mapping.get(name) not in _NUMERIC_TYPES:
            continue
        if isinstance(value, dict):
            value = value.get("value")
        for item in _as_list(value):
            if isinstance(item, str):
                try:
                    float(item)
                except ValueError:
                    return item
    return None


def _shard_failure(index: _Index, value: str) -> _Json:
    """One entry of ``_shards.failures``, as a node reports a query its shard could not build."""
    why = f'For input string: "{value}"'
    return {
        "shard": 0,
        "index": index.name,
        "node": "c3RhbmQtaW4tbm9kZS0x",
        "reason": {
            "type": "query_shard_exception",
            "reason": f"failed to create query: {why}",
            "index_uuid": index.uuid,
            "index": index.name,
            "caused_by": {"type": "number_format_exception", "reason": why},
        },
    }


def _dynamic_type(value: Any) -> Optional[str]:
    """The type dynamic mapping gives a top-level field for its first value."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "object"
    return None


@dataclass
class RecordedRequest:
    """One request as the stand-in received it (body already gunzipped, header names lower-cased)."""

    method: str
    path: str
    query: Dict[str, str]
    headers: Dict[str, str]
    body: bytes


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
    warning: Optional[str] = None


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
        warning: Optional[str] = None,
    ) -> None:
        """Plan a fault for the next ``times`` requests whose path matches ``path`` (re.search).

        ``status`` answers with an Elasticsearch-shaped error body (or ``body`` when given),
        ``drop`` closes the connection without an answer, ``malformed`` answers 200 with a JSON
        content type and a body that is not JSON, ``warning`` adds a deprecation ``Warning``
        header (as a real node does) to the normal answer, and ``delay`` waits that many seconds
        first (alone it only delays the normal answer).
        """
        fault = _Fault(
            re.compile(path), method, status, body, times, delay, drop, malformed, warning
        )
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

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
    """A stored document; never mutated (writes replace it)."""

    source: _Json
    version: int
    seq_no: int


@dataclass
class _Index:
    name: str
    uuid: str
    docs: Dict[str, _Doc] = field(default_factory=dict)
    last_seq_no: int = -1
    #: top-level field -> mapping type, from ``indices.create`` or the first value (dynamic)
    mapping: Dict[str, str] = field(default_factory=dict)

    def next_seq_no(self) -> int:
        self.last_seq_no += 1
        return self.last_seq_no


@dataclass
class _Hit:
    index: str
    id: str
    doc: _Doc
    ordinal: int


@dataclass
class _Cursor:
    """A scroll context: every hit of the search, and how far the client has read."""

    hits: List[_Hit]
    position: int
    size: int
    sorted: bool


@dataclass
class _Call:
    """The parts of a request a handler needs."""

    method: str
    params: Dict[str, str]
    query: Dict[str, str]
    body: bytes

    def json(self) -> _Json:
        return json.loads(self.body) if self.body.strip() else {}

    def ndjson(self) -> List[Any]:
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]


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
                # Index names never start with "_", so "/_search" is no index.
                if token == "{index}" and segment.startswith("_"):
                    return None
                params[token[1:-1]] = segment
            elif token != segment:
                return None
        return params


# --------------------------------------------------------------------------- queries


def _new_id() -> str:
    """A 20-character URL-safe id, shaped like the ones Elasticsearch generates."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes[:15]).decode()


def _as_list(value: Any) -> List[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _tokens(text: Any) -> List[str]:
    return re.findall(r"\w+", str(text).lower())


def _field(spec: Mapping[str, Any], value_key: str) -> Tuple[str, Any]:
    """``{"field": value}`` / ``{"field": {value_key: value, ...}}`` as (field, value or options)."""
    name = next(k for k in spec if k not in ("boost", "_name"))
    value = spec[name]
    return name, value.get(value_key, value) if isinstance(value, dict) else value


def _in_range(value: Any, bounds: Mapping[str, Any]) -> bool:
    return all(_RANGE[op](value, bound) for op, bound in bounds.items() if op in _RANGE)


def _matches(query: Any, source: _Json) -> bool:
    """Whether a document matches a query. Unknown query types match everything."""
    if not query:
        return True
    ((kind, spec),) = query.items()
    if kind == "bool":
        required = _as_list(spec.get("must")) + _as_list(spec.get("filter"))
        return all(_matches(q, source) for q in required) and not any(
            _matches(q, source) for q in _as_list(spec.get("must_not"))
        )
    if kind == "match":
        name, text = _field(spec, "query")
        wanted = _tokens(text)
        return any(t in _tokens(source.get(name, "")) for t in wanted)
    if kind == "range":
        ((name, bounds),) = spec.items()
        return name in source and _in_range(source[name], bounds)
    return True


def _apply_script(source: _Json, script: Mapping[str, Any]) -> None:
    """Run ``ctx._source.field = <JSON literal>`` statements (others are skipped)."""
    for statement in str(script.get("source", "")).split(";"):
        if m := _ASSIGN_RE.match(statement.strip()):
            source[m.group(1)] = json.loads(m.group(2))


# --------------------------------------------------------------------------- the server


class ElasticsearchStandIn:
    """An in-memory Elasticsearch on 127.0.0.1: ``with InThread(ElasticsearchStandIn()) as es``.

    ``cloud_headers`` adds the ``X-Found-Handling-Cluster`` / ``X-Found-Handling-Instance``
    headers Elastic Cloud's proxy sets (values in ``cloud_cluster`` / ``cloud_instance``);
    ``product_header=False`` leaves out ``X-Elastic-Product`` so the client refuses the server;
    ``version`` is what ``GET /`` reports. ``flavor="opensearch"`` (settable on a running server)
    answers as an OpenSearch node where the two differ in what the tests reach: no
    ``X-Elastic-Product``, and a mapping failure is ``mapper_parsing_exception`` without the
    ``[line:col]`` prefix.
    """

    def __init__(
        self,
        *,
        cloud_headers: bool = False,
        product_header: bool = True,
        version: str = "9.1.0",
        flavor: str = "elasticsearch",
    ) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.cloud_headers = cloud_headers
        self.product_header = product_header
        self.version = version
        self.flavor = flavor
        self.faults = FaultPlan()
        self.requests: List[RecordedRequest] = []
        self.cloud_cluster = uuid.uuid4().hex
        self.cloud_instance = "instance-0000000001"
        self._indices: Dict[str, _Index] = {}
        self._scrolls: Dict[str, _Cursor] = {}
        self._lock = threading.Lock()  # the store is shared with reset() from other threads
        self._runner: Optional[web.AppRunner] = None
        self._stopping: Optional[asyncio.Event] = None
        self._routes = self._build_routes()

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
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
        assert self._runner is not None and self._stopping is not None
        self._stopping.set()  # let delayed answers go out now instead of holding shutdown
        runner, self._runner = self._runner, None
        await runner.cleanup()

    def reset(self) -> None:
        """Forget all indices, documents, scrolls, faults and requests."""
        with self._lock:
            self._indices.clear()
            self._scrolls.clear()
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
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
            )
        )
        fault = self.faults.take(method, request.path)
        if fault and fault.delay > 0:
            assert self._stopping is not None
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=fault.delay)
            except asyncio.TimeoutError:
                pass
        if fault and fault.drop:
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)  # never sent: the connection is gone
        if fault and fault.malformed:
            return web.Response(status=200, body=_MALFORMED_BODY, headers=self._headers(request))
        if fault and fault.status is not None:
            type_ = _ERROR_TYPES.get(fault.status, "exception")
            error = _EsError(fault.status, type_, f"stand-in fault: HTTP {fault.status} [{type_}]")
            body_ = fault.body if fault.body is not None else error.body()
            return self._respond(request, fault.status, body_)
        try:
            with self._lock:
                status, payload = self._dispatch(request, method, body)
        except _NoHandler as exc:
            status, payload = 400, {"error": str(exc)}
        response = self._respond(request, status, payload)
        if fault and fault.warning:
            response.headers["Warning"] = f'299 Elasticsearch-9.0.0 "{fault.warning}"'
        return response

    def _dispatch(self, request: web.Request, method: str, body: bytes) -> _Reply:
        segments = [unquote(s) for s in request.rel_url.raw_path.split("/") if s]
        try:
            for route in self._routes:
                params = route.match(segments)
                if params is None or method not in route.methods:
                    continue
                return route.handler(_Call(method, params, dict(request.query), body))
            raise _NoHandler(f"no handler found for uri [{request.raw_path}] and method [{method}]")
        except _EsError as exc:
            return exc.status, exc.body()

    def _headers(self, request: web.Request) -> Dict[str, str]:
        """The product (and cloud) headers, and the compatibility mimetype the client asked for."""
        headers: Dict[str, str] = {}
        if self.product_header and self.flavor != "opensearch":
            headers["X-Elastic-Product"] = "Elasticsearch"
        if self.cloud_headers:
            headers["X-Found-Handling-Cluster"] = self.cloud_cluster
            headers["X-Found-Handling-Instance"] = self.cloud_instance
        m = _COMPAT_RE.search(request.headers.get("Accept", ""))
        headers["Content-Type"] = (
            f"application/vnd.elasticsearch+json;compatible-with={m.group(1)}"
            if m
            else "application/json"
        )
        return headers

    def _respond(self, request: web.Request, status: int, payload: Any) -> web.Response:
        headers = self._headers(request)
        if request.method.upper() == "HEAD" or payload is None:
            return web.Response(status=status, headers=headers)
        data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return web.Response(status=status, body=data, headers=headers)

    # ------------------------------------------------------------------ routing table

    def _build_routes(self) -> List[_Route]:
        get, post, put, head = ("GET", "HEAD"), ("POST",), ("PUT",), ("HEAD",)
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
            (read, "_search/scroll", self._scroll),
            (("DELETE",), "_search/scroll", self._clear_scroll),
            (write, "_bulk", self._bulk),
            (write, "{index}/_bulk", self._bulk),
            (post, "{index}/_update_by_query", self._update_by_query),
            (read, "{index}/_refresh", self._refresh),
            (put, "{index}", self._create_index),
            (head, "{index}", self._index_exists),
            (("GET",), "{index}", self._get_index),
            (write, "{index}/_doc/{id}", self._index_doc),
            (write, "{index}/_create/{id}", self._create_doc),
            (post, "{index}/_doc", self._index_doc),
            (get, "{index}/_doc/{id}", self._get_doc),
            (get, "_data_stream/{name}", self._get_data_stream),
            # The query languages: statements are not interpreted, every one answers empty.
            (post, "_query", self._esql),
            (post, "_query/async", self._esql),
            (post, "_sql", self._sql),
            (post, "_sql/translate", self._sql_translate),
            (read, "{index}/_eql/search", self._eql),
            (post, "_plugins/_sql", self._plugin_query),
            (post, "_plugins/_ppl", self._plugin_query),
        ]
        return [
            _Route(methods, tuple(t for t in template.split("/") if t), handler)
            for methods, template, handler in table
        ]

    # ------------------------------------------------------------------ indices and documents

    def _resolve(self, expression: Optional[str]) -> List[_Index]:
        """Indices named by a comma-separated list of names (none, ``_all`` or ``*``: every one)."""
        if not expression or expression in ("_all", "*"):
            return [self._indices[name] for name in sorted(self._indices)]
        names = [part.strip() for part in expression.split(",")]
        missing = [name for name in names if name not in self._indices]
        if missing:
            raise _index_not_found(missing[0])
        return [self._indices[name] for name in names]

    def _for_write(self, name: str) -> _Index:
        """The index a write goes to, created on the fly as Elasticsearch does."""
        if name not in self._indices:
            self._indices[name] = _Index(name, _new_id()[:22])
        return self._indices[name]

    def _write_result(self, index: _Index, doc_id: str, doc: _Doc, result: str) -> _Json:
        return {
            "_index": index.name,
            "_id": doc_id,
            "_version": doc.version,
            "result": result,
            "_shards": dict(_NOOP_SHARDS if result == "noop" else _WRITE_SHARDS),
            "_seq_no": doc.seq_no,
            "_primary_term": 1,
        }

    def _parse(self, index: _Index, doc_id: str, source: _Json, text: str) -> None:
        """Check the document against the index's mapping, as the node parses it, and map
        its new top-level fields dynamically. A non-numeric string for a numeric field is the
        node's 400 (``text``: the document as sent, for the ``[line:col]`` of the value)."""
        added: Dict[str, str] = {}
        for key, value in source.items():
            if key in _METADATA_FIELDS:
                raise self._metadata_field_error(key, text)
            type_ = index.mapping.get(key)
            if type_ is None:
                dynamic = _dynamic_type(value)
                if dynamic is not None:
                    added[key] = dynamic
                continue
            if type_ in _NUMERIC_TYPES and isinstance(value, str):
                try:
                    float(value)
                except ValueError:
                    raise self._parse_error(key, type_, doc_id, value, text) from None
        index.mapping.update(added)

    def _metadata_field_error(self, key: str, text: str) -> _EsError:
        """A metadata field (``_id``, ``_index``, ...) inside the document: the node's 400, at
        the field's value, before anything of the document is mapped."""
        reason = (
            f"Field [{key}] is a metadata field and cannot be added inside a document. "
            "Use the index API request parameters."
        )
        if self.flavor == "opensearch":
            return _EsError(400, "mapper_parsing_exception", reason)
        line, col = _position(text, key)
        return _EsError(400, "document_parsing_exception", f"[{line}:{col}] {reason}")

    def _parse_error(self, key: str, type_: str, doc_id: str, value: str, text: str) -> _EsError:
        reason = (
            f"failed to parse field [{key}] of type [{type_}] in document with id "
            f"'{doc_id}'. Preview of field's value: '{value}'"
        )
        # as the node's number parsers throw: long its own, the others Java's NumberFormatException
        thrown = "illegal_argument_exception" if type_ == "long" else "number_format_exception"
        caused_by = {"type": thrown, "reason": f'For input string: "{value}"'}
        if self.flavor == "opensearch":
            return _EsError(400, "mapper_parsing_exception", reason, caused_by=caused_by)
        line, col = _position(text, key)
        return _EsError(
            400, "document_parsing_exception", f"[{line}:{col}] {reason}", caused_by=caused_by
        )

    def _store(
        self,
        index: _Index,
        doc_id: str,
        source: _Json,
        text: Optional[str] = None,
        *,
        create: bool = False,
    ) -> _Reply:
        """Index a document (``text``: as sent, when it is to be parsed against the mapping);
        ``create``: 409 if the id exists, as for ``_create`` and ``op_type=create``."""
        existing = index.docs.get(doc_id)
        if create and existing is not None:
            raise _EsError(
                409,
                "version_conflict_engine_exception",
                f"[{doc_id}]: version conflict, document already exists "
                f"(current version [{existing.version}])",
                index_uuid=index.uuid,
                shard="0",
                index=index.name,
            )
        if text is not None:
            self._parse(index, doc_id, source, text)
        doc = _Doc(source, existing.version + 1 if existing else 1, index.next_seq_no())
        index.docs[doc_id] = doc
        if existing is None:
            return 201, self._write_result(index, doc_id, doc, "created")
        return 200, self._write_result(index, doc_id, doc, "updated")

    def _remove(self, index: _Index, doc_id: str) -> _Reply:
        existing = index.docs.pop(doc_id, None)
        seq_no = index.next_seq_no()
        if existing is None:
            return 404, self._write_result(index, doc_id, _Doc({}, 1, seq_no), "not_found")
        doc = _Doc({}, existing.version + 1, seq_no)
        return 200, self._write_result(index, doc_id, doc, "deleted")

    def _update(self, index: _Index, doc_id: str, body: _Json) -> _Reply:
        existing = index.docs.get(doc_id)
        if existing is None:
            raise _EsError(
                404,
                "document_missing_exception",
                f"[{doc_id}]: document missing",
                index_uuid=index.uuid,
                shard="0",
                index=index.name,
            )
        partial = body.get("doc") or {}
        source = {**existing.source, **partial}
        if source == existing.source:
            return 200, self._write_result(index, doc_id, existing, "noop")
        text = json.dumps(partial, separators=(",", ":"), ensure_ascii=False)
        return 200, self._store(index, doc_id, source, text)[1]

    # ------------------------------------------------------------------ search

    def _collect(self, indices: List[_Index], body: _Json) -> List[_Hit]:
        """Every hit of a search, in index then insertion order, before paging."""
        hits: List[_Hit] = []
        for index in indices:
            for doc_id, doc in index.docs.items():
                if _matches(body.get("query"), doc.source):
                    hits.append(_Hit(index.name, doc_id, doc, len(hits)))
        return hits

    @staticmethod
    def _shards(indices: List[_Index], body: _Json) -> Tuple[List[_Index], _Json]:
        """The indices whose shard can run the query, and ``_shards`` (one shard per index): a
        query some shards cannot build fails there; when it fails on every shard, the node
        answers 400 ``all shards failed`` instead."""
        failures = []
        usable = []
        for index in indices:
            value = _numeric_term(body.get("query"), index.mapping)
            if value is None:
                usable.append(index)
            else:
                failures.append(_shard_failure(index, value))
        shards: _Json = {
            "total": len(indices),
            "successful": len(usable),
            "skipped": 0,
            "failed": len(failures),
        }
        if not failures:
            return usable, shards
        if not usable:
            first = failures[0]["reason"]
            error = _EsError(
                400,
                "search_phase_execution_exception",
                "all shards failed",
                phase="query",
                grouped=True,
                failed_shards=failures,
            )
            error.root_cause = {k: v for k, v in first.items() if k != "caused_by"}
            raise error
        shards["failures"] = failures
        return usable, shards

    @staticmethod
    def _hits_body(page: List[_Hit], total: int, sorted_: bool) -> _Json:
        """``hits``; a sorted search (only ``_doc`` order is understood) has no scores."""
        hits = [
            {
                "_index": hit.index,
                "_id": hit.id,
                "_score": None if sorted_ else 1.0,
                "_source": dict(hit.doc.source),
                **({"sort": [hit.ordinal]} if sorted_ else {}),
            }
            for hit in page
        ]
        max_score = None if sorted_ or not page else 1.0
        return {"total": {"value": total, "relation": "eq"}, "max_score": max_score, "hits": hits}

    def _run_search(self, call: _Call, body: _Json, index: Optional[str]) -> _Json:
        started = time.monotonic()
        _check_query(body.get("query"), call.body.decode())
        usable, shards = self._shards(self._resolve(index), body)
        hits = self._collect(usable, body)
        size = int(body.get("size", call.query.get("size", 10)))
        start = int(body.get("from", call.query.get("from", 0)))
        sorted_ = "sort" in body or "sort" in call.query
        result: _Json = {
            "took": 0,
            "timed_out": False,
            "_shards": shards,
            "hits": self._hits_body(hits[start : start + size], len(hits), sorted_),
        }
        if call.query.get("scroll"):
            scroll_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()
            self._scrolls[scroll_id] = _Cursor(hits, start + size, size, sorted_)
            result = {"_scroll_id": scroll_id, **result}
        result["took"] = int((time.monotonic() - started) * 1000)
        return result

    # ------------------------------------------------------------------ handlers

    def _info(self, call: _Call) -> _Reply:
        if call.method == "HEAD":
            return 200, None
        major = int(self.version.split(".")[0])
        return 200, {
            "name": "stand-in-node-1",
            "cluster_name": "stand-in",
            "cluster_uuid": "stand-in-cluster-uuid00",
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
        return 200, self._run_search(call, call.json(), call.params.get("index"))

    def _esql(self, call: _Call) -> _Reply:
        call.json()  # a body that is no JSON is the node's 400
        return 200, {"took": 0, "is_partial": False, "columns": [], "values": []}

    def _sql(self, call: _Call) -> _Reply:
        call.json()
        return 200, {"columns": [], "rows": []}

    def _sql_translate(self, call: _Call) -> _Reply:
        call.json()
        return 200, {"size": 1000, "_source": False}

    def _eql(self, call: _Call) -> _Reply:
        self._resolve(call.params.get("index"))  # a missing index is the node's 404
        return 200, {
            "is_partial": False,
            "is_running": False,
            "took": 0,
            "timed_out": False,
            "hits": {"total": {"value": 0, "relation": "eq"}, "events": []},
        }

    def _plugin_query(self, call: _Call) -> _Reply:
        call.json()
        return 200, {"schema": [], "datarows": [], "total": 0, "size": 0, "status": 200}

    def _count(self, call: _Call) -> _Reply:
        body = call.json()
        _check_query(body.get("query"), call.body.decode())
        usable, shards = self._shards(self._resolve(call.params.get("index")), body)
        hits = self._collect(usable, body)
        return 200, {"count": len(hits), "_shards": shards}

    def _msearch(self, call: _Call) -> _Reply:
        lines = call.ndjson()
        responses = []
        for header, body in zip(lines[::2], lines[1::2]):
            index = header.get("index") or call.params.get("index")
            if isinstance(index, list):
                index = ",".join(index)
            try:
                responses.append({**self._run_search(call, body, index), "status": 200})
            except _EsError as exc:  # a failed search is an item of the answer
                responses.append(exc.body())
        return 200, {"took": 0, "responses": responses}

    def _scroll(self, call: _Call) -> _Reply:
        scroll_id = call.json().get("scroll_id")
        cursor = self._scrolls[str(scroll_id)]
        page = cursor.hits[cursor.position : cursor.position + cursor.size]
        cursor.position += cursor.size
        return 200, {
            "_scroll_id": scroll_id,
            "took": 0,
            "timed_out": False,
            "_shards": dict(_SEARCH_SHARDS),
            "hits": self._hits_body(page, len(cursor.hits), cursor.sorted),
        }

    def _clear_scroll(self, call: _Call) -> _Reply:
        ids = _as_list(call.json().get("scroll_id"))
        freed = sum(1 for i in ids if self._scrolls.pop(str(i), None) is not None)
        return (200 if freed or not ids else 404), {"succeeded": True, "num_freed": freed}

    def _bulk(self, call: _Call) -> _Reply:
        started = time.monotonic()
        raw = [line for line in call.body.decode().splitlines() if line.strip()]
        items: List[_Json] = []
        position = 0
        while position < len(raw):
            ((op, meta),) = json.loads(raw[position]).items()
            position += 1
            source, text = None, ""
            if op != "delete":
                text = raw[position]
                source = json.loads(text)
                position += 1
            items.append({op: self._bulk_item(call, op, meta, source, text)})
        errors = any("error" in next(iter(item.values())) for item in items)
        took = int((time.monotonic() - started) * 1000)
        return 200, {"errors": errors, "took": took, "items": items}

    def _bulk_item(self, call: _Call, op: str, meta: _Json, source: Any, text: str) -> _Json:
        """One action. A ``"_fail"`` key in its document (or update ``doc``) makes it fail with
        that error type (a test hook of the imitation's own: a real node would index the field;
        a value the mapping cannot take fails naturally, as on a node)."""
        name = str(meta.get("_index") or call.params.get("index"))
        doc_id = str(meta["_id"]) if meta.get("_id") is not None else _new_id()
        index = self._for_write(name)
        document = source.get("doc", source) if op == "update" else source
        if isinstance(document, dict) and "_fail" in document:
            parse_failure = (
                "mapper_parsing_exception"
                if self.flavor == "opensearch"
                else "document_parsing_exception"
            )
            error = _EsError(
                400,
                str(document["_fail"] or parse_failure),
                f"stand-in was asked to fail this [{op}] action",
                index_uuid=index.uuid,
                shard="0",
                index=index.name,
            )
            return {"_index": name, "_id": doc_id, "status": 400, "error": error.cause()}
        try:
            if op == "delete":
                status, result = self._remove(index, doc_id)
            elif op == "update":
                status, result = self._update(index, doc_id, source)
            else:
                status, result = self._store(index, doc_id, source, text, create=op == "create")
        except _EsError as exc:
            return {"_index": name, "_id": doc_id, "status": exc.status, "error": exc.cause()}
        return {**result, "status": status}

    def _update_by_query(self, call: _Call) -> _Reply:
        body = call.json()
        updated = 0
        for index in self._resolve(call.params["index"]):
            for doc_id, doc in list(index.docs.items()):
                if _matches(body.get("query"), doc.source):
                    source = dict(doc.source)
                    _apply_script(source, body.get("script") or {})
                    self._store(index, doc_id, source)
                    updated += 1
        return 200, {
            "took": 0,
            "timed_out": False,
            "total": updated,
            "updated": updated,
            "deleted": 0,
            "batches": 1 if updated else 0,
            "version_conflicts": 0,
            "noops": 0,
            "retries": {"bulk": 0, "search": 0},
            "throttled_millis": 0,
            "requests_per_second": -1.0,
            "throttled_until_millis": 0,
            "failures": [],
        }

    def _refresh(self, call: _Call) -> _Reply:
        shards = len(self._resolve(call.params["index"]))
        return 200, {"_shards": {"total": shards * 2, "successful": shards, "failed": 0}}

    def _create_index(self, call: _Call) -> _Reply:
        name = call.params["index"]
        existing = self._indices.get(name)
        if existing is not None:
            raise _EsError(
                400,
                "resource_already_exists_exception",
                f"index [{name}/{existing.uuid}] already exists",
                index_uuid=existing.uuid,
                index=name,
            )
        index = self._for_write(name)
        properties = (call.json().get("mappings") or {}).get("properties") or {}
        index.mapping.update({k: str(v.get("type", "object")) for k, v in properties.items()})
        return 200, {"acknowledged": True, "shards_acknowledged": True, "index": name}

    def _index_exists(self, call: _Call) -> _Reply:
        self._resolve(call.params["index"])
        return 200, None

    def _get_index(self, call: _Call) -> _Reply:
        """``indices.get``; also what opensearch-py 2.4's aiohttp connection sends for
        ``indices.exists`` (its HEAD turned into a GET)."""
        expression = call.params["index"]
        if expression.startswith("_"):
            raise _NoHandler(f"no handler found for uri [/{expression}] and method [GET]")
        return 200, {
            index.name: {
                "aliases": {},
                "mappings": {"properties": {k: {"type": v} for k, v in index.mapping.items()}},
                "settings": {"index": {"uuid": index.uuid, "provided_name": index.name}},
            }
            for index in self._resolve(expression)
        }

    def _index_doc(self, call: _Call, create: bool = False) -> _Reply:
        index = self._for_write(call.params["index"])
        doc_id = call.params.get("id") or _new_id()
        create = create or call.query.get("op_type") == "create"
        return self._store(index, doc_id, call.json(), call.body.decode(), create=create)

    def _get_data_stream(self, call: _Call) -> _Reply:
        """There are no data streams: a stock node's 404 (``async_reindex`` asks)."""
        raise _index_not_found(call.params["name"])

    def _create_doc(self, call: _Call) -> _Reply:
        return self._index_doc(call, create=True)

    def _get_doc(self, call: _Call) -> _Reply:
        (index,) = self._resolve(call.params["index"])
        doc_id = call.params["id"]
        doc = index.docs.get(doc_id)
        if doc is None:
            return 404, {"_index": index.name, "_id": doc_id, "found": False}
        return 200, {
            "_index": index.name,
            "_id": doc_id,
            "_version": doc.version,
            "_seq_no": doc.seq_no,
            "_primary_term": 1,
            "found": True,
            "_source": dict(doc.source),
        }
