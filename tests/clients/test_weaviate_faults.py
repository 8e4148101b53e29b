"""Weaviate under faults: the application sees exactly what it would see uninstrumented.

As for Elasticsearch (see ``test_elasticsearch_faults``), every scenario runs plain,
instrumented, then plain again, each time with a freshly connected ``WeaviateAsyncClient`` and the
same data (fixed UUIDs), and the three outcomes must be identical; the instrumented run must leave
exactly the expected spans, each ended exactly once with the right status and ``error.type``.

Faults: gRPC status codes and delays, per-object batch errors and REST statuses from the stand-in's
fault plan; a stand-in stopped in the middle of a session; and calls cancelled or timed out by the
application while they are provably in flight (the stand-in's request log wakes the test). The
client's gRPC retry backoff sleeps are skipped, not slept.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, List, Optional, Tuple

import grpc
import pytest
import weaviate
import weaviate.classes as wvc
from weaviate.classes.init import AdditionalConfig, Timeout

from tests.servers.weaviate_rest import WeaviateStandIn, connect_async_client
from tests.support.apm import ApmRecorder, apm_outcomes, expected_apm_outcomes
from tests.support.audit import SpanAudit
from tests.support.differential import Differential, plain_traced_plain
from tests.support.in_flight import HELD_BACK, Arrivals, cancel_when, time_out_when
from tests.support.telemetry import duration_points, status_of
from tests.support.weaviate import FastAsyncio

PROPS = [
    wvc.config.Property(name="title", data_type=wvc.config.DataType.TEXT),
    wvc.config.Property(name="year", data_type=wvc.config.DataType.INT),
]
OBJECTS = [
    wvc.data.DataObject(
        properties={"title": title, "year": year},
        uuid=f"00000000-0000-0000-0000-00000000000{n}",
        vector=[float(n), 1.0],
    )
    for n, (title, year) in enumerate([("Alien", 1979), ("Heat", 1995), ("Up", 2009)])
]
NEW = [
    wvc.data.DataObject(
        properties={"title": f"new {n}"}, uuid=f"10000000-0000-0000-0000-00000000000{n}"
    )
    for n in range(3)
]


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's gRPC retry backoff sleeps, skipped (not slept)."""
    monkeypatch.setattr(weaviate.retry, "asyncio", FastAsyncio())


# -- scenarios ------------------------------------------------------------------------------------
Call = Callable[[Any, "Env"], Awaitable[Any]]


@dataclass(frozen=True)
class Case:
    id: str
    call: Call
    #: (span name, error.type or None) of every span the instrumented run must leave.
    spans: Tuple[Tuple[str, Optional[str]], ...]
    #: (kind, args, kwargs) with kind one of the stand-in's fault methods: grpc, http, delay ...
    faults: Tuple[Tuple[str, Tuple[Any, ...], Dict[str, Any]], ...] = ()
    client: Dict[str, Any] = field(default_factory=dict)
    #: gRPC method -> calls the stand-in must see per run (client retries)
    grpc_calls: Dict[str, int] = field(default_factory=dict)
    #: "shared": the fixture's stand-in; "own": a stand-in of the run's own, stopped mid-session
    server: str = "shared"
    #: whether the application sees an exception (None: when the last span is an error)
    raises: Optional[bool] = None


def _movies(client: Any) -> Any:
    return client.collections.use("Movie")


async def _fetch(client: Any, env: Env) -> Any:
    return await _movies(client).query.fetch_objects()


async def _insert_many(client: Any, env: Env) -> Any:
    return await _movies(client).data.insert_many(NEW)


async def _insert(client: Any, env: Env) -> Any:
    return await _movies(client).data.insert({"title": "new"}, uuid=NEW[0].uuid)


async def _list_collections(client: Any, env: Env) -> Any:
    return await client.collections.list_all()


async def _cancelled_fetch(client: Any, env: Env) -> Any:
    return await cancel_when(env.in_flight("grpc"), _fetch(client, env))


async def _cancelled_insert(client: Any, env: Env) -> Any:
    return await cancel_when(env.in_flight("rest"), _insert(client, env))


async def _timed_out_fetch(client: Any, env: Env) -> Any:
    return await time_out_when(env.in_flight("grpc"), _fetch(client, env))


async def _timed_out_insert(client: Any, env: Env) -> Any:
    return await time_out_when(env.in_flight("rest"), _insert(client, env))


async def _fetch_then_server_gone(client: Any, env: Env) -> Any:
    await _fetch(client, env)
    await env.stop_own_server()
    return await _fetch(client, env)


async def _insert_then_server_gone(client: Any, env: Env) -> Any:
    await _movies(client).data.insert({"title": "new"}, uuid=NEW[1].uuid)
    await env.stop_own_server()
    return await _insert(client, env)


