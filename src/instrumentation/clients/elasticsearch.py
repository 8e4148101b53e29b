"""AsyncElasticsearch: one span per API call, one parent span per async helper call.

Patch points, and why:

* ``BaseClient.perform_request`` of the *async* client: every API (including namespaced ones such as
  ``es.indices.create``, and the async DSL classes, which call those APIs) passes through it once per
  call, above the transport's retries, with the endpoint id and path parts at hand.
* ``elasticsearch._otel.OpenTelemetry.span``: while one of our operations is in flight it hands the
  transport a recorder instead of elasticsearch-py's own span, so that span is never started (one span
  per call, never two) and the recorder learns which node answered. Outside our operations (the sync
  client, or after ``uninstrument()``) the original runs untouched.
* The ``async_*`` helpers in ``elasticsearch._async.helpers`` and their re-exports in
  ``elasticsearch.helpers``: one parent span each, with document totals. A helper called by another
  helper (``async_bulk`` → ``async_streaming_bulk``) adds its counts to the outer one instead.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, List, Mapping, Optional, Tuple

from instrumentation import _attributes as A
from instrumentation import _state
from instrumentation._dispatch import Reader, TracedAsyncIterator, traced_call
from instrumentation._guard import guard, report
from instrumentation._patching import Patch
from instrumentation._query import capture
from instrumentation._record import Record, exception_type
from instrumentation._url import redact_url

SYSTEM = "elasticsearch"

#: Endpoints whose body is a query worth recording in ``db.query.text``.
SEARCH_ENDPOINTS = frozenset(
    {
        "search",
        "msearch",
        "count",
        "async_search.submit",
        "eql.search",
        "esql.query",
        "search_template",
        "msearch_template",
        "render_search_template",
        "terms_enum",
        "delete_by_query",
        "update_by_query",
    }
)
HELPER_DOCUMENTS = "elasticsearch.helpers.documents"
HELPER_FAILED_DOCUMENTS = "elasticsearch.helpers.failed_documents"
_BULK_ACTIONS = frozenset({"index", "create", "update", "delete"})

#: The API operation in flight in this task (read by the silenced ``OpenTelemetry.span``).
_api_operation: ContextVar[Optional[Record]] = ContextVar("es_api_operation", default=None)
#: The helper operation in flight in this task (a nested helper counts into it).
_helper_operation: ContextVar[Optional[Record]] = ContextVar("es_helper_operation", default=None)


# -- reading an API call ------------------------------------------------------------------------
def _path_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return str(value)


#: An action line of a bulk body, as text: ``{"index": ...}`` and the like (sources are never parsed).
_ACTION_LINE = re.compile(r'\s*\{\s*"(index|create|update|delete)"\s*:')
_ACTION_LINE_BYTES = re.compile(rb'\s*\{\s*"(index|create|update|delete)"\s*:')


def _bulk_items(body: Any) -> Optional[List[Any]]:
    """The lines of a bulk body, whatever its shape: a list of dicts, of ``str``/``bytes`` lines (what
    the async helpers send), of NDJSON chunks, one NDJSON ``str``/``bytes``, or a mix."""
    if isinstance(body, (str, bytes, bytearray)):
        body = (body,)
    elif not isinstance(body, (list, tuple)):
        return None
    items: List[Any] = []
    for item in body:
        if isinstance(item, str) and "\n" in item:
            items.extend(line for line in item.splitlines() if line.strip())
            continue
        if isinstance(item, (bytes, bytearray)) and b"\n" in item:
            items.extend(line for line in item.splitlines() if line.strip())
            continue
        items.append(item)
    return items


def _action(item: Any) -> Optional[str]:
    """The action an item of a bulk body starts (``"index"``, ...), or ``None`` for a source."""
    if isinstance(item, dict):
        if len(item) == 1:
            kind = next(iter(item))
            return kind if kind in _BULK_ACTIONS else None
        return None
    if isinstance(item, str):
        match = _ACTION_LINE.match(item)
        return match.group(1) if match else None
    if isinstance(item, (bytes, bytearray)):
        found = _ACTION_LINE_BYTES.match(item)
        return found.group(1).decode() if found else None
    return None


def count_bulk_actions(body: Any) -> Optional[int]:
    """Bulk actions in a request body: every action but ``delete`` is followed by its source,
    which is skipped unread (a source that happens to look like an action is not counted)."""
    items = _bulk_items(body)
    if items is None:
        return None
    count = 0
    index = 0
    while index < len(items):
        kind = _action(items[index])
        index += 1
        if kind is not None:
            count += 1
            if kind != "delete":
                index += 1
    return count


def _details(op: Record, capture_query: str, max_length: int) -> None:
    """Costly request details, read only when a backend records them in detail."""
    if op.body is None:
        return
    if op.name == "bulk":
        op.batch_size = count_bulk_actions(op.body)
    elif op.name in SEARCH_ENDPOINTS:
        op.query_text = capture(op.body, capture_query, max_length)


def read_request(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Record:
    method = args[0] if args else kwargs.get("method", "GET")
    endpoint_id = kwargs.get("endpoint_id")
    path_parts: Mapping[str, Any] = kwargs.get("path_parts") or {}
    collection = None
    parameters: Optional[Dict[str, str]] = None
    for key, value in path_parts.items():
        text = value if type(value) is str else _path_value(value)
        if key == "index":
            collection = text
        else:
            if parameters is None:
                parameters = {}
            parameters[key] = text
    op = Record(SYSTEM, endpoint_id or str(method), collection, parameters)
    op.http_method = str(method)
    body = kwargs.get("body")
    if body is not None and (endpoint_id == "bulk" or endpoint_id in SEARCH_ENDPOINTS):
        op.body = body
    return op


class NodeRecorder:
    """Stands in for elastic_transport's ``OpenTelemetrySpan`` (and for the context manager that
    yields it): records into the operation instead of tracing.

    The transport calls ``set_node_metadata`` before each attempt, so the last call names the node
    that answered (or the last one tried).
    """

    __slots__ = ("op",)
    otel_span = None

    def __init__(self, op: Record) -> None:
        self.op = op

    def __enter__(self) -> NodeRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def set_node_metadata(
        self, host: str, port: int, base_url: str, target: str, method: Optional[str] = None
    ) -> None:
        op = self.op
        op.server_address = host
        op.server_port = port
        op.url = base_url + target

    def set_db_statement(self, serialized_body: bytes) -> None:
        return None

    def set_db_response(self, status_code: int) -> None:
        return None

    def set_elastic_cloud_metadata(self, headers: Mapping[str, str]) -> None:
        return None


class _Silent(NodeRecorder):
    """elasticsearch-py's span while we are instrumented but nothing records: records nothing."""

    __slots__ = ()

    def set_node_metadata(
        self, host: str, port: int, base_url: str, target: str, method: Optional[str] = None
    ) -> None:
        return None


