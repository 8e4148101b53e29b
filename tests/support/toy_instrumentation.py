"""The instrumentation of ``tests.support.toy_client``: a client module as the package's own are.

Registered with ``instrumentation._registry.register("tests.support.toy_instrumentation")``, it is
instrumented by ``instrument(clients=["toy"])`` like any other client: nothing else in the package
knows it. What it declares is all a client needs: its row, its instrumentor, how a call is read,
and its patch rows around the engine it is handed.
"""

from __future__ import annotations

from typing import Any, Tuple

from instrumentation._engine import Engine, Reader
from instrumentation._patching import Patch
from instrumentation._query import capture
from instrumentation._record import Record, exception_type
from instrumentation._registry import Client
from instrumentation._routes import Routes
from instrumentation.instrumentors import ClientInstrumentor

CLIENT = Client(
    name="toy",
    library="tests.support.toy_client",
    requirement="aiohttp >= 3.9",
    extra="dev",
    system="toy",
    instrumentor="ToyInstrumentor",
)


class ToyInstrumentor(ClientInstrumentor):
    """Traces ``tests.support.toy_client.ToyClient``."""

    client = CLIENT.name


_ROUTES = Routes(
    (
        ("GET", r"/(?P<index>[^/_][^/]*)/_doc/(?P<id>[^/]+)", "get"),
        ("POST", r"/(?P<index>[^/_][^/]*)/_search", "search"),
    )
)


def read_call(instance: Any, args: Any, kwargs: Any) -> Record:
    method, path = args[0], args[1]
    name, parts = _ROUTES.match(method, path) or (method, {})
    record = Record("toy", name, parts.get("index"), {"id": parts["id"]} if "id" in parts else None)
    record.body = args[2] if len(args) > 2 else None
    record.http_method = method
    record.url = instance.url + path
    return record


def read_details(record: Record, capture_query: str, max_length: int) -> None:
    if record.body is not None:
        record.query_text = capture(record.body, capture_query, max_length)


def read_response(record: Record, response: Any, detailed: bool) -> None:
    record.status_code = "200"


def read_error(record: Record, exc: BaseException, detailed: bool) -> None:
    status = getattr(exc, "status", None)
    if record.fail_by_status(status, "not found" if status == 404 else None):
        record.status_code = str(status)
    else:
        record.fail(exception_type(exc))


CALL = Reader(response=read_response, error=read_error, details=read_details)


def patches(engine: Engine) -> Tuple[Patch, ...]:
    return (
        Patch("tests.support.toy_client", "ToyClient._request", engine.wrapper(read_call, CALL)),
    )
