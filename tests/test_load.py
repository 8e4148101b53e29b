"""Load: 10,000 concurrent operations across both clients, and instrument / uninstrument while
calls are in flight.

The calls are the real ``AsyncElasticsearch`` and ``WeaviateAsyncClient`` code paths (API methods,
transport, retries wrapper, our wrappers, the OpenTelemetry SDK) with only the network replaced by
an in-process answer (``tests.support.in_process``). That keeps 10,000 operations within a CI
budget while every span, context switch and wrapper runs for real. Each call is held at a ``Gate``
until *all* calls have arrived, so all of them are provably in flight at once (their contexts
interleaved) before any returns.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Dict, List, Tuple

import pytest
from elasticsearch import AsyncElasticsearch, helpers

import instrumentation
from tests.support.audit import SpanAudit
from tests.support.in_process import Gate, in_process_elasticsearch, use_gate
from tests.support.telemetry import duration_points, status_of

#: Bounded by the number of calls (and the gates: every call in flight before any returns), not
#: by a clock; room for a loaded machine.
pytestmark = pytest.mark.timeout(600)

WORKERS = 10
PER_WORKER = 1_000  # half Elasticsearch, half Weaviate: 10,000 operations in all


@pytest.fixture
async def in_process_es() -> AsyncIterator[AsyncElasticsearch]:
    async with in_process_elasticsearch() as client:
        yield client


# -- 10,000 operations --------------------------------------------------------------------------
async def test_ten_thousand_concurrent_operations_each_get_one_span_under_the_right_parent(
    instrumented: Any,
    in_process_es: AsyncElasticsearch,
    weaviate_client: Any,
    tracer_provider: Any,
    span_exporter: Any,
    metric_reader: Any,
    audit: SpanAudit,
) -> None:
    total = WORKERS * PER_WORKER
    gate = Gate(total)
    use_gate(in_process_es, weaviate_client, gate)
    instrumented()
    tracer = tracer_provider.get_tracer("app")

    async def operation(worker: int, number: int) -> Tuple[str, Any]:
        key = f"{worker}-{number}"
        with tracer.start_as_current_span("op", attributes={"op.key": key}):
            if number % 2:
                return key, await in_process_es.get(index="load", id=key)
            collection = weaviate_client.collections.use(f"Load_{worker}_{number}")
            return key, await collection.query.fetch_objects(limit=1)

    async def worker(worker: int) -> List[Tuple[str, Any]]:
        with tracer.start_as_current_span("worker", attributes={"worker": worker}):
            return list(await asyncio.gather(*(operation(worker, n) for n in range(PER_WORKER))))

    tasks = [asyncio.create_task(worker(w)) for w in range(WORKERS)]
    await gate.release_when_all_arrived()
    results = [item for batch in await asyncio.gather(*tasks) for item in batch]

    assert gate.peak == total  # all 10,000 were in flight at once
    for key, result in results:
        if int(key.split("-")[1]) % 2:
            assert result["_id"] == key
        else:
            assert result.objects == []

    audit.assert_all_ended_once()
    spans = span_exporter.get_finished_spans()
    by_id = {span.context.span_id: span for span in spans}
    assert len(by_id) == len(spans)  # none duplicated
    workers = {s.context.span_id: s for s in spans if s.name == "worker"}
    ops = {s.context.span_id: s for s in spans if s.name == "op"}
    clients = [s for s in spans if s.name not in ("worker", "op")]
    assert len(workers) == WORKERS and len(ops) == len(clients) == total  # none lost
    children: Dict[int, int] = {}
    for span in clients:
        assert status_of(span) is None
        parent = ops[span.parent.span_id]  # the right parent: the op that made the call
        children[span.parent.span_id] = children.get(span.parent.span_id, 0) + 1
        worker_number, number = parent.attributes["op.key"].split("-")
        if int(number) % 2:
            assert span.name == "get load"
            assert span.attributes["db.operation.parameter.id"] == parent.attributes["op.key"]
        else:
            assert span.name == f"fetch_objects Load_{worker_number}_{number}"
        assert workers[parent.parent.span_id].attributes["worker"] == int(worker_number)
        assert span.context.trace_id == parent.context.trace_id
    assert set(children.values()) == {1}
    assert sum(point.count for point in duration_points(metric_reader)) == total


# -- instrument / uninstrument while calls are in flight ----------------------------------------
IN_FLIGHT = 200


async def mixed_calls(es: AsyncElasticsearch, wv: Any, tag: str) -> List[Any]:
    async def one(number: int) -> Any:
        if number % 2:
            return (await es.get(index="load", id=f"{tag}{number}"))["_id"]
        return (await wv.collections.use("Movie").query.fetch_objects()).objects

    return list(await asyncio.gather(*(one(n) for n in range(IN_FLIGHT))))


def expected_results(tag: str) -> List[Any]:
    return [f"{tag}{n}" if n % 2 else [] for n in range(IN_FLIGHT)]


async def test_uninstrument_while_calls_are_in_flight_ends_their_spans_and_breaks_nothing(
    instrumented: Any,
    in_process_es: AsyncElasticsearch,
    weaviate_client: Any,
    span_exporter: Any,
    metric_reader: Any,
    audit: SpanAudit,
) -> None:
    gate = Gate(IN_FLIGHT)
    use_gate(in_process_es, weaviate_client, gate)
    instrumented()
    calls = asyncio.ensure_future(mixed_calls(in_process_es, weaviate_client, "a"))
    await gate.all_arrived.wait()
    instrumentation.uninstrument()
    gate.open.set()
    assert await calls == expected_results("a")

    audit.assert_all_ended_once()
    spans = span_exporter.get_finished_spans()
    assert len(spans) == IN_FLIGHT
    assert all(status_of(span) is None for span in spans)
    assert sum(point.count for point in duration_points(metric_reader)) == IN_FLIGHT

    span_exporter.clear()
    use_gate(in_process_es, weaviate_client, None)
    assert await mixed_calls(in_process_es, weaviate_client, "b") == expected_results("b")
    assert span_exporter.get_finished_spans() == ()  # uninstrumented now


async def test_instrument_while_calls_are_in_flight_leaves_them_untraced_and_unbroken(
    instrumented: Any,
    in_process_es: AsyncElasticsearch,
    weaviate_client: Any,
    span_exporter: Any,
    audit: SpanAudit,
) -> None:
    gate = Gate(IN_FLIGHT)
    use_gate(in_process_es, weaviate_client, gate)
    calls = asyncio.ensure_future(mixed_calls(in_process_es, weaviate_client, "a"))
    await gate.all_arrived.wait()
    instrumented()
    gate.open.set()
    assert await calls == expected_results("a")
    assert span_exporter.get_finished_spans() == ()  # they started before instrument()

    use_gate(in_process_es, weaviate_client, None)
    assert await mixed_calls(in_process_es, weaviate_client, "b") == expected_results("b")
    assert len(span_exporter.get_finished_spans()) == IN_FLIGHT
    audit.assert_all_ended_once()


async def test_toggling_instrumentation_under_a_stream_of_calls(
    instrumented: Any,
    in_process_es: AsyncElasticsearch,
    weaviate_client: Any,
    span_exporter: Any,
    audit: SpanAudit,
) -> None:
    """Calls never stop while instrumentation is switched on and off twenty times."""
    use_gate(in_process_es, weaviate_client, None)
    stop = asyncio.Event()
    done: List[Any] = []

    async def caller(number: int) -> None:
        while not stop.is_set():
            await asyncio.sleep(0)  # the in-process answers never suspend: let the loop turn
            if number % 2:
                done.append(
                    (await in_process_es.get(index="load", id=str(number)))["_id"] == str(number)
                )
            else:
                done.append(
                    (await weaviate_client.collections.use("Movie").query.fetch_objects()).objects
                    == []
                )

    callers = [asyncio.create_task(caller(n)) for n in range(20)]
    for _ in range(20):
        instrumented()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        instrumentation.uninstrument()
        await asyncio.sleep(0)
    stop.set()
    await asyncio.gather(*callers)
    assert done and all(done)
    audit.assert_all_ended_once()
    assert all(status_of(span) is None for span in span_exporter.get_finished_spans())


async def test_a_helper_generator_outlives_uninstrument_and_still_ends_once(
    instrumented: Any,
    elasticsearch_server: Any,
    span_exporter: Any,
    audit: SpanAudit,
) -> None:
    async with AsyncElasticsearch(elasticsearch_server.url) as client:
        for number in range(5):
            await client.index(index="movies", id=str(number), document={"n": number})
        instrumented()
        scan = helpers.async_scan(client, index="movies", size=2)
        first = await scan.__anext__()
        instrumentation.uninstrument()
        rest = [hit async for hit in scan]
    assert sorted(hit["_id"] for hit in [first, *rest]) == [str(n) for n in range(5)]
    audit.assert_all_ended_once()
    [helper] = [s for s in span_exporter.get_finished_spans() if s.name.startswith("helpers.")]
    assert helper.name == "helpers.async_scan movies"
    assert helper.attributes["elasticsearch.helpers.documents"] == 5
