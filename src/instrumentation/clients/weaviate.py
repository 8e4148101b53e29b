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
from contextvars import ContextVar
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from instrumentation import _attributes as A
from instrumentation._engine import Engine, Reader
from instrumentation._guard import guard, report
from instrumentation._patching import Patch
from instrumentation._query import bound
from instrumentation._query_languages import read as read_query
from instrumentation._record import Record, exception_type
from instrumentation._registry import Client
from instrumentation._routes import Routes, first_segment
from instrumentation._trace_headers import TRACE_HEADERS
from instrumentation._url import redact_url
from instrumentation.instrumentors import ClientInstrumentor

SYSTEM = "weaviate"
CLIENT = Client(
    name="weaviate",
    library="weaviate",
    requirement="weaviate-client >= 4.17",
    extra="weaviate",
    system=SYSTEM,
    instrumentor="WeaviateAsyncInstrumentor",
)
BATCH_ERROR = "batch_object_error"


class WeaviateAsyncInstrumentor(ClientInstrumentor):
    """Traces ``weaviate.WeaviateAsyncClient`` (REST and gRPC); the sync client stays untouched."""

    client = CLIENT.name


class _Call(Record):
    """A Weaviate call's record; with ``propagate_context``, also the headers its requests send
    (found through ``_traced`` / ``_group`` by the request builders, ``_outgoing``)."""

    carrier: Optional[Dict[str, str]] = None


#: The multi-request call in flight in this task: requests inside it add to it, not start spans.
_group: ContextVar[Optional[_Call]] = ContextVar("weaviate_group", default=None)
#: With ``propagate_context``: the single call in flight, whose ``carrier`` its requests send.
_traced: ContextVar[Optional[Record]] = ContextVar("weaviate_traced", default=None)


