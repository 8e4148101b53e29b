"""Elasticsearch under faults: the application sees exactly what it would see uninstrumented.

Every scenario runs three times against the same servers, each time with a fresh
``AsyncElasticsearch``: uninstrumented, instrumented, uninstrumented again (so ``uninstrument()``
is shown to give back the plain behaviour too). The three outcomes must be identical: the same
return value, or an exception of the same type with the same message, arguments, attributes
(``meta.status``, ``body``, ``errors`` ...) and cause chain. The instrumented run must leave exactly
the expected spans, each ended exactly once with the right status and ``error.type``, none open,
and one duration sample per span.

Faults come from the stand-in's fault plan, from a second stand-in that is not Elasticsearch (no
``X-Elastic-Product``), from a port nobody listens on, and from ``RawServer`` below: a TCP server
that answers half a response and then resets the connection, or never answers at all (so a call
can be cancelled or timed out while it is provably in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass, field
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Dict,
    List,
    Optional,
    Set,
    Tuple,
)

import pytest
from elasticsearch import AsyncElasticsearch, helpers

from tests.servers.elasticsearch import ElasticsearchStandIn
from tests.support.apm import ApmRecorder, apm_outcomes, expected_apm_outcomes
from tests.support.audit import SpanAudit
from tests.support.differential import Differential, plain_traced_plain
from tests.support.in_flight import HELD_BACK, Arrivals, cancel_when, time_out_when
from tests.support.telemetry import duration_points, status_of

DOCS = [{"title": "Alien", "n": 1979}, {"title": "Heat", "n": 1995}, {"title": "Up", "n": 2009}]


# -- servers that misbehave below HTTP ------------------------------------------------------------
class RawServer:
    """Reads one HTTP request per connection, then ``reset``s mid-response or ``hang``s."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.port = 0
        self.requests: Arrivals = Arrivals(asyncio.get_running_loop())
        self._server: Optional[asyncio.AbstractServer] = None
        self._handlers: Set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                self.requests.append(head.split(b"\r\n", 1)[0])
                if self.behaviour == "hang":
                    await asyncio.Event().wait()  # until the server closes
                writer.write(
                    b"HTTP/1.1 200 OK\r\nX-Elastic-Product: Elasticsearch\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 4096\r\n\r\n"
                    b'{"took":1,"hits":{"hits":['
                )
                await writer.drain()
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.close()  # SO_LINGER 0: the close is a TCP reset
                return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self._handlers.discard(task)


