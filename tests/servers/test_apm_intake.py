"""The loopback APM Server intake, driven by the real ``elasticapm`` agent over a real socket.

These tests also document what the agent (6.26) really sends: field names, what a ``leaf=True``
span does to its children, span compression, ``transaction_max_spans`` and unsampled transactions.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from typing import Any, AsyncIterator, Callable, Iterator

import elasticapm
import httpx
import pytest

from tests.servers.apm_intake import ApmIntake, close_apm_client, make_apm_client
from tests.servers.threaded import InThread

ClientFactory = Callable[..., elasticapm.Client]

METADATA = {"service": {"name": "hand-made", "agent": {"name": "python", "version": "0"}}}


def ndjson(*events: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


def a_transaction(name: str) -> dict[str, Any]:
    return {
        "transaction": {
            "id": name,
            "trace_id": "0" * 32,
            "name": name,
            "type": "request",
            "duration": 1.0,
            "span_count": {"started": 0},
        }
    }


@pytest.fixture(autouse=True)
def no_global_apm_client() -> Iterator[None]:
    """Every test starts and ends without an agent client in ``elasticapm.get_client()``."""
    leaked = elasticapm.get_client()
    if leaked is not None:  # left behind by some other test: release it
        close_apm_client(leaked)
    yield
    assert elasticapm.get_client() is None, "this test leaked an elasticapm client"


@pytest.fixture
async def intake() -> AsyncIterator[ApmIntake]:
    server = ApmIntake()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def make_client(intake: ApmIntake) -> AsyncIterator[ClientFactory]:
    """``make_client(**config)``: an agent client for ``intake``, closed after the test."""
    clients: list[elasticapm.Client] = []

    def make(**config: Any) -> elasticapm.Client:
        client = make_apm_client(intake.url, **config)
        clients.append(client)
        return client

    yield make
    for client in clients:
        # close() flushes and waits for this server, which runs on this loop: not on the loop.
        await asyncio.to_thread(close_apm_client, client)


# -- the HTTP surface ------------------------------------------------------------------------


async def test_endpoints_answer_like_an_apm_server(intake: ApmIntake) -> None:
    assert intake.url == f"http://127.0.0.1:{intake.port}" and intake.port > 0
    async with httpx.AsyncClient(base_url=intake.url) as http:
        info = await http.get("/")
        assert info.status_code == 200
        assert info.json()["version"] == "8.15.0"
        assert info.json()["publish_ready"] is True
        assert {"build_date", "build_sha"} <= info.json().keys()
    assert intake.transactions == intake.metadata == []


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("", lambda body: body),
        ("gzip", gzip.compress),
    ],
    ids=["plain", "gzip"],
)
async def test_bodies_plain_or_compressed_are_accepted(
    intake: ApmIntake, encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    body = ndjson(
        {"metadata": METADATA},
        a_transaction("t1"),
        {"span": {"id": "s1", "transaction_id": "t1", "name": "q", "type": "db"}},
        {"error": {"id": "e1", "transaction_id": "t1", "exception": {"message": "boom"}}},
        {"metricset": {"samples": {"x": {"value": 1}}}},
        {"log": {"message": "hello"}},
    )
    headers = {"Content-Type": "application/x-ndjson"}
    if encoding:
        headers["Content-Encoding"] = encoding
    async with httpx.AsyncClient() as http:
        response = await http.post(
            intake.url + "/intake/v2/events", content=encode(body), headers=headers
        )
    assert response.status_code == 202
    assert intake.metadata == [METADATA]
    assert [t["name"] for t in intake.transactions] == ["t1"]
    assert intake.spans_of(intake.transactions[0]) == intake.spans
    assert [e["exception"]["message"] for e in intake.errors] == ["boom"]
    assert len(intake.metricsets) == len(intake.logs) == 1
    assert intake.requests == 1


async def test_empty_gzip_body_is_what_a_forced_flush_with_nothing_queued_sends(
    intake: ApmIntake,
) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            intake.url + "/intake/v2/events?flushed=true",
            content=b"",
            headers={"Content-Encoding": "gzip", "Content-Type": "application/x-ndjson"},
        )
    assert response.status_code == 202
    assert (intake.requests, intake.metadata) == (1, [])


# -- waiting ---------------------------------------------------------------------------------


async def test_wait_for_times_out_with_a_clear_message(intake: ApmIntake) -> None:
    # Nothing can make the predicate true (no agent, no other request): the wait must time out,
    # and a busy machine only makes that later. The posts get room for a busy machine too.
    async with httpx.AsyncClient(timeout=60) as http:
        await http.post(intake.url + "/intake/v2/events", content=ndjson({"metadata": METADATA}))
        await http.post(
            intake.url + "/intake/v2/events",
            content=ndjson({"metadata": METADATA}, a_transaction("checkout")),
        )
    with pytest.raises(TimeoutError) as caught:
        await intake.wait_for(lambda i: len(i.spans) >= 1, timeout=0.05)
    message = str(caught.value)
    assert "not within 0.05s" in message
    assert "2 request(s); transactions: ['checkout']; spans: []" in message


async def test_wait_for_returns_at_once_or_when_a_request_arrives(intake: ApmIntake) -> None:
    await intake.wait_for(lambda i: True, timeout=0)  # already true: no waiting at all

    waiter = asyncio.ensure_future(intake.wait_for(lambda i: len(i.transactions) == 1))
    await asyncio.wait({waiter}, timeout=0)
    assert not waiter.done()
    async with httpx.AsyncClient() as http:
        await http.post(
            intake.url + "/intake/v2/events",
            content=ndjson({"metadata": METADATA}, a_transaction("t")),
        )
    await asyncio.wait_for(waiter, timeout=5)


async def test_reset_forgets_everything(intake: ApmIntake) -> None:
    async with httpx.AsyncClient() as http:
        await http.post(
            intake.url + "/intake/v2/events",
            content=ndjson({"metadata": METADATA}, a_transaction("t")),
        )
    intake.reset()
    assert intake.metadata == intake.transactions == []
    assert intake.requests == 0


# -- the real agent --------------------------------------------------------------------------


def es_search_context() -> dict[str, Any]:
    """The span context an Elasticsearch client instrumentation would record."""
    return {
        "db": {
            "type": "elasticsearch",
            "instance": "es-cluster",
            "statement": '{"query":{"match_all":{}}}',
        },
        "destination": {
            "address": "127.0.0.1",
            "port": 9200,
            "service": {"resource": "elasticsearch/es-cluster", "name": "", "type": ""},
        },
        "service": {"target": {"type": "elasticsearch", "name": "es-cluster"}},
        "http": {"url": "http://127.0.0.1:9200/products/_search", "status_code": 200},
    }


async def test_agent_sends_transaction_and_db_span(
    intake: ApmIntake, make_client: ClientFactory
) -> None:
    client = make_client()
    assert elasticapm.get_client() is client  # the agent's process-wide client

    client.begin_transaction("request")
    with elasticapm.capture_span(
        "products/_search",
        span_type="db",
        span_subtype="elasticsearch",
        span_action="query",
        leaf=True,
        extra=es_search_context(),
    ):
        # Under a leaf span the agent starts no spans: neither this one nor the agent's own
        # instrumentations (urllib3, aiohttp, httpx, elasticsearch). It is not even counted.
        with elasticapm.capture_span("child of a leaf", span_type="external"):
            pass
    client.end_transaction("GET /search", "HTTP 2xx")
    await intake.flush(client)

    # One per request: the forced flush's, and one more if the agent's 50 ms timer sent first (a
    # busy machine); every request says the same.
    metadata = intake.metadata[0]
    assert all(other == metadata for other in intake.metadata)
    assert metadata["service"]["name"] == "test-service"
    assert metadata["service"]["agent"]["name"] == "python"
    assert "cloud" not in metadata  # cloud_provider="none"

    (transaction,) = intake.transactions
    assert transaction["name"] == "GET /search"
    assert transaction["type"] == "request"
    assert transaction["result"] == "HTTP 2xx"
    assert transaction["outcome"] is None  # only the framework integrations set it
    assert transaction["sampled"] is True
    assert transaction["span_count"] == {"started": 1, "dropped": 0}

    (span,) = intake.spans
    assert intake.spans_of(transaction) == [span]
    assert span["transaction_id"] == span["parent_id"] == transaction["id"]
    assert span["trace_id"] == transaction["trace_id"]
    assert (span["name"], span["type"], span["subtype"], span["action"]) == (
        "products/_search",
        "db",
        "elasticsearch",
        "query",
    )
    assert span["outcome"] == "success"
    assert isinstance(span["duration"], float)  # milliseconds
    assert isinstance(span["timestamp"], int)  # microseconds since the epoch
    context = span["context"]
    assert context["db"]["statement"] == '{"query":{"match_all":{}}}'
    assert context["db"]["type"] == "elasticsearch"
    assert context["db"]["instance"] == "es-cluster"
    assert context["destination"]["address"] == "127.0.0.1"
    assert context["destination"]["port"] == 9200
    assert context["destination"]["service"]["resource"] == "elasticsearch/es-cluster"
    assert context["service"]["target"] == {"type": "elasticsearch", "name": "es-cluster"}
    assert context["http"]["status_code"] == 200
    assert "stacktrace" not in span  # only for spans >= span_stack_trace_min_duration (5ms)


async def test_agent_fills_in_destination_and_target_it_was_not_given(
    intake: ApmIntake, make_client: ClientFactory
) -> None:
    client = make_client()
    client.begin_transaction("request")
    with elasticapm.capture_span(
        "leaf",
        span_type="db",
        span_subtype="elasticsearch",
        leaf=True,
        extra={"db": {"type": "elasticsearch", "instance": "c1", "statement": "{}"}},
    ):
        pass
    with elasticapm.capture_span(
        "not a leaf",
        span_type="db",
        span_subtype="elasticsearch",
        extra={"db": {"statement": "{}"}},
    ):
        pass
    client.end_transaction("t", "ok")
    await intake.flush(client)

    leaf, not_leaf = intake.spans
    assert leaf["context"]["destination"]["service"] == {
        "resource": "elasticsearch/c1",
        "name": "",
        "type": "",
    }
    assert leaf["context"]["service"]["target"] == {"type": "elasticsearch", "name": "c1"}
    assert not_leaf["context"]["destination"]["service"]["resource"] == "elasticsearch"
    assert "service" not in not_leaf["context"]  # service.target is only inferred for leaf spans


@pytest.mark.parametrize("compression", [True, False])
async def test_consecutive_identical_leaf_spans_are_compressed(
    intake: ApmIntake, make_client: ClientFactory, compression: bool
) -> None:
    # A generous duration limit: a slow moment on a busy machine must not make a span "too long".
    client = make_client(
        span_compression_enabled=compression, span_compression_exact_match_max_duration="10s"
    )
    client.begin_transaction("request")
    for _ in range(3):
        with elasticapm.capture_span(
            "products/_search",
            span_type="db",
            span_subtype="elasticsearch",
            leaf=True,
            extra=es_search_context(),
        ):
            pass
    client.end_transaction("t", "ok")
    await intake.flush(client)

    (transaction,) = intake.transactions
    if compression:
        # fast (<= the limit each) identical exit spans become ONE composite span
        (span,) = intake.spans
        assert span["composite"]["compression_strategy"] == "exact_match"
        assert span["composite"]["count"] == 3
        assert transaction["span_count"] == {"started": 1, "dropped": 0}
    else:
        assert len(intake.spans) == 3
        assert all("composite" not in s for s in intake.spans)
        assert transaction["span_count"] == {"started": 3, "dropped": 0}


async def test_transaction_max_spans_drops_the_rest(
    intake: ApmIntake, make_client: ClientFactory
) -> None:
    client = make_client(transaction_max_spans=2)
    client.begin_transaction("request")
    for n in range(3):
        with elasticapm.capture_span(
            f"query {n}", span_type="db", span_subtype="elasticsearch", extra=es_search_context()
        ):
            pass
    client.end_transaction("t", "ok")
    await intake.flush(client)

    (transaction,) = intake.transactions
    assert [s["name"] for s in intake.spans] == ["query 0", "query 1"]
    assert transaction["span_count"] == {"started": 2, "dropped": 1}
    (stats,) = transaction["dropped_spans_stats"]
    assert stats["destination_service_resource"] == "elasticsearch/es-cluster"
    assert stats["duration"]["count"] == 1


async def test_unsampled_transaction_sends_nothing_to_an_8x_server(
    intake: ApmIntake, make_client: ClientFactory
) -> None:
    client = make_client(transaction_sample_rate=0)
    transaction = client.begin_transaction("request")
    assert transaction is not None and transaction.is_sampled is False
    with elasticapm.capture_span("q", span_type="db", leaf=True) as span:
        assert span is None  # no span object at all
    client.end_transaction("t", "ok")
    await intake.flush(client)

    assert intake.transactions == intake.spans == intake.metadata == []
    assert intake.requests == 1  # just the (empty) forced flush


async def test_unsampled_transaction_is_sent_without_spans_to_a_7x_server(
    intake: ApmIntake, make_client: ClientFactory
) -> None:
    # server_version given to the Client: it skips asking GET / (which would race with us).
    client = make_client(transaction_sample_rate=0, server_version=(7, 17, 0))
    client.begin_transaction("request")
    with elasticapm.capture_span("q", span_type="db", leaf=True):
        pass
    client.end_transaction("t", "ok")
    await intake.flush(client)

    (transaction,) = intake.transactions
    assert transaction["sampled"] is False
    assert transaction["sample_rate"] == 0.0
    assert transaction["span_count"] == {"started": 0, "dropped": 0}
    assert "context" not in transaction
    assert intake.spans == []


async def test_agent_sends_errors_linked_to_the_transaction(
    intake: ApmIntake, make_client: ClientFactory
) -> None:
    client = make_client()
    client.begin_transaction("request")
    try:
        raise ValueError("no such index")
    except ValueError:
        client.capture_exception()
    client.end_transaction("t", "ok")
    await intake.flush(client)

    (transaction,) = intake.transactions
    (error,) = intake.errors
    assert error["transaction_id"] == error["parent_id"] == transaction["id"]
    assert error["exception"]["type"] == "ValueError"
    assert error["exception"]["message"] == "ValueError: no such index"


async def test_closing_the_client_sends_the_rest_and_unsets_the_global_client(
    intake: ApmIntake, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_apm_client(intake.url)
    client.begin_transaction("request")
    client.end_transaction("t", "ok")
    await asyncio.to_thread(close_apm_client, client)
    assert elasticapm.get_client() is None
    await intake.wait_for(lambda i: len(i.transactions) == 1)

    # no "Client object is being set more than once" for the next one
    caplog.set_level(logging.WARNING, logger="elasticapm")
    client = make_apm_client(intake.url)
    await asyncio.to_thread(close_apm_client, client)
    assert "more than once" not in caplog.text


# -- the intake in its own thread ------------------------------------------------------------


def test_in_thread_with_a_blocking_flush() -> None:
    with InThread(ApmIntake()) as intake:
        client = make_apm_client(intake.url)
        try:
            client.begin_transaction("job")
            with elasticapm.capture_span("q", span_type="db", span_subtype="elasticsearch"):
                pass
            client.end_transaction("nightly", "success")
            intake.flush_sync(client)
            (transaction,) = intake.transactions
            assert [s["name"] for s in intake.spans_of(transaction)] == ["q"]
        finally:
            close_apm_client(client)


async def test_in_thread_awaited_from_another_loop() -> None:
    with InThread(ApmIntake()) as intake:
        client = make_apm_client(intake.url)
        try:
            client.begin_transaction("job")
            client.end_transaction("from another loop", "success")
            await intake.flush(client)  # this loop waits; the server's loop wakes it
            assert [t["name"] for t in intake.transactions] == ["from another loop"]
        finally:
            close_apm_client(client)  # fine here: the server does not run on this loop
