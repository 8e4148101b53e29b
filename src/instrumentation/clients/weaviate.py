"""WeaviateAsyncClient: one span per logical operation, over REST and gRPC.

Patch points, and why:

* ``ConnectionAsync._send`` (REST over httpx) and its ``grpc_search``, ``grpc_batch_objects``,
  ``grpc_batch_delete``, ``grpc_aggregate``, ``grpc_tenants_get`` and ``grpc_batch_stream``: every
  request of the async client passes through one of these, above the client's own gRPC retries. They
  are patched on the *async* connection class only (``_send`` is inherited from a base shared with
  the sync client, so the wrapper goes into ``ConnectionAsync`` itself): the sync client is untouched.
  The operation is read from the request: the gRPC message's fields, or the REST method and path.
* A few public async methods that send several requests for one call (``connect``,
  ``collections.delete`` / ``delete_all``, ``backup.create`` / ``restore``, tenant updates,
  ``reference_add``): they become one span, and the requests inside add to it instead of starting
  spans of their own.

Query strings, ``near_text`` concepts and generative prompts are recorded (in ``db.query.text``)
only with ``capture_query="raw"``; vectors and object properties never.
"""

from __future__ import annotations

import json
import re
from contextvars import ContextVar
from typing import Any, Awaitable, Callable, Dict, List, Optional, Pattern, Tuple
from urllib.parse import urlsplit

from instrumentation import _attributes as A
from instrumentation import _state
from instrumentation._dispatch import Reader, TracedAsyncIterator
from instrumentation._guard import guard, report
from instrumentation._patching import Patch
from instrumentation._query import bound
from instrumentation._query_languages import read as read_query
from instrumentation._record import Record, exception_type
from instrumentation._url import redact_url

SYSTEM = "weaviate"
BATCH_ERROR = "batch_object_error"

#: The multi-request call in flight in this task: requests inside it add to it, not start spans.
_group: ContextVar[Optional[Record]] = ContextVar("weaviate_group", default=None)
#: With ``propagate_context``: the single call in flight, whose ``carrier`` its requests send.
_traced: ContextVar[Optional[Record]] = ContextVar("weaviate_traced", default=None)


# -- REST ---------------------------------------------------------------------------------------
_C = r"(?P<collection>[^/?]+)"
_ROUTES: List[Tuple[str, Pattern[str], str]] = [
    (method, re.compile(pattern), name)
    for method, pattern, name in (
        ("POST", r"^/schema$", "create_collection"),
        ("GET", r"^/schema$", "list_collections"),
        ("GET", rf"^/schema/{_C}$", "get_collection"),
        ("HEAD", rf"^/schema/{_C}$", "collection_exists"),
        ("PUT", rf"^/schema/{_C}$", "update_collection"),
        ("DELETE", rf"^/schema/{_C}$", "delete_collection"),
        ("POST", rf"^/schema/{_C}/properties$", "add_property"),
        ("GET", rf"^/schema/{_C}/shards$", "get_shards"),
        ("PUT", rf"^/schema/{_C}/shards/[^/]+$", "update_shards"),
        ("GET", rf"^/schema/{_C}/tenants$", "get_tenants"),
        ("POST", rf"^/schema/{_C}/tenants$", "create_tenants"),
        ("PUT", rf"^/schema/{_C}/tenants$", "update_tenants"),
        ("DELETE", rf"^/schema/{_C}/tenants$", "remove_tenants"),
        ("GET", rf"^/schema/{_C}/tenants/[^/]+$", "get_tenant"),
        ("HEAD", rf"^/schema/{_C}/tenants/[^/]+$", "tenant_exists"),
        ("POST", r"^/objects$", "insert"),
        ("GET", r"^/objects$", "list_objects"),
        ("GET", rf"^/objects/{_C}/[^/]+$", "fetch_object_by_id"),
        ("HEAD", rf"^/objects/{_C}/[^/]+$", "exists"),
        ("PUT", rf"^/objects/{_C}/[^/]+$", "replace"),
        ("PATCH", rf"^/objects/{_C}/[^/]+$", "update"),
        ("DELETE", rf"^/objects/{_C}/[^/]+$", "delete_by_id"),
        ("POST", rf"^/objects/{_C}/[^/]+/references/[^/]+$", "reference_add"),
        ("PUT", rf"^/objects/{_C}/[^/]+/references/[^/]+$", "reference_replace"),
        ("DELETE", rf"^/objects/{_C}/[^/]+/references/[^/]+$", "reference_delete"),
        ("POST", r"^/batch/objects$", "insert_many"),
        ("DELETE", r"^/batch/objects$", "delete_many"),
        ("POST", r"^/batch/references$", "reference_add_many"),
        ("POST", r"^/backups/[^/]+$", "backup.create"),
        ("GET", r"^/backups/[^/]+$", "backup.list"),
        ("GET", r"^/backups/[^/]+/[^/]+$", "backup.get_create_status"),
        ("DELETE", r"^/backups/[^/]+/[^/]+$", "backup.cancel"),
        ("POST", r"^/backups/[^/]+/[^/]+/restore$", "backup.restore"),
        ("GET", r"^/backups/[^/]+/[^/]+/restore$", "backup.get_restore_status"),
        ("POST", r"^/graphql$", "graphql"),
        ("GET", r"^/meta$", "get_meta"),
        ("GET", r"^/nodes(/[^/]+)?$", "get_nodes"),
        ("GET", r"^/\.well-known/ready$", "is_ready"),
        ("GET", r"^/\.well-known/live$", "is_live"),
        ("GET", r"^/cluster/statistics$", "cluster_statistics"),
    )
]