def _grpc(method: str, code: grpc.StatusCode, **kwargs: Any) -> Tuple[str, Tuple[Any, ...], Any]:
    return ("grpc", (method, code), kwargs)


def _http_cases(status: int) -> List[Case]:
    """An endpoint with expected status codes (the client raises inside ``_send``), and one
    without (its caller raises afterwards). A 404 of the latter is in its own test below."""
    cases = [
        Case(
            f"rest-{status}-insert",
            _insert,
            (("insert Movie", str(status)),),
            faults=(("http", (r"^/v1/objects$", status), {"method": "POST"}),),
        )
    ]
    if status != 404:
        cases.append(
            Case(
                f"rest-{status}-list-collections",
                _list_collections,
                (("list_collections", str(status)),),
                faults=(("http", (r"^/v1/schema$", status), {"method": "GET"}),),
            )
        )
    return cases


CASES = [
    Case(
        "grpc-not-found",
        _fetch,
        (("fetch_objects Movie", "NOT_FOUND"),),
        faults=(_grpc("Search", grpc.StatusCode.NOT_FOUND),),
        grpc_calls={"Search": 1},
    ),
    Case(
        "grpc-unavailable-retried-then-answered",
        _fetch,
        (("fetch_objects Movie", None),),
        faults=(_grpc("Search", grpc.StatusCode.UNAVAILABLE, times=2),),
        grpc_calls={"Search": 3},
    ),
    Case(
        "grpc-unavailable-retried-then-exhausted",
        _fetch,
        (("fetch_objects Movie", "UNAVAILABLE"),),
        faults=(_grpc("Search", grpc.StatusCode.UNAVAILABLE, times=-1),),
        grpc_calls={"Search": 6},
    ),
    Case(
        "grpc-deadline-exceeded-status",
        _fetch,
        (("fetch_objects Movie", "DEADLINE_EXCEEDED"),),
        faults=(_grpc("Search", grpc.StatusCode.DEADLINE_EXCEEDED),),
    ),
    Case(
        "grpc-deadline-exceeded-for-real",
        _fetch,
        (("fetch_objects Movie", "DEADLINE_EXCEEDED"),),
        faults=(("delay", ("Search", HELD_BACK), {}),),
        client={"additional_config": AdditionalConfig(timeout=Timeout(query=0.2))},
    ),
    Case(
        "grpc-resource-exhausted-batch",
        _insert_many,
        (("insert_many Movie", "RESOURCE_EXHAUSTED"),),
        faults=(_grpc("BatchObjects", grpc.StatusCode.RESOURCE_EXHAUSTED),),
        grpc_calls={"BatchObjects": 1},
    ),
    Case(
        "per-object-batch-errors",
        _insert_many,
        (("insert_many Movie", "batch_object_error"),),
        faults=(("batch_errors", ({0, 2}, "vectorizer refused"), {}),),
        raises=False,
    ),
    *(case for status in (401, 404, 422, 500) for case in _http_cases(status)),
    Case(
        "grpc-cancelled-in-flight",
        _cancelled_fetch,
        (("fetch_objects Movie", "CancelledError"),),
        faults=(("delay", ("Search", HELD_BACK), {}),),
    ),
    Case(
        "rest-cancelled-in-flight",
        _cancelled_insert,
        (("insert Movie", "CancelledError"),),
        faults=(("delay", (r"^/v1/objects$", HELD_BACK), {}),),
    ),
    Case(
        "grpc-asyncio-timeout-in-flight",
        _timed_out_fetch,
        (("fetch_objects Movie", "CancelledError"),),
        faults=(("delay", ("Search", HELD_BACK), {}),),
    ),
    Case(
        "rest-asyncio-timeout-in-flight",
        _timed_out_insert,
        (("insert Movie", "CancelledError"),),
        faults=(("delay", (r"^/v1/objects$", HELD_BACK), {}),),
    ),
    Case(
        "grpc-server-gone-mid-session",
        _fetch_then_server_gone,
        (("fetch_objects Movie", None), ("fetch_objects Movie", "UNAVAILABLE")),
        server="own",
    ),
    Case(
        "rest-server-gone-mid-session",
        _insert_then_server_gone,
        (("insert Movie", None), ("insert Movie", "WeaviateConnectionError")),
        server="own",
    ),
]