#: In ``_api_operation`` while a call runs untraced (nothing records): silences elasticsearch-py's
#: own span, which would be a second, redundant one (and with no SDK costs more than our check).
_QUIET = Record(SYSTEM, "quiet")
_SILENT = _Silent(_QUIET)


def _otel_span(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Replaces elasticsearch-py's own span while one of our API operations is in flight."""
    op = _api_operation.get()
    if op is None:
        return wrapped(*args, **kwargs)
    if op is _QUIET:
        return _SILENT
    return NodeRecorder(op)


_CLUSTER_HEADER = "x-found-handling-cluster"
_NODE_HEADER = "x-found-handling-instance"


def _cloud_header(headers: Any, name: str) -> Optional[str]:
    """A header Elastic Cloud sets; elastic_transport's ``HttpHeaders`` keys are lower-cased, so
    one look at its keys (no call per lookup) tells the common case, off Cloud, apart."""
    if type(headers).__name__ == "HttpHeaders" and name not in headers.keys():
        return None
    value = headers.get(name) or headers.get(name.title())
    return str(value) if value else None


def _read_meta(op: Record, meta: Any) -> None:
    """Details of a response (or of an error's response): only when a backend records them."""
    status = getattr(meta, "status", None)
    if status is not None:
        op.status_code = str(status)
    headers = getattr(meta, "headers", None)
    if headers is not None:
        cluster = _cloud_header(headers, _CLUSTER_HEADER)
        if cluster:
            op.namespace = cluster
        node_name = _cloud_header(headers, _NODE_HEADER)
        if node_name:
            op.set_attribute(A.ELASTICSEARCH_NODE_NAME, node_name)
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


def _error_reason(error: Any) -> Optional[str]:
    """``type: reason`` of an Elasticsearch error object (its first root cause when it has one)."""
    if isinstance(error, str):
        return error or None
    if not isinstance(error, dict):
        return None
    causes = error.get("root_cause")
    if isinstance(causes, list) and causes and isinstance(causes[0], dict):
        error = causes[0]
    kind = error.get("type")
    why = error.get("reason")
    if why:
        return f"{kind}: {why}" if kind else str(why)
    return str(kind) if kind else None


def _read_bulk_failures(op: Record, body: Mapping[str, Any]) -> None:
    failed = 0
    first: Optional[str] = None
    reason: Optional[str] = None
    for item in body.get("items") or ():
        result = next(iter(item.values()), None) if isinstance(item, dict) else None
        if isinstance(result, dict) and result.get("error") is not None:
            failed += 1
            if first is None:
                error = result["error"]
                first = str(error.get("type", "_OTHER")) if isinstance(error, dict) else "_OTHER"
                reason = _error_reason(error)
    op.failed_count = failed
    op.failed_count_key = A.ELASTICSEARCH_BULK_FAILED_ITEMS
    if reason is not None and failed > 1:
        reason = f"{failed} bulk items failed; first: {reason}"
    op.fail(first or "_OTHER", reason)


def read_response(op: Record, response: Any, detailed: bool) -> None:
    meta = getattr(response, "meta", None)
    if op.server_address is None:
        _read_node(op, meta)
    body = getattr(response, "body", None)
    if op.name == "bulk" and isinstance(body, dict) and body.get("errors"):
        _read_bulk_failures(op, body)  # the outcome: the metric needs it too
    if not detailed:
        return
    _read_meta(op, meta)
    if not isinstance(body, dict):
        return
    hits = body.get("hits")
    if isinstance(hits, dict):
        found = hits.get("hits")
        if isinstance(found, list):
            op.returned_rows = len(found)
    deleted = body.get("deleted")
    updated = body.get("updated")
    if isinstance(deleted, int) or isinstance(updated, int):
        op.rows_affected = (deleted if isinstance(deleted, int) else 0) + (
            updated if isinstance(updated, int) else 0
        )


def _server_reason(exc: BaseException) -> Optional[str]:
    """What the server said went wrong, from an ``ApiError``'s body; ``None`` for anything else
    (the backends then take the exception's own message)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        if "error" in body:
            return _error_reason(body["error"])
        if body.get("found") is False:
            return "document not found"
        return None
    return body if isinstance(body, str) and body else None


def read_error(op: Record, exc: BaseException, detailed: bool) -> None:
    meta = getattr(exc, "meta", None)
    if meta is not None:
        _read_node(op, meta)
        if detailed:
            _read_meta(op, meta)
    elif detailed and op.url is not None:
        op.url = redact_url(op.url)
    status = getattr(meta, "status", None)
    reason = _server_reason(exc) if detailed else None
    if isinstance(status, int) and status >= 400:
        op.fail(str(status), reason)
    else:
        op.fail(exception_type(exc), reason)


def _perform_request(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``perform_request`` is a coroutine function: this returns the awaitable its caller awaits."""
    dispatcher = _state.dispatcher
    if dispatcher is None or _api_operation.get() is not None:
        return wrapped(*args, **kwargs)
    if dispatcher.wants():
        try:
            op = read_request(args, kwargs)
        except Exception as exc:
            report(exc)
        else:
            return traced_call(dispatcher, op, API, wrapped(*args, **kwargs), _api_operation)
    return _quiet_call(wrapped(*args, **kwargs))


async def _quiet_call(call: Awaitable[Any]) -> Any:
    """Nothing records this call: only elasticsearch-py's own span is silenced."""
    token = _api_operation.set(_QUIET)
    try:
        return await call
    finally:
        _api_operation.reset(token)


# -- helpers ------------------------------------------------------------------------------------
def _helper_collection(name: str, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Optional[str]:
    if name == "helpers.async_reindex":
        source = args[1] if len(args) > 1 else kwargs.get("source_index")
        return _path_value(source) if source is not None else None
    index = kwargs.get("index")
    return _path_value(index) if index is not None else None


def _helper_op(name: str, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Record:
    op = Record(SYSTEM, name, _helper_collection(name, args, kwargs))
    op.leaf = False
    op.attributes = {HELPER_DOCUMENTS: 0, HELPER_FAILED_DOCUMENTS: 0}
    return op


def _count_bulk_item(op: Record, item: Any) -> None:
    attributes = op.attributes
    if attributes is None:
        return
    attributes[HELPER_DOCUMENTS] = int(attributes.get(HELPER_DOCUMENTS, 0)) + 1
    if isinstance(item, tuple) and len(item) == 2 and not item[0]:
        attributes[HELPER_FAILED_DOCUMENTS] = int(attributes.get(HELPER_FAILED_DOCUMENTS, 0)) + 1
        result = next(iter(item[1].values()), None) if isinstance(item[1], dict) else None
        error = result.get("error") if isinstance(result, dict) else None
        op.fail(str(error.get("type", "_OTHER")) if isinstance(error, dict) else "_OTHER")


def _count_document(op: Record, item: Any) -> None:
    if op.attributes is not None:
        op.attributes[HELPER_DOCUMENTS] = int(op.attributes.get(HELPER_DOCUMENTS, 0)) + 1


def _helper_result(op: Record, result: Any, detailed: bool) -> None:
    return None


def _helper_error(op: Record, exc: BaseException, detailed: bool) -> None:
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list) and op.attributes is not None:
        failed = max(int(op.attributes.get(HELPER_FAILED_DOCUMENTS, 0)), len(errors))
        op.attributes[HELPER_FAILED_DOCUMENTS] = failed
    op.error_type = None
    op.fail(exception_type(exc))


class _CountInto:
    """A nested helper's iteration, counted into the outer helper's operation, not traced."""

    __slots__ = ("_counter", "_inner", "_op")

    def __init__(self, inner: Any, op: Record, counter: Callable[[Record, Any], None]) -> None:
        self._inner = inner
        self._op = op
        self._counter = counter

    def __aiter__(self) -> _CountInto:
        return self

    async def __anext__(self) -> Any:
        item = await self._inner.__anext__()
        with guard:
            self._counter(self._op, item)
        return item

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _coroutine_helper(name: str) -> Callable[..., Any]:
    async def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        dispatcher = _state.dispatcher
        if dispatcher is None or _helper_operation.get() is not None or not dispatcher.wants():
            return await wrapped(*args, **kwargs)
        op = None
        with guard:
            op = _helper_op(name, args, kwargs)
        if op is None:
            return await wrapped(*args, **kwargs)
        return await traced_call(
            dispatcher, op, _HELPER, wrapped(*args, **kwargs), _helper_operation
        )

    return wrapper


def _generator_helper(name: str, counter: Callable[[Record, Any], None]) -> Callable[..., Any]:
    reader = Reader(response=_helper_result, error=_helper_error, item=counter)

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> AsyncIterator[Any]:
        generator = wrapped(*args, **kwargs)
        dispatcher = _state.dispatcher
        if dispatcher is None or not dispatcher.wants():
            return generator  # type: ignore[no-any-return]
        with guard:
            outer = _helper_operation.get()
            if outer is not None:
                # Bulk inside async_bulk/async_reindex counts into it; a nested scan does not.
                if counter is _count_bulk_item:
                    return _CountInto(generator, outer, counter)
                return generator  # type: ignore[no-any-return]
            op = _helper_op(name, args, kwargs)
            return TracedAsyncIterator(dispatcher, op, reader, generator)
        return generator  # type: ignore[no-any-return]

    return wrapper


#: How an API call and a helper call are read.
API = Reader(response=read_response, error=read_error, details=_details)
_HELPER = Reader(response=_helper_result, error=_helper_error)

_async_bulk = _coroutine_helper("helpers.async_bulk")
_async_reindex = _coroutine_helper("helpers.async_reindex")
_async_streaming_bulk = _generator_helper("helpers.async_streaming_bulk", _count_bulk_item)
_async_scan = _generator_helper("helpers.async_scan", _count_document)


def _helper_rows(module: str) -> Tuple[Patch, ...]:
    return (
        Patch(module, "async_bulk", _async_bulk),
        Patch(module, "async_streaming_bulk", _async_streaming_bulk),
        Patch(module, "async_scan", _async_scan),
        Patch(module, "async_reindex", _async_reindex),
    )


PATCHES: Tuple[Patch, ...] = (
    Patch("elasticsearch._async.client._base", "BaseClient.perform_request", _perform_request),
    Patch("elasticsearch._otel", "OpenTelemetry.span", _otel_span),
    *_helper_rows("elasticsearch._async.helpers"),
    *_helper_rows("elasticsearch.helpers"),
)
