"""The Elastic APM backend, end to end: the real ``elastic-apm`` agent sends to the loopback intake.

Every test reads what the agent really sent (``apm_intake``), after a forced flush: span fields,
outcomes, span counts, dropped spans and compression as APM Server would store them.
"""

from __future__ import annotations

import asyncio
import json
import sys
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List

import elasticapm
import grpc
import pytest
import weaviate.classes as wvc
from elasticapm.traces import execution_context
from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError
from elasticsearch import helpers as es_helpers
from opensearchpy import AsyncOpenSearch
from weaviate.collections.classes.config import ConsistencyLevel
from weaviate.exceptions import WeaviateQueryError

import instrumentation
from instrumentation._config import build_settings
from instrumentation._record import Record
from instrumentation.backends.apm import ElasticApmBackend
from instrumentation.clients import _es_family as es_family
from tests.servers.apm_intake import close_apm_client
from tests.servers.elasticsearch import ElasticsearchStandIn
from tests.servers.threaded import InThread
from tests.support.telemetry import finished

AgentFactory = Callable[..., elasticapm.Client]
Json = Dict[str, Any]


@pytest.fixture(autouse=True)
def _clean_agent_state() -> Iterator[None]:
    """Each test starts and ends with no agent client, no agent patches and nothing instrumented."""
    leaked = elasticapm.get_client()
    if leaked is not None:
        close_apm_client(leaked)
    yield
    instrumentation.uninstrument()
    elasticapm.uninstrument()
    leaked = elasticapm.get_client()
    if leaked is not None:
        close_apm_client(leaked)


@contextmanager
def transaction(client: elasticapm.Client, name: str = "GET /movies") -> Iterator[None]:
    client.begin_transaction("request")
    try:
        yield
    finally:
        client.end_transaction(name, "HTTP 2xx")


def instrument(**options: Any) -> None:
    options.setdefault("clients", ["elasticsearch"])
    options.setdefault("backends", ["apm"])
    instrumentation.instrument(**options)


def only(events: List[Json]) -> Json:
    assert len(events) == 1, events
    return events[0]


def _docs(n: int) -> List[Json]:
    """Helper actions: the helpers take ``_index`` and ``_id`` out of the document."""
    return [{"_index": "movies", "_id": str(i), "title": f"t{i}"} for i in range(n)]


# -- one span per call, with every field ---------------------------------------------------------


async def test_search_in_a_transaction_is_one_leaf_db_span_with_every_field(
    make_agent: AgentFactory, apm_intake: Any, elasticsearch_server: Any, node_class: str
) -> None:
    client = make_agent()
    async with AsyncElasticsearch(elasticsearch_server.url, node_class=node_class) as es:
        await es.indices.create(index="movies")
        instrument()
        with transaction(client):
            await es.search(index="movies", query={"match": {"title": "matrix"}}, size=3)
    await apm_intake.flush(client)

    tx = only(apm_intake.transactions)
    span = only(apm_intake.spans)
    assert tx["span_count"] == {"started": 1, "dropped": 0}
    assert span["transaction_id"] == span["parent_id"] == tx["id"]
    assert (span["name"], span["type"], span["subtype"], span["action"]) == (
        "search movies",
        "db",
        "elasticsearch",
        "query",
    )
    assert span["outcome"] == "success"
    assert span["sync"] is False
    port = elasticsearch_server.port
    context = dict(span["context"])
    # the server's own milliseconds, as a label (the agent turns dots into underscores)
    assert isinstance(context.pop("tags")["elasticsearch_took"], int)
    assert context == {
        "db": {
            "type": "elasticsearch",
            "statement": '{"query":{"match":{"title":"?"}},"size":"?"}',
        },
        "destination": {
            "address": "127.0.0.1",
            "port": port,
            "service": {"resource": "elasticsearch", "name": "", "type": ""},
        },
        "service": {"target": {"type": "elasticsearch", "name": None}},
        "http": {"url": f"http://127.0.0.1:{port}/movies/_search", "status_code": 200},
    }


