"""AsyncOpenSearch (opensearch-py 2.x and 3.x): one span per API call, one per async helper call.

Patch points, and why:

* ``AsyncTransport.perform_request``: every API of ``AsyncOpenSearch`` (namespaced ones such as
  ``client.indices.create`` too, and the async DSL classes) passes through it once per call, above
  its retries. opensearch-py passes no endpoint id, so the operation is read from the method and
  the path (``POST /movies/_search`` is ``search`` on ``movies``), with the names Elasticsearch
  gives the same endpoints.
* ``AIOHttpConnection.perform_request``: each attempt, so the last one names the node that
  answered and its HTTP status.
* The ``async_*`` helpers in ``opensearchpy._async.helpers.actions`` and their re-exports in
  ``opensearchpy.helpers``: one INTERNAL parent span each, with document totals (``_es_family``).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Dict, Optional, Tuple

from instrumentation._engine import Engine, Reader
from instrumentation._guard import guard
from instrumentation._patching import Patch
from instrumentation._record import Record, exception_type
from instrumentation._registry import Client
from instrumentation._routes import Routes
from instrumentation._url import redact_url
from instrumentation.clients._es_family import (
    MULTI_SEARCHES,
    QUERY_LANGUAGE_ENDPOINTS,
    SEARCH_ANSWERS,
    SEARCH_ENDPOINTS,
    Helpers,
    answer_keys,
    body_reason,
    read_bulk_failures,
    read_details,
    read_multi_search,
    read_rows,
    read_search_answer,
)
from instrumentation.instrumentors import ClientInstrumentor

SYSTEM = "opensearch"
CLIENT = Client(
    name="opensearch",
    library="opensearchpy",
    requirement="opensearch-py >= 2.4",
    extra="opensearch",
    system=SYSTEM,
    instrumentor="AsyncOpenSearchInstrumentor",
)


class AsyncOpenSearchInstrumentor(ClientInstrumentor):
    """Traces ``opensearchpy.AsyncOpenSearch``, its async DSL classes and ``async_*`` helpers."""

    client = CLIENT.name


BULK_FAILED_ITEMS = "opensearch.bulk.failed_items"
#: ``opensearch.took``, ``opensearch.timed_out``, ``opensearch.msearch.failed_searches``.
ANSWER_KEYS = answer_keys(SYSTEM)
TOOK = ANSWER_KEYS.took

#: The API call in flight in this task (the connection wrapper records the node into it).
_api_call: ContextVar[Optional[Record]] = ContextVar("opensearch_api_call", default=None)

# -- routes: (method, path) -> the endpoint, as Elasticsearch names it ---------------------------
_I = r"(?P<index>[^/_][^/]*)"
_ID = r"(?P<id>[^/]+)"
_ROUTES = Routes(
    (
        ("GET|POST", rf"(/{_I})?/_search", "search"),
        ("GET|POST", r"/_search/scroll(/[^/]+)?", "scroll"),
        ("DELETE", r"/_search/scroll(/[^/]+)?", "clear_scroll"),
        ("GET|POST", rf"(/{_I})?/_msearch", "msearch"),
        ("GET|POST", rf"(/{_I})?/_count", "count"),
        ("GET|POST", rf"(/{_I})?/_search/template", "search_template"),
        ("GET|POST", rf"(/{_I})?/_msearch/template", "msearch_template"),
        ("POST|PUT", rf"(/{_I})?/_bulk", "bulk"),
        ("GET|POST", rf"(/{_I})?/_mget", "mget"),
        ("POST", rf"/{_I}/_delete_by_query", "delete_by_query"),
        ("POST", rf"/{_I}/_update_by_query", "update_by_query"),
        ("POST", r"/_reindex", "reindex"),
        ("POST|PUT", rf"/{_I}/_doc(/{_ID})?", "index"),
        ("POST|PUT", rf"/{_I}/_create/{_ID}", "create"),
        ("GET", rf"/{_I}/_doc/{_ID}", "get"),
        ("HEAD", rf"/{_I}/_doc/{_ID}", "exists"),
        ("DELETE", rf"/{_I}/_doc/{_ID}", "delete"),
        ("POST", rf"/{_I}/_update/{_ID}", "update"),
        ("GET", rf"/{_I}/_source/{_ID}", "get_source"),
        ("GET|POST", rf"/{_I}/_explain/{_ID}", "explain"),
        ("POST", rf"/{_I}/_search/point_in_time", "create_point_in_time"),
        ("DELETE", r"/_search/point_in_time(/_all)?", "delete_point_in_time"),
        ("POST|GET", rf"(/{_I})?/_refresh", "indices.refresh"),
        ("PUT|POST|GET", rf"(/{_I})?/_mapping", "indices.mapping"),
        ("PUT|GET", rf"(/{_I})?/_settings", "indices.settings"),
        ("PUT", rf"/{_I}", "indices.create"),
        ("DELETE", rf"/{_I}", "indices.delete"),
        ("HEAD", rf"/{_I}", "indices.exists"),
        ("GET", rf"/{_I}", "indices.get"),
        ("GET", r"/", "info"),
        ("HEAD", r"/", "ping"),
        ("GET", r"/_cluster/health(/[^/]+)?", "cluster.health"),
        # The SQL and PPL plugins (``client.plugins.sql`` / ``.ppl``; the legacy Open Distro path)
        ("POST", r"/_(plugins|opendistro)/_sql", "sql.query"),
        ("POST", r"/_(plugins|opendistro)/_sql/_explain", "sql.explain"),
        ("POST", r"/_(plugins|opendistro)/_ppl", "ppl.query"),
        ("POST", r"/_(plugins|opendistro)/_ppl/_explain", "ppl.explain"),
    )
)
#: A more exact name per method for the two mapping/settings routes.
_BY_METHOD = {
    ("indices.mapping", "GET"): "indices.get_mapping",
    ("indices.mapping", "PUT"): "indices.put_mapping",
    ("indices.mapping", "POST"): "indices.put_mapping",
    ("indices.settings", "GET"): "indices.get_settings",
    ("indices.settings", "PUT"): "indices.put_settings",
}


def route(method: str, path: str) -> Tuple[str, Optional[str], Optional[Dict[str, str]]]:
    """(operation, index, path parameters) of a request; unknown routes keep a low-cardinality
    name (``GET _cat``)."""
    found = _ROUTES.match(method, path)
    if found is None:
        return f"{method} {path.strip('/').split('/', 1)[0] or '/'}", None, None
    name, parts = found
    parameters = {"id": parts["id"]} if "id" in parts else None
    return _BY_METHOD.get((name, method), name), parts.get("index"), parameters


def read_request(instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Record:
    method = str(args[0] if args else kwargs.get("method", "GET")).upper()
    url = str(args[1] if len(args) > 1 else kwargs.get("url", "/"))
    name, index, parameters = route(method, url.split("?", 1)[0])
    op = Record(SYSTEM, name, index, parameters)
    op.http_method = method
    if name == "bulk" or name in SEARCH_ENDPOINTS or name in QUERY_LANGUAGE_ENDPOINTS:
        body = args[3] if len(args) > 3 else kwargs.get("body")
        if body is not None:
            op.body = body
    return op


# -- reading the outcome ------------------------------------------------------------------------
def read_response(op: Record, response: Any, detailed: bool) -> None:
    # The outcome (the metric needs it too): failed shards or searches, failed bulk items.
    name = op.name
    if name in SEARCH_ANSWERS:
        if type(response) is dict:
            try:  # the common answer in line (no call): as _es_family.read_search_answer reads it
                if not response["_shards"]["failed"]:
                    if not detailed:
                        return
                    if "took" in response and response["timed_out"] is False:  # not a count's
                        hits = response["hits"]
                        found = hits["hits"]
                        took = response["took"]
                        if (
                            type(took) is int
                            and type(hits) is dict
                            and type(found) is list
                            and op.attributes is None
                        ):
                            op.returned_rows = len(found)
                            op.attributes = {TOOK: took}
                            return
            except (KeyError, TypeError, IndexError):
                pass
            read_search_answer(op, response, detailed, ANSWER_KEYS)
        return
    if name in MULTI_SEARCHES:
        if type(response) is dict:
            read_multi_search(op, response, detailed, ANSWER_KEYS)
    elif name == "bulk" and isinstance(response, dict) and response.get("errors"):
        read_bulk_failures(op, response, BULK_FAILED_ITEMS)
    if detailed:
        read_rows(op, response)


def read_error(op: Record, exc: BaseException, detailed: bool) -> None:
    """An ``HTTP`` error (``TransportError`` with an int status), else the exception class."""
    status = getattr(exc, "status_code", None)
    reason = body_reason(getattr(exc, "info", None)) if detailed else None
    if op.fail_by_status(status, reason):
        op.status_code = str(status)
    else:
        op.fail(exception_type(exc), reason)


API = Reader(response=read_response, error=read_error, details=read_details)


def _carry_headers(args: Any, kwargs: Any) -> Tuple[Any, Any, Dict[str, str]]:
    """Our own copy of the headers, filled with the trace context once the span has started;
    the transport sends the same dict with every retry."""
    if len(args) > 6:
        carrier = dict(args[6] or {})
        return (*args[:6], carrier, *args[7:]), kwargs, carrier
    carrier = dict(kwargs.get("headers") or {})
    return args, {**kwargs, "headers": carrier}, carrier


async def _connection_request(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """One attempt: the node it went to, and the status it answered."""
    op = _api_call.get()
    if op is not None:
        with guard:
            op.server_address = instance.hostname
            op.server_port = instance.port
            url = args[1] if len(args) > 1 else kwargs.get("url", "")
            op.url = redact_url(f"{instance.host}{instance.url_prefix}{url}")
    result = await wrapped(*args, **kwargs)
    if op is not None:
        with guard:
            op.status_code = str(result[0])
    return result


def patches(engine: Engine) -> Tuple[Patch, ...]:
    helpers = Helpers(SYSTEM, engine)
    return (
        Patch(
            "opensearchpy._async.transport",
            "AsyncTransport.perform_request",
            engine.wrapper(read_request, API, _api_call, _carry_headers),
        ),
        Patch(
            "opensearchpy._async.http_aiohttp",
            "AIOHttpConnection.perform_request",
            _connection_request,
        ),
        *helpers.rows("opensearchpy._async.helpers.actions"),
        *helpers.rows("opensearchpy.helpers"),
    )
