"""AsyncElasticsearch: one span per API call, one parent span per async helper call.

Patch points, and why:

* ``BaseClient.perform_request`` of the *async* client: every API (including namespaced ones such as
  ``es.indices.create``, and the async DSL classes, which call those APIs) passes through it once per
  call, above the transport's retries, with the endpoint id and path parts at hand.
* ``warn_stacklevel`` as the async client imports it: where elasticsearch-py's warnings (a
  server's deprecation warning, ...) point. Our frames on the stack would otherwise be the first
  outside the library: the warning pointed into this package, not at the application's line.
* ``elasticsearch._otel.OpenTelemetry.span``: while one of our operations is in flight it hands the
  transport a recorder instead of elasticsearch-py's own span, so that span is never started (one span
  per call, never two) and the recorder learns which node answered. Outside our operations (the sync
  client, or after ``uninstrument()``) the original runs untouched.
* The ``async_*`` helpers in ``elasticsearch._async.helpers`` and their re-exports in
  ``elasticsearch.helpers``: one INTERNAL parent span each, with document totals (``_es_family``).
"""

from __future__ import annotations

import os
import sys
from contextvars import ContextVar
from typing import Any, Awaitable, Dict, Mapping, Optional, Tuple

from instrumentation import _attributes as A
from instrumentation._engine import Engine, Reader
from instrumentation._patching import Patch
from instrumentation._query import capture, sanitize_serialized
from instrumentation._record import Record, exception_type
from instrumentation._registry import Client
from instrumentation._url import redact_url
from instrumentation.clients._es_family import (
    MULTI_SEARCHES,
    QUERY_LANGUAGE_ENDPOINTS,
    SEARCH_ANSWERS,
    SEARCH_ENDPOINTS,
    Helpers,
    answer_keys,
    body_reason,
    path_value,
    read_bulk_failures,
    read_details,
    read_multi_search,
    read_rows,
    read_search_answer,
)
from instrumentation.instrumentors import ClientInstrumentor

SYSTEM = "elasticsearch"
CLIENT = Client(
    name="elasticsearch",
    library="elasticsearch",
    requirement="elasticsearch >= 8.13",
    extra="elasticsearch",
    system=SYSTEM,
    instrumentor="AsyncElasticsearchInstrumentor",
)


class AsyncElasticsearchInstrumentor(ClientInstrumentor):
    """Traces ``elasticsearch.AsyncElasticsearch``, its async DSL classes and ``async_*`` helpers."""

    client = CLIENT.name


#: ``elasticsearch.took``, ``elasticsearch.timed_out``, ``elasticsearch.msearch.failed_searches``.
ANSWER_KEYS = answer_keys(SYSTEM)
TOOK = ANSWER_KEYS.took

#: The API operation in flight in this task (read by the silenced ``OpenTelemetry.span``).
_api_operation: ContextVar[Optional[Record]] = ContextVar("es_api_operation", default=None)