async def test_cluster_name_gives_instance_resource_and_target_name(
    make_agent: AgentFactory, apm_intake: Any
) -> None:
    client = make_agent()
    instrument()
    with InThread(ElasticsearchStandIn(cloud_headers=True)) as server:
        async with AsyncElasticsearch(server.url) as es:
            with transaction(client):
                await es.info()
    await apm_intake.flush(client)

    context = only(apm_intake.spans)["context"]
    cluster = server.cloud_cluster
    assert context["db"] == {"type": "elasticsearch", "instance": cluster}
    assert context["destination"]["service"]["resource"] == f"elasticsearch/{cluster}"
    assert context["service"]["target"] == {"type": "elasticsearch", "name": cluster}
    assert only(apm_intake.spans)["context"]["tags"] == {
        "elasticsearch_node_name": server.cloud_instance
    }


async def test_update_by_query_records_rows_affected(
    make_agent: AgentFactory, apm_intake: Any, es: AsyncElasticsearch
) -> None:
    await es_helpers.async_bulk(es, _docs(3), refresh=True)
    client = make_agent()
    instrument()
    with transaction(client):
        await es.update_by_query(index="movies", script={"source": "ctx._source.n = 1"})
        await es.search(index="movies")
    await apm_intake.flush(client)

    update, search = apm_intake.spans
    assert update["name"] == "update_by_query movies"
    assert update["context"]["db"]["rows_affected"] == 3
    assert "rows_affected" not in search["context"]["db"]  # not known for a search


@pytest.mark.parametrize("status", [500, 404])
async def test_http_errors_are_outcome_failure(
    make_agent: AgentFactory, apm_intake: Any, elasticsearch_server: Any, status: int
) -> None:
    client = make_agent()
    instrument()
    elasticsearch_server.faults.add(path="_search", status=status, times=10)
    async with AsyncElasticsearch(elasticsearch_server.url, max_retries=0) as es:
        with transaction(client), pytest.raises(ApiError):
            await es.search(index="movies")
    await apm_intake.flush(client)

    span = only(apm_intake.spans)
    assert span["outcome"] == "failure"
    assert span["context"]["http"]["status_code"] == status


async def test_bulk_with_failed_items_is_outcome_failure(
    make_agent: AgentFactory, apm_intake: Any, es: AsyncElasticsearch
) -> None:
    client = make_agent()
    instrument()
    # failures a real node gives: a value its mapping cannot take, a create of an existing id
    operations: List[Json] = [
        {"index": {"_index": "movies", "_id": "0"}},
        {"title": "t0", "year": 1999},
        {"index": {"_index": "movies", "_id": "1"}},
        {"title": "t1", "year": "not a year"},
        {"create": {"_index": "movies", "_id": "0"}},
        {"title": "t0 again"},
    ]
    with transaction(client):
        response = await es.bulk(operations=operations)
    assert response["errors"] is True
    assert [item[op]["status"] for item in response["items"] for op in item] == [201, 400, 409]
    await apm_intake.flush(client)

    span = only(apm_intake.spans)
    assert span["name"] == "bulk"
    assert span["outcome"] == "failure"
    assert span["context"]["tags"] == {
        "elasticsearch_bulk_failed_items": 2,
        "db_operation_batch_size": 3,
    }
    assert "statement" not in span["context"]["db"]  # documents are never recorded


@pytest.mark.parametrize(
    ("capture_query", "statement"),
    [
        ("sanitize", '{"query":{"term":{"owner":"?"}}}'),
        ("omit", None),
        ("raw", '{"query":{"term":{"owner":"alice@example.com"}}}'),
    ],
)
async def test_db_statement_follows_capture_query_and_is_sanitised_by_default(
    make_agent: AgentFactory,
    apm_intake: Any,
    es: AsyncElasticsearch,
    capture_query: str,
    statement: Any,
) -> None:
    client = make_agent()
    instrument(capture_query=capture_query)
    with transaction(client):
        await es.search(index="movies", query={"term": {"owner": "alice@example.com"}})
    await apm_intake.flush(client)

    assert only(apm_intake.spans)["context"]["db"].get("statement") == statement