# -- REST ---------------------------------------------------------------------------------------
_C = r"(?P<collection>[^/?]+)"
_ROUTES = Routes(
    (
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
)


def _route(method: str, path: str) -> Tuple[str, Optional[str]]:
    """(operation name, collection) for a REST call; unknown routes keep a low-cardinality name."""
    found = _ROUTES.match(method, path)
    if found is None:
        return f"{method} {first_segment(path) or '/'}", None
    return found[0], found[1].get("collection")


def _rest_query(op: Record, capture_query: str, max_length: int) -> None:
    """A GraphQL call (the only REST call with a body kept): its statement, read by the GraphQL
    tokenizer; the class it names is the collection, ``Get Movie`` the summary."""
    if not isinstance(op.body, dict):
        return
    statement = read_query("graphql", op.body.get("query"), capture_query, max_length)
    if statement is None:
        return
    op.query_text, collection, summary = statement
    if op.collection is None and collection is not None:
        op.collection = collection
    if summary is not None:
        op.query_summary = summary


def read_rest(instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> _Call:
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
    op = _Call(SYSTEM, name, collection)
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


def _grpc_op(instance: Any, name: str) -> _Call:
    op = _Call(SYSTEM, name)
    params = getattr(instance, "_connection_params", None)
    grpc = getattr(params, "grpc", None)
    if grpc is not None:
        op.server_address = grpc.host
        op.server_port = grpc.port
    return op


def read_search(instance: Any, args: Any, kwargs: Any) -> _Call:
    request = args[0] if args else kwargs.get("request")
    op = _grpc_op(instance, _search_name(request))
    _scope(op, request.collection, request.tenant, request.consistency_level)
    op.body = request
    return op


def read_batch_objects(instance: Any, args: Any, kwargs: Any) -> _Call:
    request = args[0] if args else kwargs.get("request")
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


def read_batch_delete(instance: Any, args: Any, kwargs: Any) -> _Call:
    request = args[0] if args else kwargs.get("request")
    op = _grpc_op(instance, "delete_many")
    _scope(op, request.collection, request.tenant, request.consistency_level)
    return op


def read_aggregate(instance: Any, args: Any, kwargs: Any) -> _Call:
    request = args[0] if args else kwargs.get("request")
    op = _grpc_op(instance, "aggregate")
    _scope(op, request.collection, request.tenant, 0)
    return op


def read_tenants_get(instance: Any, args: Any, kwargs: Any) -> _Call:
    request = args[0] if args else kwargs.get("request")
    op = _grpc_op(instance, "get_tenants")
    _scope(op, request.collection, "", 0)
    return op


def _batch_failed(op: Record, failed: int, first: Any = None) -> None:
    op.set_attribute(A.WEAVIATE_BATCH_FAILED_OBJECTS, failed)
    reason = None
    if first is not None:
        message = getattr(first, "message", first)
        reason = f"{failed} objects failed; first: {message}" if failed > 1 else str(message)
    op.fail(BATCH_ERROR, reason)


# -- generate.* (RAG): the GenAI conventions' provider, model and token usage -------------------
#: Weaviate's provider field (``GenerativeProvider.kind``) -> ``gen_ai.provider.name``: the
#: conventions' well-known value where there is one, else Weaviate's own name for the provider.
_PROVIDERS = {"mistral": "mistral_ai", "xai": "x_ai", "google": "gcp.gen_ai"}

#: Weaviate's metadata field (``GenerativeMetadata.kind``) -> where its usage message is and the
#: names of the input and output counts in it, as Weaviate's gRPC replier fills them. Providers
#: Weaviate returns no usage for (anyscale, aws, dummy, ollama) are absent: nothing is read.
_USAGE: Dict[str, Tuple[Tuple[Tuple[str, ...], str, str], ...]] = {
    "anthropic": ((("usage",), "input_tokens", "output_tokens"),),
    # Cohere: the tokens the model saw, else the billed ones.
    "cohere": (
        (("tokens",), "input_tokens", "output_tokens"),
        (("billed_units",), "input_tokens", "output_tokens"),
    ),
    "google": (
        (("usage_metadata",), "prompt_token_count", "candidates_token_count"),
        (("metadata", "token_metadata"), "input_token_count.total_tokens", "output_token_count.total_tokens"),
    ),
    **{
        kind: ((("usage",), "prompt_tokens", "completion_tokens"),)
        for kind in (
            "openai", "mistral", "databricks", "friendliai", "nvidia", "xai", "deepseek",
            "digitalocean", "meta",
        )
    },
}  # fmt: skip


def _present(message: Any, path: str) -> Optional[Any]:
    """``message.a.b`` when every field on the way is set, else None. A scalar without presence
    (Anthropic's counts) is read as it is: its message being there says it was returned."""
    for field in path.split("."):
        try:
            if not message.HasField(field):
                return None
        except ValueError:  # no presence (or not a field of this protocol version)
            if field not in message.DESCRIPTOR.fields_by_name:
                return None
        message = getattr(message, field)
    return message


def _usage(metadata: Any) -> Tuple[Optional[int], Optional[int]]:
    """(input, output) tokens of one generation's ``GenerativeMetadata``, None where absent."""
    kind = metadata.WhichOneof("kind")
    provider = getattr(metadata, kind) if kind else None
    for path, input_field, output_field in _USAGE.get(kind or "", ()):
        usage = _present(provider, ".".join(path))
        if usage is None:
            continue
        tokens_in = _present(usage, input_field)
        tokens_out = _present(usage, output_field)
        if tokens_in is not None or tokens_out is not None:  # Cohere counts in floats
            return _count(tokens_in), _count(tokens_out)
    return None, None


def _count(value: Any) -> Optional[int]:
    return None if value is None else round(value)


def _provider(op: Record, generative: Any, parts: Tuple[str, ...]) -> None:
    """``gen_ai.provider.name`` and ``gen_ai.request.model`` of the first dynamic provider."""
    for part in parts:
        for query in getattr(generative, part).queries:
            kind = query.WhichOneof("kind")
            if not kind:
                continue
            provider = getattr(query, kind)
            name = _PROVIDERS.get(kind, kind)
            if kind == "openai" and getattr(provider, "is_azure", False):
                name = "azure.ai.openai"
            elif kind == "aws" and getattr(provider, "service", ""):
                name = f"aws.{provider.service}"  # aws.bedrock, aws.sagemaker
            op.set_attribute(A.GEN_AI_PROVIDER_NAME, name)
            model = _present(provider, "model")
            if model:
                op.set_attribute(A.GEN_AI_REQUEST_MODEL, str(model))
            return


def _generative_request(op: Record, request: Any) -> bool:
    """The provider and model the request names (the dynamic ``generative_provider=``); whether
    it asks for a single prompt (per object) as well as a grouped task."""
    generative = request.generative
    parts = tuple(part for part in ("single", "grouped") if _has(generative, part))
    if parts:
        _provider(op, generative, parts)
    single = "single" in parts or bool(generative.single_response_prompt)
    grouped = "grouped" in parts or bool(generative.grouped_response_task)
    return single and grouped


def read_generative(op: Record, request: Any, response: Any) -> None:
    """A ``generate.*`` call: the provider and model it asked for, and the tokens of every
    generation in the answer (one per object for a single prompt, one for a grouped task, one
    per group), summed, where Weaviate returns usage (``metadata=True`` with a dynamic provider).

    Weaviate 1.39 puts the first object's usage into the grouped answer's metadata too when the
    request asks for both a single prompt and a grouped task (its replier reads one usage per
    object, which the single prompt's overwrote): that copy is not counted, so the grouped
    generation's tokens are then unknown rather than the first object's counted twice.
    """
    if request is None or not _has(request, "generative"):
        return
    both = _generative_request(op, request)
    if response is None:
        return
    replies: List[Any] = []
    for result in getattr(response, "results", ()):
        if _has(result, "generative"):
            replies.extend(result.generative.values)
    if _has(response, "generative_grouped_results") and not both:
        replies.extend(response.generative_grouped_results.values)
    for group in getattr(response, "group_by_results", ()):
        if _has(group, "generative"):
            replies.append(group.generative)
        if _has(group, "generative_result"):
            replies.extend(group.generative_result.values)
    total_in = total_out = 0
    seen_in = seen_out = False
    for reply in replies:
        if not _has(reply, "metadata"):
            continue
        tokens_in, tokens_out = _usage(reply.metadata)
        if tokens_in is not None:
            total_in += tokens_in
            seen_in = True
        if tokens_out is not None:
            total_out += tokens_out
            seen_out = True
    if seen_in:
        op.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, total_in)
    if seen_out:
        op.set_attribute(A.GEN_AI_USAGE_OUTPUT_TOKENS, total_out)


def read_search_response(op: Record, response: Any, detailed: bool) -> None:
    """A search's answer (``read_grpc_response`` for a search), and a ``generate.*`` one's GenAI
    reading: its tokens are read whether or not the span records (the token metric counts every
    call), on these calls only."""
    op.status_code = "OK"
    if detailed:  # the rows are span details; the metric needs none of them
        _read_rows(op, response)
    if op.name[0] == "g":  # of the search names (_search_name), only generate.* starts so
        read_generative(op, op.body, response)


def read_search_error(op: Record, exc: BaseException, detailed: bool) -> None:
    """A failed search; a failed ``generate.*`` still names the provider and model it asked for."""
    read_error(op, exc, detailed)
    if op.name[0] == "g":
        read_generative(op, op.body, None)


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
        if op.fail_by_status(status, _rest_message(getattr(cause, "error", None))):
            op.status_code = str(status)
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


def _wrappers(engine: Engine) -> Dict[str, Any]:
    """The wrappers of the async connection and of the multi-request methods, closed over
    ``engine``. A request inside a multi-request call (``_group``) adds to that call's span."""
    wants, call, propagate = engine.wants, engine.call, engine.propagate

    def request(
        read: Callable[[Any, Any, Any], _Call], reader: Reader, unchecked: Optional[Reader] = None
    ) -> Callable[..., Any]:
        """A request method: REST's ``_send`` (which builds the request when called, and with
        ``unchecked``, the reader of an answer whose caller judges its status) or a gRPC method
        (a coroutine function: its metadata is read when it runs, after the span starts)."""
        late = unchecked is not None

        def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            group = _group.get()
            if group is None and not wants():
                return wrapped(*args, **kwargs)
            op = None
            try:  # as ``with guard:``, without its two Python calls on every traced call
                op = read(instance, args, kwargs)
            except Exception as exc:
                report(exc)
            if op is None:
                return wrapped(*args, **kwargs)
            used = reader
            if unchecked is not None and kwargs.get("status_codes") is None:
                used = unchecked
            if group is not None:
                if late and group.carrier is not None:
                    # A multi-request call that sends as it is called (``collections.exists``):
                    # its span has not started yet, so the request is built when awaited.
                    return _in_group(group, op, _send_later(wrapped, args, kwargs), used)
                return _in_group(group, op, wrapped(*args, **kwargs), used)
            if propagate:  # the request takes the context of the span, started first
                op.carrier = {}
                awaitable = _send_later(wrapped, args, kwargs) if late else wrapped(*args, **kwargs)
                return call(op, used, awaitable, _traced, op.carrier)
            return call(op, used, wrapped(*args, **kwargs))

        return wrapper

    def batch_stream(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """``batch.stream()``: one span for the life of the bidirectional stream."""
        stream = wrapped(*args, **kwargs)
        if _group.get() is not None or not wants():
            return stream
        with guard:
            op = _grpc_op(instance, "batch.stream")
            op.status_code = "OK"
            if propagate:  # the stream's metadata, read in its first step, takes the context
                op.carrier = {}
                return engine.iterate(op, GRPC, stream, _traced, op.carrier)
            return engine.iterate(op, GRPC, stream)
        return stream

    def grouped(name: str, collection: Callable[[Any, Any, Any], Optional[str]]) -> Any:
        async def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            if _group.get() is not None or not wants():
                return await wrapped(*args, **kwargs)
            if (
                name == "connect"
                and getattr(instance, "_connected", False)
                and not _forced(args, kwargs)
            ):
                return await wrapped(*args, **kwargs)  # already connected: sends nothing, no span
            op = None
            with guard:
                op = _Call(SYSTEM, name, collection(instance, args, kwargs))
                if propagate:
                    op.carrier = {}
            if op is None:
                return await wrapped(*args, **kwargs)
            token = _group.set(op)  # before the call is made: some of these send on being called
            try:
                return await call(op, _GROUP, wrapped(*args, **kwargs), None, op.carrier)
            finally:
                _group.reset(token)

        return wrapper

    return {"request": request, "batch_stream": batch_stream, "grouped": grouped}


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


# -- trace context into requests (propagate_context) --------------------------------------------
def _outgoing() -> Optional[Dict[str, str]]:
    op = _traced.get() or _group.get()
    return getattr(op, "carrier", None) if op is not None else None


def _rest_headers(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """The headers of the request ``_send`` builds, with the call's trace context (in place of
    any the connection's own headers have: one value per header)."""
    headers = wrapped(*args, **kwargs)
    with guard:
        carrier = _outgoing()
        if carrier:
            if any(key.lower() in TRACE_HEADERS for key in headers):
                headers = {k: v for k, v in headers.items() if k.lower() not in TRACE_HEADERS}
            return {**headers, **carrier}
    return headers


def _grpc_metadata(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """The metadata of a gRPC call, with the call's trace context in place of any the
    connection's own metadata has (gRPC keys are lower-case)."""
    metadata = wrapped(*args, **kwargs)
    with guard:
        carrier = _outgoing()
        if carrier:
            kept = tuple(pair for pair in metadata or () if pair[0].lower() not in TRACE_HEADERS)
            return (*kept, *((key.lower(), value) for key, value in carrier.items()))
    return metadata


async def _request_hook(request: Any) -> None:
    """httpx ``request`` event hook: the call's trace context, when the request is sent."""
    with guard:
        carrier = _outgoing()
        if carrier:
            request.headers.update(carrier)  # replaces a value already there, never a second one


def _rest_client(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """The httpx clients the connection makes: one made inside a traced call (the temporary
    client of ``connect``'s ``GET /v1/.well-known/openid-configuration``, which does not go through
    ``_send``; the connection's own client when ``connect`` makes it) sends the context of the call
    in flight with each request."""
    client = wrapped(*args, **kwargs)
    with guard:
        colour = args[0] if args else kwargs.get("colour")
        if colour == "async" and _outgoing():
            hooks = client.event_hooks
            hooks.setdefault("request", []).append(_request_hook)
            client.event_hooks = hooks
    return client


class _WithMetadata:
    """A gRPC channel whose unary calls also send ``pairs`` as metadata."""

    __slots__ = ("_channel", "_pairs")

    def __init__(self, channel: Any, pairs: Tuple[Tuple[str, str], ...]) -> None:
        self._channel = channel
        self._pairs = pairs

    def unary_unary(self, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        call = self._channel.unary_unary(*args, **kwargs)
        pairs = self._pairs

        def with_metadata(request: Any, *rest: Any, metadata: Any = None, **options: Any) -> Any:
            return call(request, *rest, metadata=(*(metadata or ()), *pairs), **options)

        return with_metadata

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)


def _health_check(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``connect``'s gRPC health check sends no metadata of its own: while it makes its call (when
    ``_ping_grpc`` is called, not awaited), the connection's channel adds the call's context."""
    carrier = channel = None
    with guard:
        carrier = _outgoing()
        channel = getattr(instance, "_grpc_channel", None)
    if not carrier or channel is None:
        return wrapped(*args, **kwargs)
    pairs = tuple((key.lower(), value) for key, value in carrier.items())
    instance._grpc_channel = _WithMetadata(channel, pairs)
    try:
        return wrapped(*args, **kwargs)
    finally:
        instance._grpc_channel = channel


#: How each kind of call is read.
REST = Reader(response=read_rest_response, error=read_error, details=_rest_query)
_REST_UNCHECKED = REST._replace(response=read_unchecked_rest_response)
_GROUP = Reader(response=_group_response, error=read_error)
GRPC = Reader(response=read_grpc_response, error=read_error)
SEARCH = Reader(response=read_search_response, error=read_search_error, details=_search_query)

_CONNECTION = "weaviate.connect.v4"
_COLLECTIONS = "weaviate.collections.collections.async_"


def patches(engine: Engine) -> Tuple[Patch, ...]:
    """The async connection's request methods, the multi-request methods as one span each, and
    with ``propagate_context`` what builds a request's headers (REST) and metadata (gRPC)."""
    wrap = _wrappers(engine)
    request, grouped = wrap["request"], wrap["grouped"]
    rows: Tuple[Patch, ...] = (
        Patch(_CONNECTION, "ConnectionAsync._send", request(read_rest, REST, _REST_UNCHECKED)),
        Patch(_CONNECTION, "ConnectionAsync.grpc_search", request(read_search, SEARCH)),
        Patch(_CONNECTION, "ConnectionAsync.grpc_batch_objects", request(read_batch_objects, GRPC)),
        Patch(_CONNECTION, "ConnectionAsync.grpc_batch_delete", request(read_batch_delete, GRPC)),
        Patch(_CONNECTION, "ConnectionAsync.grpc_aggregate", request(read_aggregate, GRPC)),
        Patch(_CONNECTION, "ConnectionAsync.grpc_tenants_get", request(read_tenants_get, GRPC)),
        # weaviate-client 4.20 and later: batch.stream() (older ones have no such method).
        Patch(_CONNECTION, "ConnectionAsync.grpc_batch_stream", wrap["batch_stream"], True),
        Patch(_CONNECTION, "ConnectionAsync.connect", grouped("connect", _no_collection)),
        Patch(
            _COLLECTIONS,
            "_CollectionsAsync.delete",
            grouped("delete_collection", _collections_argument),
        ),
        Patch(
            _COLLECTIONS,
            "_CollectionsAsync.exists",
            grouped("collection_exists", _collections_argument),
        ),
        Patch(
            _COLLECTIONS,
            "_CollectionsAsync.delete_all",
            grouped("delete_all_collections", _no_collection),
        ),
        Patch(
            "weaviate.backup.async_",
            "_BackupAsync.create",
            grouped("backup.create", _no_collection),
        ),
        Patch(
            "weaviate.backup.async_",
            "_BackupAsync.restore",
            grouped("backup.restore", _no_collection),
        ),
        *(
            Patch(
                "weaviate.collections.tenants.async_",
                f"_TenantsAsync.{method}",
                grouped(f"{method}_tenants", _instance_collection),
            )
            for method in ("update", "activate", "deactivate", "offload")
        ),
        Patch(
            "weaviate.collections.data.async_",
            "_DataCollectionAsync.reference_add",
            grouped("reference_add", _instance_collection),
        ),
    )
    if engine.propagate:
        # What the async connection sends as headers (REST) and metadata (gRPC) takes the trace
        # context of the call in flight.
        rows += (
            Patch(
                _CONNECTION, "ConnectionAsync._ConnectionBase__get_latest_headers", _rest_headers
            ),
            Patch(_CONNECTION, "ConnectionAsync.grpc_headers", _grpc_metadata),
            Patch(_CONNECTION, "ConnectionAsync._make_client", _rest_client),
            Patch(_CONNECTION, "ConnectionAsync._ping_grpc", _health_check),
        )
    return rows