# -- reading an API call ------------------------------------------------------------------------
def read_request(instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> ApiRecord:
    method = args[0] if args else kwargs.get("method", "GET")
    endpoint_id = kwargs.get("endpoint_id")
    path_parts: Mapping[str, Any] = kwargs.get("path_parts") or {}
    collection = None
    parameters: Optional[Dict[str, str]] = None
    for key, value in path_parts.items():
        text = value if type(value) is str else path_value(value)
        if key == "index":
            collection = text
        else:
            if parameters is None:
                parameters = {}
            parameters[key] = text
    body = kwargs.get("body")
    search = body is not None and endpoint_id in SEARCH_ENDPOINTS
    kind = _SearchRecord if search and type(body) is dict else ApiRecord
    op = kind(SYSTEM, endpoint_id or str(method), collection, parameters)
    op.http_method = str(method)
    if search or (
        body is not None and (endpoint_id == "bulk" or endpoint_id in QUERY_LANGUAGE_ENDPOINTS)
    ):
        op.body = body
    return op


class ApiRecord(Record):
    """An API call's record, which also stands in for elastic_transport's ``OpenTelemetrySpan``
    (and for the context manager that yields it): the transport tells it, instead of a span,
    which node it sends to. Being the record itself, it costs no object of its own per call.

    The transport calls ``set_node_metadata`` before each attempt, so the last call names the node
    that answered (or the last one tried).
    """

    otel_span = None
    #: ``max_length`` while the query text waits for the JSON the transport serialises anyway.
    query_pending: Optional[int] = None

    def __enter__(self) -> ApiRecord:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def set_node_metadata(
        self, host: str, port: int, base_url: str, target: str, method: Optional[str] = None
    ) -> None:
        self.server_address = host
        self.server_port = port
        self.url = base_url + target

    # What the transport tells a span that we read elsewhere (the status and Cloud headers from
    # the response; the request's JSON, but for ``_SearchRecord``). ``id``: a built-in that
    # takes any one argument and never raises, so each of these calls costs no Python frame.
    set_db_statement: Any = staticmethod(id)
    set_db_response = staticmethod(id)
    set_elastic_cloud_metadata = staticmethod(id)

    def settle_query(self) -> None:
        """The pending query text, sanitised from the body itself (nothing handed it over)."""
        max_length = self.query_pending
        if max_length is not None:
            self.query_pending = None
            self.query_text = capture(self.body, "sanitize", max_length)


class _SearchRecord(ApiRecord):
    """A search with a dict body, whose sanitised query text, when pending (``read_api_details``),
    is read from the body the transport serialises and hands over. A class of its own from the
    start: a bound method set on the record made it a reference cycle, and changing its class
    once the span recorded cost ~7,000 instructions a call more."""

    def set_db_statement(self, serialized_body: Any) -> None:
        max_length = self.query_pending
        if max_length is not None:
            self.query_pending = None
            self.query_text = sanitize_serialized(serialized_body, self.body, max_length)


class _Quiet(ApiRecord):
    """elasticsearch-py's span while we are instrumented but nothing records: records nothing."""

    def set_node_metadata(
        self, host: str, port: int, base_url: str, target: str, method: Optional[str] = None
    ) -> None:
        return None


#: In ``_api_operation`` while a call runs untraced (nothing records): silences elasticsearch-py's
#: own span, which would be a second, redundant one (and with no SDK costs more than our check).
_QUIET = _Quiet(SYSTEM, "quiet")


def _otel_span(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Replaces elasticsearch-py's own span while one of our API operations is in flight."""
    op = _api_operation.get()
    if op is None:
        return wrapped(*args, **kwargs)
    return op


_CLUSTER_HEADER = "x-found-handling-cluster"
_NODE_HEADER = "x-found-handling-instance"


def _read_cloud(op: Record, headers: Any) -> None:
    """The headers Elastic Cloud sets (the two come together). elastic_transport's ``HttpHeaders``
    answers ``in`` case-insensitively: one look tells the common case, off Cloud, apart."""
    if type(headers).__name__ == "HttpHeaders":
        # Its lower-cased dict: ``in`` on the headers costs two Python calls (~2,000 instructions).
        internal = getattr(headers, "_internal", None)
        if _CLUSTER_HEADER not in (internal if type(internal) is dict else headers):
            return
        cluster, node_name = headers.get(_CLUSTER_HEADER), headers.get(_NODE_HEADER)
    else:
        cluster = headers.get(_CLUSTER_HEADER) or headers.get(_CLUSTER_HEADER.title())
        node_name = headers.get(_NODE_HEADER) or headers.get(_NODE_HEADER.title())
    if cluster:
        op.namespace = str(cluster)
    if node_name:
        op.set_attribute(A.ELASTICSEARCH_NODE_NAME, str(node_name))


def _read_meta(op: Record, meta: Any) -> None:
    """Details of a response (or of an error's response): only when a backend records them."""
    status = getattr(meta, "status", None)
    if status is not None:
        op.status_code = str(status)
    headers = getattr(meta, "headers", None)
    if headers is not None:
        _read_cloud(op, headers)
    url = op.url
    if url is not None:
        op.url = redact_url(url)


def _read_node(op: Record, meta: Any) -> None:
    """The node that answered, when the transport did not name it (a call without a recorder)."""
    if op.server_address is None:
        node = getattr(meta, "node", None)
        if node is not None:
            op.server_address = node.host
            op.server_port = node.port


def read_api_details(op: Any, capture_query: str, max_length: int) -> None:
    """As ``read_details``, but a search's sanitised text is read from the JSON the transport
    hands elasticsearch-py's span (the record), when it does."""
    if capture_query == "sanitize" and isinstance(op, _SearchRecord):
        op.query_pending = max_length
    else:
        read_details(op, capture_query, max_length)


def read_response(op: Any, response: Any, detailed: bool) -> None:
    if op.query_pending is not None:  # the transport never handed the JSON over
        op.settle_query()
    meta = getattr(response, "meta", None)
    if op.server_address is None:
        _read_node(op, meta)
    body = getattr(response, "body", None)
    name = op.name
    # The outcome (the metric needs it too): failed shards or searches, failed bulk items.
    if name in SEARCH_ANSWERS:
        if type(body) is dict:
            try:  # the common answer in line (no call): as _es_family.read_search_answer reads it
                if not body["_shards"]["failed"]:
                    if not detailed:
                        return
                    if "took" in body and body["timed_out"] is False:  # not a count's
                        hits = body["hits"]
                        found = hits["hits"]
                        took = body["took"]
                        if (
                            type(took) is int
                            and type(hits) is dict
                            and type(found) is list
                            and op.attributes is None
                        ):
                            op.returned_rows = len(found)
                            op.attributes = {TOOK: took}
                            _read_meta(op, meta)
                            return
            except (KeyError, TypeError, IndexError):
                pass
            read_search_answer(op, body, detailed, ANSWER_KEYS)
        if detailed:
            _read_meta(op, meta)
        return
    if name in MULTI_SEARCHES:
        if type(body) is dict:
            read_multi_search(op, body, detailed, ANSWER_KEYS)
    elif name == "bulk" and isinstance(body, dict) and body.get("errors"):
        read_bulk_failures(op, body, A.ELASTICSEARCH_BULK_FAILED_ITEMS)
    if detailed:
        _read_meta(op, meta)
        read_rows(op, body)


def read_error(op: Any, exc: BaseException, detailed: bool) -> None:
    if op.query_pending is not None:  # failed before the body was serialised
        op.settle_query()
    meta = getattr(exc, "meta", None)
    if meta is not None:
        _read_node(op, meta)
        if detailed:
            _read_meta(op, meta)
    elif detailed and op.url is not None:
        op.url = redact_url(op.url)
    reason = body_reason(getattr(exc, "body", None)) if detailed else None
    if not op.fail_by_status(getattr(meta, "status", None), reason):
        op.fail(exception_type(exc), reason)


def _carry_headers(args: Any, kwargs: Any) -> Tuple[Any, Any, Dict[str, str]]:
    """Our own copy of the call's headers, filled with the trace context once the span has
    started: ``perform_request`` reads them when it runs, after that (every retry)."""
    carrier = dict(kwargs.get("headers") or {})
    return args, {**kwargs, "headers": carrier}, carrier


async def _quiet_call(call: Awaitable[Any]) -> Any:
    """Nothing records this call: only elasticsearch-py's own span is silenced."""
    token = _api_operation.set(_QUIET)
    try:
        return await call
    finally:
        _api_operation.reset(token)


def _package_dir(module: Any) -> str:
    return os.path.dirname(os.path.abspath(str(module.__file__))) + os.sep


def _warn_stacklevel(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """elasticsearch-py's ``warn_stacklevel`` (where its warnings point: the first frame outside
    the library), with our frames and wrapt's as invisible as the library's own: a warning points
    at the application's line, traced or not."""
    level = wrapped(*args, **kwargs)
    if not level:  # the library's own switch (``DISABLE_WARN_STACKLEVEL``) turned it off
        return level
    try:
        import elasticsearch
        import wrapt

        import instrumentation

        inside = tuple(_package_dir(module) for module in (elasticsearch, instrumentation, wrapt))
        frame = sys._getframe(1)
        while frame.f_back is not None and frame.f_code.co_filename.startswith(inside[2]):
            frame = frame.f_back  # wrapt's pure-Python fallback, between the caller and us
        found = 1
        while frame.f_back is not None and frame.f_code.co_filename.startswith(inside):
            frame = frame.f_back
            found += 1
        return found
    except Exception:  # where a warning points is no reason to fail a call
        return level


#: How an API call is read.
API = Reader(response=read_response, error=read_error, details=read_api_details)


def patches(engine: Engine) -> Tuple[Patch, ...]:
    """``perform_request`` (its awaitable traced), elasticsearch-py's own span (silenced), and
    the async helpers, as ``elasticsearch._async.helpers`` defines them and ``elasticsearch.helpers``
    re-exports them."""
    helpers = Helpers(SYSTEM, engine)
    return (
        Patch(
            "elasticsearch._async.client._base",
            "BaseClient.perform_request",
            engine.wrapper(read_request, API, _api_operation, _carry_headers, _quiet_call),
        ),
        Patch("elasticsearch._otel", "OpenTelemetry.span", _otel_span),
        Patch("elasticsearch._async.client._base", "warn_stacklevel", _warn_stacklevel),
        *helpers.rows("elasticsearch._async.helpers"),
        *helpers.rows("elasticsearch.helpers"),
    )