# -- together with OpenTelemetry, and with the agent's own instrumentation -----------------------


async def test_both_backends_give_one_otel_span_and_one_apm_span_per_call(
    make_agent: AgentFactory,
    apm_intake: Any,
    es: AsyncElasticsearch,
    instrumented: Any,
    span_exporter: Any,
) -> None:
    client = make_agent()
    instrumented(clients=["elasticsearch"], backends=["otel", "apm"])
    with transaction(client):
        await es.search(index="movies")
        await es.count(index="movies")
    await apm_intake.flush(client)

    otel_names = [s.name for s in finished(span_exporter)]
    apm_names = [s["name"] for s in apm_intake.spans]
    assert otel_names == apm_names == ["search movies", "count movies"]


async def test_agent_instrumentation_and_ours_is_still_one_span_per_call(
    make_agent: AgentFactory, apm_intake: Any, elasticsearch_server: Any, node_class: str
) -> None:
    client = make_agent(
        instrument=True
    )  # elasticapm.instrument(): its own ES, aiohttp, httpx spans
    instrument()
    async with AsyncElasticsearch(elasticsearch_server.url, node_class=node_class) as es:
        await es.indices.create(index="movies")  # no transaction: no span
        with transaction(client):
            await es.search(index="movies")
            await es.count(index="movies")
        await apm_intake.flush(client)
        tx = only(apm_intake.transactions)
        assert [s["name"] for s in apm_intake.spans] == ["search movies", "count movies"]
        assert tx["span_count"] == {"started": 2, "dropped": 0}  # the agent's: dropped uncounted

        # uninstrument() removes ours and leaves the agent's own instrumentation in place.
        instrumentation.uninstrument()
        apm_intake.reset()
        with transaction(client):
            await es.search(index="movies")
        await apm_intake.flush(client)
    span = only(apm_intake.spans)
    assert span["name"] == "ES POST /movies/_search"


# -- the agent's edge cases ----------------------------------------------------------------------