# -- the environment a scenario runs in ---------------------------------------------------------
class Env:
    def __init__(self, shared: WeaviateStandIn) -> None:
        self.shared = shared
        loop = asyncio.get_running_loop()
        self.grpc_log = Arrivals(loop)
        self.rest_log = Arrivals(loop)
        self.own: Optional[WeaviateStandIn] = None
        self.owned: List[WeaviateStandIn] = []
        self.ports: List[int] = []

    def server(self, case: Case) -> WeaviateStandIn:
        return self.own if case.server == "own" and self.own is not None else self.shared

    async def prepare(self, case: Case) -> WeaviateStandIn:
        """A server in the same state before every run: fresh data, faults and request logs."""
        if case.server == "own":
            self.own = WeaviateStandIn()
            await self.own.start()
            self.owned.append(self.own)
            self.ports += [self.own.http_port, self.own.grpc_port]
        server = self.server(case)
        server.reset()
        self.grpc_log.clear()
        self.rest_log.clear()
        server.grpc_requests = self.grpc_log
        server.rest_requests = self.rest_log
        return server

    async def seed(self, client: Any, case: Case) -> None:
        movies = await client.collections.create("Movie", properties=PROPS)
        result = await movies.data.insert_many(OBJECTS)
        assert not result.has_errors
        self.grpc_log.clear()
        self.rest_log.clear()
        server = self.server(case)
        for kind, args, kwargs in case.faults:
            getattr(server.faults, kind)(*args, **kwargs)
        self.grpc_log.rearm()
        self.rest_log.rearm()

    def in_flight(self, protocol: str) -> asyncio.Event:
        return (self.grpc_log if protocol == "grpc" else self.rest_log).arrived

    async def stop_own_server(self) -> None:
        assert self.own is not None
        await self.own.stop()

    def mask(self, text: str) -> str:
        """Ports of the per-run servers differ between runs: the rest of a message must not."""
        for port in self.ports:
            text = text.replace(str(port), "<port>")
        return text

    async def close(self) -> None:
        for server in self.owned:
            await server.stop()


@pytest.fixture
async def env(weaviate_server: WeaviateStandIn) -> AsyncIterator[Env]:
    environment = Env(weaviate_server)
    yield environment
    await environment.close()


async def run_case(
    case: Case,
    env: Env,
    instrumented: Any,
    span_exporter: Any,
    audit: SpanAudit,
    apm: Optional[ApmRecorder] = None,
) -> Differential:
    """The scenario plain, instrumented (both backends when ``apm``), plain again."""

    @contextlib.asynccontextmanager
    async def open_client() -> AsyncIterator[Any]:
        server = await env.prepare(case)
        client = await connect_async_client(server, **case.client)
        try:
            await env.seed(client, case)
            yield client
            methods = [request.method for request in env.grpc_log]
            assert {m: methods.count(m) for m in case.grpc_calls} == case.grpc_calls
        finally:
            await client.close()

    return await plain_traced_plain(
        open_client,
        lambda client: case.call(client, env),
        instrumented,
        span_exporter,
        apm=apm,
        audit=audit,
        mask=env.mask,
    )


# -- the matrix -----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_fault_changes_nothing_the_application_sees(
    case: Case,
    env: Env,
    instrumented: Any,
    span_exporter: Any,
    metric_reader: Any,
    audit: SpanAudit,
    apm: ApmRecorder,
) -> None:
    run = await run_case(case, env, instrumented, span_exporter, audit, apm)
    spans = run.spans
    run.assert_same_outcome()
    raises = case.spans[-1][1] is not None if case.raises is None else case.raises
    assert run.traced.raised is raises

    seen = sorted(((span.name, status_of(span)) for span in spans), key=str)
    assert seen == sorted(case.spans, key=str)
    points = duration_points(metric_reader)
    assert sum(point.count for point in points) == len(case.spans)
    errors = sorted(
        point.attributes.get("error.type") or "" for point in points for _ in range(point.count)
    )
    assert errors == sorted(error or "" for _, error in case.spans)
    assert apm_outcomes(run.apm_spans) == expected_apm_outcomes(case.spans)


async def test_per_object_batch_errors_are_counted_on_the_span(
    env: Env, instrumented: Any, span_exporter: Any, audit: SpanAudit
) -> None:
    [case] = [c for c in CASES if c.id == "per-object-batch-errors"]
    run = await run_case(case, env, instrumented, span_exporter, audit)
    [span] = run.spans
    assert set(run.traced.value.errors) == {0, 2}
    assert span.attributes["weaviate.batch.failed_objects"] == 2
    assert span.attributes["db.operation.batch.size"] == 3


async def test_a_404_a_lookup_answers_none_for_is_not_an_error(
    weaviate_server: WeaviateStandIn, instrumented: Any, span_exporter: Any
) -> None:
    client = await connect_async_client(weaviate_server)
    async with client:
        docs = await client.collections.create(
            "Docs", multi_tenancy_config=wvc.config.Configure.multi_tenancy(enabled=True)
        )
        await docs.tenants.create(["alpha"])
        instrumented()
        assert await docs.tenants.get_by_name("missing") is None
    [span] = span_exporter.get_finished_spans()
    assert span.attributes["db.response.status_code"] == "404"
    assert status_of(span) is None