def _first_segment(path: str) -> str:
    return path.strip("/").split("/", 1)[0]


#: (method, first path segment) -> its routes, so a call tries a handful of patterns, not forty.
_ROUTE_INDEX: Dict[Tuple[str, str], List[Tuple[Pattern[str], str]]] = {}
for _method, _pattern, _name in _ROUTES:
    _segment = re.match(r"[\w.-]*", _pattern.pattern[2:].replace("\\", ""))
    _ROUTE_INDEX.setdefault((_method, _segment.group() if _segment else ""), []).append(
        (_pattern, _name)
    )


def _route(method: str, path: str) -> Tuple[str, Optional[str]]:
    """(operation name, collection) for a REST call; unknown routes keep a low-cardinality name."""
    first = _first_segment(path)
    for pattern, name in _ROUTE_INDEX.get((method, first), ()):
        match = pattern.match(path)
        if match is not None:
            return name, match.groupdict().get("collection")
    return f"{method} {first or '/'}", None


def _rest_query(op: Record, capture_query: str, max_length: int) -> None:
    """A GraphQL call (the only REST call with a body kept): its statement, read by the GraphQL
    tokenizer; the class it names is the collection, ``Get Movie`` the summary."""
    if not isinstance(op.body, dict):
        return
    statement = read_query("graphql", op.body.get("query"), capture_query, max_length)
    if statement is None:
        return
    op.query_text = statement.text
    if op.collection is None and statement.collection is not None:
        op.collection = statement.collection
    if statement.summary is not None:
        op.query_summary = statement.summary