def _must_not_run(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("query text captured although nothing records it")


async def test_no_transaction_records_nothing_and_reads_no_query(
    make_agent: AgentFactory, apm_intake: Any, es: AsyncElasticsearch, monkeypatch: Any
) -> None:
    monkeypatch.setattr(es_family, "capture", _must_not_run)
    client = make_agent()
    instrument()
    await es.search(index="movies", query={"match": {"title": "x"}})
    await apm_intake.flush(client)

    assert apm_intake.spans == apm_intake.transactions == []


def test_no_transaction_start_returns_no_handle_and_reads_nothing(
    make_agent: AgentFactory,
) -> None:
    make_agent()
    backend = ElasticApmBackend(build_settings(env={}))
    assert backend.start(Record("elasticsearch", "search", "movies"), 0) is None


async def test_unsampled_transaction_sends_nothing_and_reads_no_query(
    make_agent: AgentFactory, apm_intake: Any, es: AsyncElasticsearch, monkeypatch: Any
) -> None:
    monkeypatch.setattr(es_family, "capture", _must_not_run)
    client = make_agent(transaction_sample_rate=0)
    instrument()
    with transaction(client):
        await es.search(index="movies", query={"match": {"title": "x"}})
    await apm_intake.flush(client)

    assert apm_intake.spans == apm_intake.transactions == []


@pytest.mark.parametrize("agent_instrumented", [False, True])
async def test_transaction_max_spans_drops_the_rest_once_per_call(
    make_agent: AgentFactory, apm_intake: Any, es: AsyncElasticsearch, agent_instrumented: bool
) -> None:
    client = make_agent(transaction_max_spans=2, instrument=agent_instrumented)
    instrument()
    with transaction(client):
        for _ in range(5):
            await es.count(index="movies")
    await apm_intake.flush(client)

    tx = only(apm_intake.transactions)
    assert len(apm_intake.spans) == 2
    assert tx["span_count"] == {"started": 2, "dropped": 3}
    stats = only(tx["dropped_spans_stats"])
    assert stats["destination_service_resource"] == "elasticsearch"
    assert stats["service_target_type"] == "elasticsearch"
    assert stats["outcome"] == "success"
    assert stats["duration"]["count"] == 3


async def test_consecutive_identical_fast_calls_compress_into_one_composite_span(
    make_agent: AgentFactory, apm_intake: Any, es: AsyncElasticsearch
) -> None:
    # Compression on (the agent's default); a generous duration limit, so that a slow moment of a
    # busy machine cannot make one of these calls "too long to compress".
    client = make_agent(
        span_compression_enabled=True, span_compression_exact_match_max_duration="10s"
    )
    instrument()
    with transaction(client):
        for _ in range(3):
            await es.count(index="movies")
        await es.search(index="movies")
    await apm_intake.flush(client)

    count, search = apm_intake.spans
    assert count["name"] == "count movies"
    assert count["composite"]["compression_strategy"] == "exact_match"
    assert count["composite"]["count"] == 3
    assert "composite" not in search
    assert only(apm_intake.transactions)["span_count"] == {"started": 2, "dropped": 0}


async def test_concurrent_calls_in_one_transaction_are_sibling_spans(
    make_agent: AgentFactory, apm_intake: Any, es: AsyncElasticsearch
) -> None:
    client = make_agent()
    instrument()
    with transaction(client):
        await asyncio.gather(*(es.count(index="movies") for _ in range(10)))
        assert execution_context.get_span() is None
    await apm_intake.flush(client)

    tx = only(apm_intake.transactions)
    assert len(apm_intake.spans) == 10
    assert all(s["parent_id"] == tx["id"] for s in apm_intake.spans)
    assert tx["span_count"] == {"started": 10, "dropped": 0}


async def test_slow_call_stack_trace_starts_at_the_client_not_at_our_wrapper(
    make_agent: AgentFactory, apm_intake: Any, es: AsyncElasticsearch, elasticsearch_server: Any
) -> None:
    client = make_agent(span_stack_trace_min_duration="1ms")
    instrument()
    elasticsearch_server.faults.add(path="_search", delay=0.01)
    with transaction(client):
        await es.search(index="movies")
    await apm_intake.flush(client)

    frames = only(apm_intake.spans)["stacktrace"]
    modules = [frame["module"] for frame in frames]
    assert not modules[0].startswith("instrumentation.")
    assert __name__ in modules  # where the app made the call


async def test_call_after_its_transaction_ended_is_outside_any_transaction(
    make_agent: AgentFactory, apm_intake: Any, es: AsyncElasticsearch
) -> None:
    client = make_agent()
    instrument()
    go = asyncio.Event()

    async def background() -> None:  # fire-and-forget task that outlives the request
        await go.wait()
        await es.count(index="movies")

    with transaction(client):
        task = asyncio.ensure_future(background())  # copies the context: the transaction too
    go.set()
    await task
    await apm_intake.flush(client)

    tx = only(apm_intake.transactions)
    assert apm_intake.spans == [] and tx["span_count"]["started"] == 0


# -- helpers: not leaf, their calls are their children ------------------------------------------


async def test_async_bulk_span_is_not_a_leaf_and_its_bulk_calls_are_its_children(
    make_agent: AgentFactory, apm_intake: Any, es: AsyncElasticsearch
) -> None:
    client = make_agent(instrument=True)
    instrument()
    with transaction(client):
        await es_helpers.async_bulk(es, _docs(5), chunk_size=2, index="movies")
    await apm_intake.flush(client)

    tx = only(apm_intake.transactions)
    helper = only([s for s in apm_intake.spans if s["name"].startswith("helpers.")])
    bulks = [s for s in apm_intake.spans if s is not helper]
    assert helper["name"] == "helpers.async_bulk movies"
    assert helper["parent_id"] == tx["id"]
    assert [s["name"] for s in bulks] == ["bulk movies"] * 3
    assert all(s["parent_id"] == helper["id"] for s in bulks)
    # Application code that contains database calls, not a db span: no dependency of its own.
    assert (helper["type"], helper["subtype"]) == ("app", "elasticsearch")
    assert all((s["type"], s["subtype"]) == ("db", "elasticsearch") for s in bulks)
    # The pre-serialised lines the helper sends are counted as actions.
    batch_sizes = [s["context"].get("tags", {}).get("db_operation_batch_size") for s in bulks]
    assert batch_sizes == [2, 2, None]
    # An internal span, not an exit span: the dependency is counted on the bulk calls only.
    assert "destination" not in helper["context"] and "service" not in helper["context"]
    assert helper["context"]["tags"] == {
        "elasticsearch_helpers_documents": 5,
        "elasticsearch_helpers_failed_documents": 0,
    }
    assert tx["span_count"] == {"started": 4, "dropped": 0}


async def test_async_scan_span_is_current_only_inside_its_own_steps(
    make_agent: AgentFactory, apm_intake: Any, es: AsyncElasticsearch
) -> None:
    await es_helpers.async_bulk(es, _docs(5), refresh=True)
    client = make_agent()
    instrument()
    seen = []
    with transaction(client), elasticapm.capture_span("consumer") as consumer:
        async for _ in es_helpers.async_scan(es, index="movies", size=2):
            seen.append(execution_context.get_span())
            with elasticapm.capture_span("process hit"):
                pass
        assert execution_context.get_span() is consumer
    await apm_intake.flush(client)

    assert seen == [consumer] * 5
    spans = {s["name"]: s for s in apm_intake.spans}
    scan = spans["helpers.async_scan movies"]
    assert scan["parent_id"] == spans["consumer"]["id"]
    assert spans["process hit"]["parent_id"] == spans["consumer"]["id"]
    calls = [s for s in apm_intake.spans if s["parent_id"] == scan["id"]]
    assert {s["name"].split()[0] for s in calls} >= {"search", "scroll"}
    assert scan["context"]["tags"]["elasticsearch_helpers_documents"] == 5


# -- transactions of our own (apm_transactions) -------------------------------------------------


async def test_apm_transactions_start_one_transaction_per_call_outside_any(
    make_agent: AgentFactory, apm_intake: Any, es: AsyncElasticsearch
) -> None:
    client = make_agent()
    instrument(apm_transactions=True)
    await es.count(index="movies")
    with pytest.raises(NotFoundError):
        await es.get(index="movies", id="missing")
    assert execution_context.get_transaction() is None  # nothing left behind for the caller
    await apm_intake.flush(client)

    count_tx, get_tx = apm_intake.transactions
    assert (count_tx["name"], count_tx["type"], count_tx["result"], count_tx["outcome"]) == (
        "count movies",
        "db",
        "success",
        "success",
    )
    assert (get_tx["name"], get_tx["result"], get_tx["outcome"]) == (
        "get movies",
        "failure",
        "failure",
    )
    for tx in (count_tx, get_tx):
        span = only(apm_intake.spans_of(tx))
        assert span["name"] == tx["name"] and span["parent_id"] == tx["id"]
        assert span["context"]["destination"]["service"]["resource"] == "elasticsearch"


async def test_apm_transactions_helper_is_one_transaction_with_its_calls(
    make_agent: AgentFactory, apm_intake: Any, es: AsyncElasticsearch
) -> None:
    client = make_agent()
    instrument(apm_transactions=True)
    await es_helpers.async_bulk(es, _docs(4), chunk_size=2, index="movies")
    await apm_intake.flush(client)

    tx = only(apm_intake.transactions)
    assert tx["name"] == "helpers.async_bulk movies"
    names = sorted(s["name"] for s in apm_intake.spans_of(tx))
    assert names == ["bulk movies", "bulk movies", "helpers.async_bulk movies"]


async def test_apm_transactions_leave_an_existing_transaction_alone(
    make_agent: AgentFactory, apm_intake: Any, es: AsyncElasticsearch
) -> None:
    client = make_agent()
    instrument(apm_transactions=True)
    with transaction(client):
        await es.count(index="movies")
    await apm_intake.flush(client)

    tx = only(apm_intake.transactions)
    assert tx["type"] == "request"
    assert only(apm_intake.spans)["parent_id"] == tx["id"]


async def test_apm_transactions_unsampled_send_nothing_and_leave_nothing_current(
    make_agent: AgentFactory, apm_intake: Any, es: AsyncElasticsearch, monkeypatch: Any
) -> None:
    monkeypatch.setattr(es_family, "capture", _must_not_run)
    client = make_agent(transaction_sample_rate=0)
    instrument(apm_transactions=True)
    await es.search(index="movies", query={"match": {"title": "x"}})
    assert execution_context.get_transaction() is None
    await apm_intake.flush(client)

    assert apm_intake.spans == apm_intake.transactions == []


async def test_weaviate_calls_carry_tenant_and_consistency_level_as_labels(
    make_agent: AgentFactory, apm_intake: Any, weaviate_server: Any, weaviate_client: Any
) -> None:
    docs = await weaviate_client.collections.create(
        "Docs",
        multi_tenancy_config=wvc.config.Configure.multi_tenancy(enabled=True),
        properties=[wvc.config.Property(name="body", data_type=wvc.config.DataType.TEXT)],
    )
    await docs.tenants.create(["alpha"])
    client = make_agent()
    instrument(clients=["weaviate"])
    alpha = docs.with_tenant("alpha").with_consistency_level(ConsistencyLevel.QUORUM)
    with transaction(client):
        await alpha.query.fetch_objects()
    await apm_intake.flush(client)

    span = only(apm_intake.spans)
    assert (span["name"], span["type"], span["subtype"], span["action"]) == (
        "fetch_objects Docs",
        "db",
        "weaviate",
        "query",
    )
    assert span["outcome"] == "success"
    context = span["context"]
    assert context["tags"] == {"weaviate_tenant": "alpha", "weaviate_consistency_level": "QUORUM"}
    assert context["db"] == {"type": "weaviate"}  # no query text unless capture_query="raw"
    assert context["destination"] == {
        "address": weaviate_server.host,
        "port": weaviate_server.grpc_port,
        "service": {"resource": "weaviate", "name": "", "type": ""},
    }
    assert context["service"]["target"] == {"type": "weaviate", "name": None}
    assert "http" not in context  # gRPC: no HTTP status code


async def test_apm_span_is_a_leaf_db_span_with_opensearch_destination(
    agent: elasticapm.Client,
    apm_intake: Any,
    opensearch: AsyncOpenSearch,
    elasticsearch_server: Any,
) -> None:
    instrumentation.instrument(clients=["opensearch"], backends=["apm"])
    agent.begin_transaction("request")
    await opensearch.search(index="movies", body={"query": {"match": {"title": "secret-title"}}})
    agent.end_transaction("GET /movies", "HTTP 2xx")
    await apm_intake.flush(agent)
    [span] = apm_intake.spans
    assert (span["name"], span["type"], span["subtype"], span["action"]) == (
        "search movies",
        "db",
        "opensearch",
        "query",
    )
    context = span["context"]
    assert context["destination"] == {
        "address": "127.0.0.1",
        "port": elasticsearch_server.port,
        "service": {"resource": "opensearch", "name": "", "type": ""},
    }
    assert context["service"]["target"] == {"type": "opensearch", "name": None}
    assert context["db"]["statement"] == '{"query":{"match":{"title":"?"}}}'
    assert "secret-title" not in json.dumps(span)


# -- the backend on its own ----------------------------------------------------------------------


def test_weaviate_operation_labels_and_exit_restores_the_previous_span(
    make_agent: AgentFactory, apm_intake: Any
) -> None:
    client = make_agent()
    backend = ElasticApmBackend(build_settings(env={}))
    op = Record("weaviate", "near_vector", "Article")
    op.set_attribute("weaviate.tenant", "tenant-a")
    op.set_attribute("weaviate.consistency.level", "QUORUM")
    with transaction(client), elasticapm.capture_span("outer") as outer:
        started = backend.start(op, 0)
        assert started is not None
        handle, detailed, token = started
        assert token is None
        assert execution_context.get_span() is outer  # started, not yet current
        token = backend.enter(handle, detailed, op)
        assert execution_context.get_span() is handle.span
        backend.exit(handle, token)
        assert execution_context.get_span() is outer
        op.server_address, op.server_port, op.status_code = "127.0.0.1", 50051, "OK"
        backend.end(handle, detailed, None, op, None, None, 0, 0)
    apm_intake.flush_sync(client)

    span = next(s for s in apm_intake.spans if s["name"] == "near_vector Article")
    assert (span["type"], span["subtype"], span["action"]) == ("db", "weaviate", "query")
    assert span["context"]["tags"] == {
        "weaviate_tenant": "tenant-a",
        "weaviate_consistency_level": "QUORUM",
    }
    assert span["context"]["destination"]["service"]["resource"] == "weaviate"
    assert span["context"]["service"]["target"] == {"type": "weaviate", "name": None}
    assert "http" not in span["context"]  # a gRPC status is no HTTP status code


async def test_error_captured_from_the_exception_has_our_span_as_parent(
    make_agent: AgentFactory, apm_intake: Any, es: AsyncElasticsearch
) -> None:
    client = make_agent()
    instrument()
    with transaction(client):
        try:
            await es.get(index="movies", id="missing")
        except NotFoundError:
            client.capture_exception()
    await apm_intake.flush(client)

    span = only(apm_intake.spans)
    assert span["outcome"] == "failure"
    assert only(apm_intake.errors)["parent_id"] == span["id"]


# -- registration --------------------------------------------------------------------------------


async def test_apm_backend_is_on_by_default_when_an_agent_client_exists(
    make_agent: AgentFactory,
    apm_intake: Any,
    es: AsyncElasticsearch,
    tracer_provider: Any,
    span_exporter: Any,
    monkeypatch: Any,
) -> None:
    monkeypatch.delenv("OTEL_PYTHON_INSTRUMENTATION_SEARCH_BACKENDS", raising=False)
    client = make_agent()
    instrumentation.instrument(clients=["elasticsearch"], tracer_provider=tracer_provider)
    with transaction(client):
        await es.info()
    await apm_intake.flush(client)

    assert [s["name"] for s in apm_intake.spans] == ["info"]
    assert [s.name for s in finished(span_exporter)] == ["info"]


def test_without_the_agent_the_apm_backend_is_unavailable(monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "elasticapm", None)  # import elasticapm -> ImportError
    monkeypatch.delitem(sys.modules, "instrumentation.backends.apm")
    with pytest.raises(ValueError, match="'apm' backend is not available"):
        instrumentation.instrument(clients=["elasticsearch"], backends=["apm"])
    assert not instrumentation.is_instrumented()


async def test_agent_client_created_after_instrument_still_gets_our_spans(
    make_agent: AgentFactory,
    apm_intake: Any,
    es: AsyncElasticsearch,
    tracer_provider: Any,
    monkeypatch: Any,
) -> None:
    # opentelemetry-instrument instruments first; the ElasticAPM middleware makes its client later.
    monkeypatch.delenv("OTEL_PYTHON_INSTRUMENTATION_SEARCH_BACKENDS", raising=False)
    instrumentation.instrument(clients=["elasticsearch"], tracer_provider=tracer_provider)
    client = make_agent()
    with transaction(client):
        await es.count(index="movies")
    await apm_intake.flush(client)
    assert [s["name"] for s in apm_intake.spans] == ["count movies"]


async def test_weaviate_grpc_error_is_outcome_failure(
    make_agent: AgentFactory, apm_intake: Any, weaviate_server: Any, weaviate_client: Any
) -> None:
    movies = await weaviate_client.collections.create("Movie")
    client = make_agent()
    instrument(clients=["weaviate"])
    weaviate_server.faults.grpc("Search", grpc.StatusCode.NOT_FOUND)
    with transaction(client):
        with pytest.raises(WeaviateQueryError):
            await movies.query.fetch_objects()
    await apm_intake.flush(client)

    span = only(apm_intake.spans)
    assert span["name"] == "fetch_objects Movie"
    assert span["outcome"] == "failure"