def free_port() -> int:
    """A port that was free a moment ago: nothing listens there."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- scenarios ------------------------------------------------------------------------------------
Call = Callable[[AsyncElasticsearch, "Env"], Awaitable[Any]]


@dataclass(frozen=True)
class Case:
    id: str
    call: Call
    #: (span name, error.type or None) of every span the instrumented run must leave.
    spans: Tuple[Tuple[str, Optional[str]], ...]
    faults: Tuple[Dict[str, Any], ...] = ()
    client: Dict[str, Any] = field(default_factory=dict)
    #: "standin", "refused", "reset", "hang", "not-elasticsearch", "failover", "all-down"
    hosts: str = "standin"
    #: requests the stand-in must see in each run (retries); None: not checked
    attempts: Optional[int] = None


async def _search(es: AsyncElasticsearch, env: Env) -> Any:
    return await es.search(index="movies", query={"match": {"title": "alien"}})


async def _info(es: AsyncElasticsearch, env: Env) -> Any:
    return await es.info()


async def _cancelled_search(es: AsyncElasticsearch, env: Env) -> Any:
    return await cancel_when(env.in_flight(), es.search(index="movies"))


async def _timed_out_search(es: AsyncElasticsearch, env: Env) -> Any:
    return await time_out_when(env.in_flight(), es.search(index="movies"))


async def _bulk_helper(es: AsyncElasticsearch, env: Env) -> Any:
    actions = [
        {"_id": "1", "title": "fine"},
        {"_id": "2", "title": "bad", "n": "secret"},  # "n" is a long: the node refuses it
    ]
    return await helpers.async_bulk(es, actions, index="movies")


async def _scan_helper(es: AsyncElasticsearch, env: Env) -> Any:
    return [hit["_id"] async for hit in helpers.async_scan(es, index="movies", size=1)]


def _status_case(status: int, **extra: Any) -> Case:
    return Case(
        f"http-{status}",
        _search,
        (("search movies", str(status)),),
        faults=({"path": "_search", "status": status, "times": 10},),
        attempts=1,
        **extra,
    )


_RETRYING = {"max_retries": 2, "retry_on_status": (429, 502, 503, 504)}

CASES = [
    *(_status_case(status) for status in (400, 401, 403, 404, 409, 500)),
    *(
        Case(
            f"http-{status}-retried-then-exhausted",
            _search,
            (("search movies", str(status)),),
            faults=({"path": "_search", "status": status, "times": 10},),
            client=_RETRYING,
            attempts=3,
        )
        for status in (429, 502, 503)
    ),
    Case(
        "http-429-retried-then-answered",
        _search,
        (("search movies", None),),
        faults=({"path": "_search", "status": 429, "times": 1},),
        client=_RETRYING,
        attempts=2,
    ),
    Case(
        "connection-refused",
        _info,
        (("info", "ConnectionError"),),
        client={"max_retries": 1},
        hosts="refused",
    ),
    Case(
        "connection-dropped-before-answer",
        _search,
        (("search movies", "ConnectionError"),),
        faults=({"path": "_search", "drop": True, "times": 10},),
        client={"max_retries": 1},
        attempts=2,
    ),
    Case(
        "connection-reset-mid-response",
        _search,
        (("search movies", "ConnectionError"),),
        client={"max_retries": 0},
        hosts="reset",
    ),
    Case(
        "read-timeout",
        _search,
        (("search movies", "ConnectionTimeout"),),
        faults=({"path": "_search", "delay": HELD_BACK},),
        client={"request_timeout": 0.1, "max_retries": 0},
        attempts=1,
    ),
    Case(
        "malformed-json",
        _search,
        (("search movies", "SerializationError"),),
        faults=({"path": "_search", "malformed": True},),
        attempts=1,
    ),
    Case(
        "not-elasticsearch-product-check",
        _info,
        (("info", "UnsupportedProductError"),),
        hosts="not-elasticsearch",
    ),
    Case(
        "node-failover-to-the-live-host",
        _info,
        (("info", None),),
        client={"max_retries": 3, "randomize_nodes_in_pool": False},
        hosts="failover",
    ),
    Case(
        "every-host-down",
        _info,
        (("info", "ConnectionError"),),
        client={"max_retries": 2, "randomize_nodes_in_pool": False},
        hosts="all-down",
    ),
    Case(
        "cancelled-in-flight",
        _cancelled_search,
        (("search movies", "CancelledError"),),
        hosts="hang",
    ),
    Case(
        "asyncio-timeout-in-flight",
        _timed_out_search,
        (("search movies", "CancelledError"),),
        hosts="hang",
    ),
    Case(
        "bulk-helper-with-a-failed-document",
        _bulk_helper,
        (
            ("bulk movies", "document_parsing_exception"),
            ("helpers.async_bulk movies", "BulkIndexError"),
        ),
    ),
    Case(
        "scan-helper-with-a-failing-scroll",
        _scan_helper,
        (
            ("search movies", None),
            ("scroll", "500"),
            ("clear_scroll", None),
            ("helpers.async_scan movies", "ApiError"),
        ),
        faults=({"path": "_search/scroll", "method": "POST", "status": 500},),
    ),
]


# -- the environment a scenario runs in ---------------------------------------------------------
class Env:
    """The servers of one test: the stand-in fixture plus whatever the scenario needs."""

    def __init__(self, standin: Any) -> None:
        self.standin = standin
        self.raw: Optional[RawServer] = None
        self.others: List[Any] = []
        self.refused = [free_port(), free_port()]
        self.seeded = False

    async def open(self, case: Case) -> None:
        if case.hosts in ("reset", "hang"):
            self.raw = await RawServer(case.hosts).__aenter__()
        elif case.hosts == "not-elasticsearch":
            self.others.append(await _started(ElasticsearchStandIn(product_header=False)))
        elif case.hosts == "failover":
            self.others.append(await _started(ElasticsearchStandIn()))

    async def close(self) -> None:
        if self.raw is not None:
            await self.raw.__aexit__()
        for other in self.others:
            await other.stop()

    def hosts(self, case: Case) -> List[str]:
        refused = [f"http://127.0.0.1:{port}" for port in self.refused]
        if case.hosts == "standin":
            return [self.standin.url]
        if case.hosts == "refused":
            return refused[:1]
        if case.hosts in ("reset", "hang"):
            assert self.raw is not None
            return [self.raw.url]
        if case.hosts == "not-elasticsearch":
            return [self.others[0].url]
        if case.hosts == "failover":
            # Round robin over the live nodes: the dropping stand-in, then (the live one being
            # second of the two left) the refused port, then the live one.
            return [self.others[0].url, self.standin.url, refused[0]]
        assert case.hosts == "all-down"
        return refused

    async def prepare(self, case: Case) -> None:
        """Same state before every run: the same data, fresh faults, fresh request logs.

        The data is seeded once (every scenario leaves it as it found it): a re-created index
        would get a new ``index_uuid``, which bulk errors report.
        """
        if not self.seeded:
            async with AsyncElasticsearch(self.standin.url) as seeder:
                await seeder.indices.create(index="movies")
                for number, doc in enumerate(DOCS):
                    await seeder.index(index="movies", id=str(number), document=doc)
            self.seeded = True
        self.standin.faults.clear()
        self.standin.requests.clear()
        for fault in case.faults:
            self.standin.faults.add(**fault)
        if case.hosts == "failover":
            self.others[0].reset()
            self.others[0].faults.add(drop=True, times=100)
        if self.raw is not None:
            self.raw.requests.rearm()

    def in_flight(self) -> asyncio.Event:
        assert self.raw is not None, "in-flight scenarios run against the hanging server"
        return self.raw.requests.arrived


async def _started(server: ElasticsearchStandIn) -> ElasticsearchStandIn:
    await server.start()
    return server


@pytest.fixture
async def env(elasticsearch_server: Any) -> AsyncIterator[Env]:
    environment = Env(elasticsearch_server)
    yield environment
    await environment.close()


async def run_case(
    case: Case,
    env: Env,
    instrumented: Any,
    span_exporter: Any,
    audit: SpanAudit,
    node_class: str,
    apm: Optional[ApmRecorder] = None,
) -> Differential:
    """The scenario plain, instrumented (both backends when ``apm``), plain again."""

    @contextlib.asynccontextmanager
    async def open_client() -> AsyncIterator[AsyncElasticsearch]:
        await env.prepare(case)
        async with AsyncElasticsearch(env.hosts(case), node_class=node_class, **case.client) as es:
            yield es
        if case.attempts is not None:
            assert len(env.standin.requests) == case.attempts

    await env.open(case)
    return await plain_traced_plain(
        open_client,
        lambda es: case.call(es, env),
        instrumented,
        span_exporter,
        apm=apm,
        audit=audit,
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
    node_class: str,
    apm: ApmRecorder,
) -> None:
    run = await run_case(case, env, instrumented, span_exporter, audit, node_class, apm)
    spans = run.spans
    run.assert_same_outcome()
    assert run.traced.raised is (case.spans[-1][1] is not None)  # the outermost span decides

    assert sorted((span.name, status_of(span)) for span in spans) == sorted(case.spans)
    # One duration point per database call; a helper's span is none (its calls inside are).
    calls = [(name, error) for name, error in case.spans if not name.startswith("helpers.")]
    points = duration_points(metric_reader)
    assert sum(point.count for point in points) == len(calls)
    errors = sorted(
        (point.attributes["db.operation.name"], point.attributes.get("error.type"))
        for point in points
    )
    assert errors == sorted((name.split()[0], error) for name, error in calls)
    assert apm_outcomes(run.apm_spans) == expected_apm_outcomes(case.spans)


async def test_failover_span_names_the_node_that_answered(
    env: Env, instrumented: Any, span_exporter: Any, audit: SpanAudit
) -> None:
    [case] = [c for c in CASES if c.id == "node-failover-to-the-live-host"]
    run = await run_case(case, env, instrumented, span_exporter, audit, "aiohttp")
    [span] = run.spans
    assert span.attributes["server.port"] == env.standin.port
    assert span.attributes["url.full"] == f"{env.standin.url}/"
    assert env.others[0].requests  # the dropping node was tried first


async def test_retries_inside_one_call_are_one_span(
    env: Env, instrumented: Any, span_exporter: Any, audit: SpanAudit
) -> None:
    [case] = [c for c in CASES if c.id == "http-502-retried-then-exhausted"]
    run = await run_case(case, env, instrumented, span_exporter, audit, "aiohttp")
    [span] = run.spans
    assert span.attributes["db.response.status_code"] == "502"
    assert len(env.standin.requests) == 3