def read_rest(instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Record:
    method = str(args[0] if args else kwargs.get("method", "GET")).upper()
    url = str(kwargs.get("url", ""))
    parts = urlsplit(url)
    path = parts.path
    version_path = getattr(instance, "_api_version_path", "/v1")
    if path.startswith(version_path):
        path = path[len(version_path) :]
    body = kwargs.get("weaviate_object")
    params = kwargs.get("params") or {}
    name, collection = _route(method, path)
    if collection is None and isinstance(body, dict) and isinstance(body.get("class"), str):
        collection = body["class"]
    op = Record(SYSTEM, name, collection)
    op.http_method = method
    op.server_address = parts.hostname
    op.server_port = parts.port or (443 if parts.scheme == "https" else 80)
    op.url = redact_url(url)
    tenant = params.get("tenant") or (body.get("tenant") if isinstance(body, dict) else None)
    if tenant:
        op.set_attribute(A.WEAVIATE_TENANT, str(tenant))
    consistency = params.get("consistency_level")
    if consistency:
        op.set_attribute(A.WEAVIATE_CONSISTENCY_LEVEL, str(consistency))
    if isinstance(body, dict):
        if name == "insert_many" and isinstance(body.get("objects"), list):
            op.batch_size = len(body["objects"])
        if name == "graphql":
            op.body = body
    return op


def read_rest_response(op: Record, response: Any, detailed: bool) -> None:
    status = getattr(response, "status_code", None)
    if status is not None:
        op.status_code = str(status)
    if op.name == "insert_many" and status == 200:
        try:
            results = response.json()
        except Exception:
            return
        errors = [
            item["result"]["errors"]
            for item in results
            if isinstance(item, dict) and ((item.get("result") or {}).get("errors"))
        ]
        if errors:
            _batch_failed(op, len(errors), _rest_message(errors[0]))


def read_unchecked_rest_response(op: Record, response: Any, detailed: bool) -> None:
    """A response ``_send`` was given no expected status codes for: its caller judges it.

    Weaviate raises inside ``_send`` for a status outside the expected codes, but without them the
    caller raises after ``_send`` returned (``_decode_json_response_*``), for any status >= 400
    except a 404 some lookups answer ``None`` for. The span follows the caller's judgement.
    """
    read_rest_response(op, response, detailed)
    status = getattr(response, "status_code", None)
    if isinstance(status, int) and status >= 400 and status != 404:
        reason = None
        if detailed:
            try:
                reason = _rest_message(response.json())
            except Exception:  # not JSON: the status alone says it
                reason = None
            # The exception the caller raises from this answer once the span has ended, for the
            # span's exception event.
            from weaviate.exceptions import UnexpectedStatusCodeError

            op.raised = UnexpectedStatusCodeError(op.name, response)
        op.fail(str(status), reason)


# -- gRPC ---------------------------------------------------------------------------------------
_SEARCH_KINDS = (
    ("hybrid_search", "hybrid"),
    ("bm25_search", "bm25"),
    ("near_vector", "near_vector"),
    ("near_object", "near_object"),
    ("near_text", "near_text"),
    ("near_image", "near_image"),
    ("near_audio", "near_audio"),
    ("near_video", "near_video"),
    ("near_depth", "near_depth"),
    ("near_thermal", "near_thermal"),
    ("near_imu", "near_imu"),
)


def _has(message: Any, field: str) -> bool:
    try:
        return bool(message.HasField(field))
    except ValueError:  # not a field of this protocol version
        return False


#: Per request message type (protocol version): its search kinds, whether it has ``filters`` and
#: ``generative``, and its ``HasField`` unbound. Called as ``type.HasField(request, field)``, not
#: through the message's own attribute lookup: ~470 instructions less a field (a plain
#: ``fetch_objects``, which has none of the kinds set, asks twelve).
_KINDS_BY_TYPE: Dict[type, Tuple[Tuple[Tuple[str, str], ...], bool, bool, Callable[..., bool]]] = {}


def _learn_kinds(
    request: Any,
) -> Tuple[Tuple[Tuple[str, str], ...], bool, bool, Callable[..., bool]]:
    fields = request.DESCRIPTOR.fields_by_name
    known = _KINDS_BY_TYPE[type(request)] = (
        tuple((field, name) for field, name in _SEARCH_KINDS if field in fields),
        "filters" in fields,
        "generative" in fields,
        type(request).HasField,
    )
    return known


def _search_name(request: Any) -> str:
    known = _KINDS_BY_TYPE.get(type(request))
    kinds, has_filters, has_generative, has_field = known or _learn_kinds(request)
    kind = "fetch_objects"
    for field, name in kinds:
        if has_field(request, field):
            kind = name
            break
    else:
        if (
            request.limit == 1
            and has_filters
            and has_field(request, "filters")
            and _filters_by_id(request.filters)
        ):
            kind = "fetch_object_by_id"
    if has_generative and has_field(request, "generative"):
        return f"generate.{kind}"
    return kind


def _filters_by_id(filters: Any) -> bool:
    on = list(getattr(filters, "on", ()) or ())
    if "_id" in on:
        return True
    target = getattr(filters, "target", None)
    return getattr(target, "property", None) == "_id"


def _consistency(value: int) -> Optional[str]:
    if not value:
        return None
    try:
        from weaviate.proto.v1 import base_pb2

        name = str(base_pb2.ConsistencyLevel.Name(value))
    except Exception:
        return str(value)
    return name.replace("CONSISTENCY_LEVEL_", "")


def _scope(op: Record, collection: str, tenant: str, consistency_level: int) -> None:
    if collection:
        op.collection = collection
    if tenant:
        op.set_attribute(A.WEAVIATE_TENANT, tenant)
    if consistency_level:
        level = _consistency(consistency_level)
        if level:
            op.set_attribute(A.WEAVIATE_CONSISTENCY_LEVEL, level)


def _search_query(op: Record, capture_query: str, max_length: int) -> None:
    """Raw capture only: the query string, ``near_text`` concepts, generative prompt or task."""
    if capture_query != "raw":
        return
    request = op.body
    found: Dict[str, Any] = {}
    if _has(request, "hybrid_search") and request.hybrid_search.query:
        found["query"] = request.hybrid_search.query
    if _has(request, "bm25_search") and request.bm25_search.query:
        found["query"] = request.bm25_search.query
    if _has(request, "near_text"):
        found["concepts"] = list(request.near_text.query)
    if _has(request, "generative"):
        generative = request.generative
        prompt = generative.single_response_prompt or (
            generative.single.prompt if _has(generative, "single") else ""
        )
        task = generative.grouped_response_task or (
            generative.grouped.task if _has(generative, "grouped") else ""
        )
        if prompt:
            found["prompt"] = prompt
        if task:
            found["task"] = task
    if found:
        text = json.dumps(found, ensure_ascii=False, separators=(",", ":"))
        op.query_text = bound(text, max_length)


def _grpc_op(instance: Any, name: str) -> Record:
    op = Record(SYSTEM, name)
    params = getattr(instance, "_connection_params", None)
    grpc = getattr(params, "grpc", None)
    if grpc is not None:
        op.server_address = grpc.host
        op.server_port = grpc.port
    return op


def read_search(instance: Any, request: Any) -> Record:
    op = _grpc_op(instance, _search_name(request))
    _scope(op, request.collection, request.tenant, request.consistency_level)
    op.body = request
    return op


def read_batch_objects(instance: Any, request: Any) -> Record:
    op = _grpc_op(instance, "insert_many")
    objects = request.objects
    op.batch_size = len(objects)
    if objects:
        # The collection of the first and last objects when they agree (what a collection's
        # insert_many always sends), else none. Not every object: each one read from the protobuf
        # costs ~3,000 instructions (a wrapper object), 30,000 for a batch of 10.
        first = objects[0]
        collection = first.collection
        if len(objects) > 1 and objects[len(objects) - 1].collection != collection:
            collection = ""
        _scope(op, collection, first.tenant, request.consistency_level)
    return op


def read_batch_delete(instance: Any, request: Any) -> Record:
    op = _grpc_op(instance, "delete_many")
    _scope(op, request.collection, request.tenant, request.consistency_level)
    return op


def read_aggregate(instance: Any, request: Any) -> Record:
    op = _grpc_op(instance, "aggregate")
    _scope(op, request.collection, request.tenant, 0)
    return op


def read_tenants_get(instance: Any, request: Any) -> Record:
    op = _grpc_op(instance, "get_tenants")
    _scope(op, request.collection, "", 0)
    return op


def _batch_failed(op: Record, failed: int, first: Any = None) -> None:
    op.failed_count = failed
    op.failed_count_key = A.WEAVIATE_BATCH_FAILED_OBJECTS
    reason = None
    if first is not None:
        message = getattr(first, "message", first)
        reason = f"{failed} objects failed; first: {message}" if failed > 1 else str(message)
    op.fail(BATCH_ERROR, reason)


def read_grpc_response(op: Record, response: Any, detailed: bool) -> None:
    op.status_code = "OK"
    name = op.name
    if name == "insert_many":
        if isinstance(response, dict) and response:
            # {index: error} of the failed objects
            _batch_failed(op, len(response), next(iter(response.values())))
        return
    if name == "delete_many":
        failed = getattr(response, "failed", None)
        if isinstance(failed, int):
            op.rows_affected = int(getattr(response, "successful", 0))
            if failed:
                _batch_failed(op, failed)
        return
    if detailed:  # the rows are span details; the metric needs none of them
        _read_rows(op, response)


def _read_rows(op: Record, response: Any) -> None:
    rows = getattr(response, "tenants" if op.name == "get_tenants" else "results", None)
    if rows is not None:
        op.returned_rows = len(rows)


# -- errors -------------------------------------------------------------------------------------
def _cause_chain(exc: BaseException) -> List[BaseException]:
    chain: List[BaseException] = []
    current: Optional[BaseException] = exc
    while current is not None and len(chain) < 8 and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _rest_message(error: Any) -> Optional[str]:
    """Weaviate's REST error body ``{"error": [{"message": ...}]}`` (or its inner list) as text."""
    if isinstance(error, dict):
        error = error.get("error", error)
    if isinstance(error, list) and error:
        error = error[0]
    if isinstance(error, dict):
        error = error.get("message")
    return error if isinstance(error, str) and error else None


def _details(cause: Any) -> Optional[str]:
    details = getattr(cause, "details", None)
    if not callable(details):
        return None
    try:
        text = details()
    except Exception:
        return None
    return text if isinstance(text, str) and text else None


def read_error(op: Record, exc: BaseException, detailed: bool) -> None:
    """The original cause: a gRPC status name, else an HTTP status, else the exception class; and
    the server's reason (gRPC details, the REST error message), else the backends take the
    exception's own message."""
    for cause in _cause_chain(exc):
        code = getattr(cause, "code", None)
        if callable(code):
            try:
                name = getattr(code(), "name", None)
            except Exception:
                name = None
            if isinstance(name, str):
                op.status_code = name
                op.fail(name, _details(cause))
                return
        status = getattr(cause, "status_code", None)
        if isinstance(status, int) and status >= 400:
            op.status_code = str(status)
            op.fail(str(status), _rest_message(getattr(cause, "error", None)))
            return
    op.fail(exception_type(exc))


def _add_to_group(group: Record, op: Record) -> None:
    if group.server_address is None:
        group.server_address = op.server_address
        group.server_port = op.server_port
    if group.collection is None and op.collection:
        group.collection = op.collection
    if op.status_code is not None:
        group.status_code = op.status_code
    if op.attributes and not group.attributes:
        group.attributes = dict(op.attributes)


# -- wrappers -----------------------------------------------------------------------------------
async def _in_group(
    group: Record, op: Optional[Record], call: Awaitable[Any], reader: Reader
) -> Any:
    """A request inside a multi-request call: no span of its own; it adds to the call's."""
    try:
        response = await call
    except BaseException as exc:
        with guard:
            if op is not None:
                reader.error(op, exc, True)
                _add_to_group(group, op)
        raise
    with guard:
        if op is not None:
            reader.response(op, response, True)
            _add_to_group(group, op)
    return response


async def _send_later(wrapped: Any, args: Any, kwargs: Any) -> Any:
    """``_send`` called only once the call's span has started: the request it builds then takes
    the trace context in its headers (``_rest_headers``)."""
    return await wrapped(*args, **kwargs)


def _send(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """REST: ``_send`` builds the request now and returns an awaitable that sends it."""
    dispatcher = _state.dispatcher
    if dispatcher is not None and dispatcher.propagate and _group.get() is None:
        if dispatcher.wants():
            op = None
            with guard:
                op = read_rest(instance, args, kwargs)
                op.carrier = {}
            if op is not None:
                reader = REST if kwargs.get("status_codes") is not None else _REST_UNCHECKED
                return dispatcher.call(op, reader, _send_later(wrapped, args, kwargs), _traced)
    awaitable = wrapped(*args, **kwargs)
    if dispatcher is None:
        return awaitable
    group = _group.get()
    if group is None and not dispatcher.wants():
        return awaitable
    op = None
    with guard:
        op = read_rest(instance, args, kwargs)
    if op is None:
        return awaitable
    reader = REST if kwargs.get("status_codes") is not None else _REST_UNCHECKED
    if group is not None:
        return _in_group(group, op, awaitable, reader)
    return dispatcher.call(op, reader, awaitable)


def _grpc(
    read: Callable[[Any, Any], Record], reader: Optional[Reader] = None
) -> Callable[..., Any]:
    if reader is None:
        reader = GRPC

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """The gRPC methods are coroutine functions: this returns the awaitable that is awaited."""
        dispatcher = _state.dispatcher
        if dispatcher is None:
            return wrapped(*args, **kwargs)
        group = _group.get()
        if group is None and not dispatcher.wants():
            return wrapped(*args, **kwargs)
        op = None
        try:  # as ``with guard:``, without its two Python calls on every traced call
            request = args[0] if args else kwargs.get("request")
            op = read(instance, request)
        except Exception as exc:
            report(exc)
        if group is not None:
            return _in_group(group, op, wrapped(*args, **kwargs), reader)
        if op is None:
            return wrapped(*args, **kwargs)
        if dispatcher.propagate:  # the call's metadata is read when it runs: after the span starts
            op.carrier = {}
            return dispatcher.call(op, reader, wrapped(*args, **kwargs), _traced)
        return dispatcher.call(op, reader, wrapped(*args, **kwargs))

    return wrapper


def _grpc_batch_stream(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``batch.stream()``: one span for the life of the bidirectional stream."""
    stream = wrapped(*args, **kwargs)
    dispatcher = _state.dispatcher
    if dispatcher is None or _group.get() is not None or not dispatcher.wants():
        return stream
    with guard:
        op = _grpc_op(instance, "batch.stream")
        op.status_code = "OK"
        return TracedAsyncIterator(dispatcher, op, GRPC, stream)
    return stream


def _self_name(instance: Any) -> Optional[str]:
    name = getattr(instance, "_name", None) or getattr(instance, "name", None)
    return name if isinstance(name, str) else None


def _collections_argument(instance: Any, args: Any, kwargs: Any) -> Optional[str]:
    name = args[0] if args else kwargs.get("name")
    if isinstance(name, str):
        return name[:1].upper() + name[1:]
    if isinstance(name, (list, tuple)):
        return ",".join(str(n)[:1].upper() + str(n)[1:] for n in name)
    return None


def _no_collection(instance: Any, args: Any, kwargs: Any) -> Optional[str]:
    return None


def _instance_collection(instance: Any, args: Any, kwargs: Any) -> Optional[str]:
    return _self_name(instance)


def _forced(args: Any, kwargs: Any) -> bool:
    return bool(args[0] if args else kwargs.get("force", False))


def _group_response(op: Record, response: Any, detailed: bool) -> None:
    if op.status_code is None:
        op.status_code = "OK"


def _grouped(name: str, collection: Callable[[Any, Any, Any], Optional[str]]) -> Callable[..., Any]:
    async def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        dispatcher = _state.dispatcher
        if dispatcher is None or _group.get() is not None or not dispatcher.wants():
            return await wrapped(*args, **kwargs)
        if (
            name == "connect"
            and getattr(instance, "_connected", False)
            and not _forced(args, kwargs)
        ):
            return await wrapped(*args, **kwargs)  # already connected: sends nothing, no span
        op = None
        with guard:
            op = Record(SYSTEM, name, collection(instance, args, kwargs))
            if dispatcher.propagate:
                op.carrier = {}
        if op is None:
            return await wrapped(*args, **kwargs)
        token = _group.set(op)  # before the call is made: some of these send on being called
        try:
            return await dispatcher.call(op, _GROUP, wrapped(*args, **kwargs))
        finally:
            _group.reset(token)

    return wrapper


# -- trace context into requests (propagate_context) --------------------------------------------
def _outgoing() -> Optional[Dict[str, str]]:
    op = _traced.get() or _group.get()
    return op.carrier if op is not None else None


def _rest_headers(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """The headers of the request ``_send`` builds, plus the call's trace context."""
    headers = wrapped(*args, **kwargs)
    with guard:
        carrier = _outgoing()
        if carrier:
            return {**headers, **carrier}
    return headers


def _grpc_metadata(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """The metadata of a gRPC call, plus the call's trace context (gRPC keys are lower-case)."""
    metadata = wrapped(*args, **kwargs)
    with guard:
        carrier = _outgoing()
        if carrier:
            return (*(metadata or ()), *((key.lower(), value) for key, value in carrier.items()))
    return metadata


#: How each kind of call is read.
REST = Reader(response=read_rest_response, error=read_error, details=_rest_query)
_REST_UNCHECKED = REST._replace(response=read_unchecked_rest_response)
_GROUP = Reader(response=_group_response, error=read_error)
GRPC = Reader(response=read_grpc_response, error=read_error)
SEARCH = GRPC._replace(details=_search_query)

_CONNECTION = "weaviate.connect.v4"
PATCHES: Tuple[Patch, ...] = (
    Patch(_CONNECTION, "ConnectionAsync._send", _send),
    Patch(_CONNECTION, "ConnectionAsync.grpc_search", _grpc(read_search, SEARCH)),
    Patch(_CONNECTION, "ConnectionAsync.grpc_batch_objects", _grpc(read_batch_objects)),
    Patch(_CONNECTION, "ConnectionAsync.grpc_batch_delete", _grpc(read_batch_delete)),
    Patch(_CONNECTION, "ConnectionAsync.grpc_aggregate", _grpc(read_aggregate)),
    Patch(_CONNECTION, "ConnectionAsync.grpc_tenants_get", _grpc(read_tenants_get)),
    Patch(_CONNECTION, "ConnectionAsync.grpc_batch_stream", _grpc_batch_stream),
    Patch(_CONNECTION, "ConnectionAsync.connect", _grouped("connect", _no_collection)),
    Patch(
        "weaviate.collections.collections.async_",
        "_CollectionsAsync.delete",
        _grouped("delete_collection", _collections_argument),
    ),
    Patch(
        "weaviate.collections.collections.async_",
        "_CollectionsAsync.exists",
        _grouped("collection_exists", _collections_argument),
    ),
    Patch(
        "weaviate.collections.collections.async_",
        "_CollectionsAsync.delete_all",
        _grouped("delete_all_collections", _no_collection),
    ),
    Patch(
        "weaviate.backup.async_", "_BackupAsync.create", _grouped("backup.create", _no_collection)
    ),
    Patch(
        "weaviate.backup.async_", "_BackupAsync.restore", _grouped("backup.restore", _no_collection)
    ),
    *(
        Patch(
            "weaviate.collections.tenants.async_",
            f"_TenantsAsync.{method}",
            _grouped(f"{method}_tenants", _instance_collection),
        )
        for method in ("update", "activate", "deactivate", "offload")
    ),
    Patch(
        "weaviate.collections.data.async_",
        "_DataCollectionAsync.reference_add",
        _grouped("reference_add", _instance_collection),
    ),
)

#: Applied only while ``propagate_context`` is on: what the async connection sends as headers
#: (REST) and metadata (gRPC) takes the trace context of the call in flight.
PROPAGATION_PATCHES: Tuple[Patch, ...] = (
    Patch(_CONNECTION, "ConnectionAsync._ConnectionBase__get_latest_headers", _rest_headers),
    Patch(_CONNECTION, "ConnectionAsync.grpc_headers", _grpc_metadata),
)
