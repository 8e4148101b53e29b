"""What an Elasticsearch / OpenSearch answer says behind its HTTP 200: failed shards, failed
``msearch`` searches, ``timed_out``, the server's ``took``, the hits returned.

The real clients over real sockets against the stand-in, which fails a shard as a real node does
(a ``term`` with a non-numeric string on a field one index maps as a number; the real tier checks
the same against real nodes). A failed shard or search is a failure of the call: ERROR, the
first failure's type, a description with the counts and the first reason (scrubbed of the query's
literal), the metric's ``error.type`` even when the span is sampled out, and Elastic APM's
``failure``; ``timed_out: true`` is not.
"""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator, Dict, List

import pytest
from elasticsearch import AsyncElasticsearch
from opensearchpy import AsyncOpenSearch
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import StatusCode

import instrumentation
from tests.support.differential import plain_traced_plain
from tests.support.telemetry import duration_points, exception_events, finished

SECRET = "secret-abc"
#: A search that one index (``numbers``: ``n`` a long) cannot run, and another (``words``) can.
SHARD_FAILING = {"term": {"n": SECRET}}
SHARD_REASON = 'query_shard_exception: failed to create query: For input string: "?"'
ROWS_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]


async def _indices(client: Any, opensearch: bool = False) -> None:
    """``numbers`` (``n`` mapped as a long) and ``words`` (``n`` a keyword), one document each;
    the one in ``words`` is the one ``SHARD_FAILING`` finds."""
    for name, kind, value in (("numbers", "long", 5), ("words", "keyword", SECRET)):
        mapping = {"mappings": {"properties": {"n": {"type": kind}}}}
        if opensearch:
            await client.indices.create(index=name, body=mapping)
            await client.index(index=name, id="1", body={"n": value})
        else:
            await client.indices.create(index=name, mappings=mapping["mappings"])
            await client.index(index=name, id="1", document={"n": value})


def _points(reader: Any, name: str) -> List[Any]:
    data = reader.get_metrics_data()
    points: List[Any] = []
    for resource in data.resource_metrics if data is not None else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    points.extend(metric.data.data_points)
    return points


# -- failed shards ------------------------------------------------------------------------------
async def test_search_with_a_failed_shard_is_error_with_counts_and_scrubbed_reason(
    instrumented: Any, es: AsyncElasticsearch, span_exporter: Any, metric_reader: Any
) -> None:
    await _indices(es)
    instrumented()
    response = await es.search(index="numbers,words", query=SHARD_FAILING)
    assert response["_shards"]["failed"] == 1  # the application got an answer from one index
    assert response["hits"]["total"]["value"] == 1

    [span] = finished(span_exporter)
    assert span.name == "search numbers,words"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == f"1 of 2 shards failed: {SHARD_REASON}"
    assert SECRET not in span.status.description
    assert span.attributes["error.type"] == "query_shard_exception"
    assert span.attributes["db.response.status_code"] == "200"
    assert span.attributes["elasticsearch.took"] == response["took"]
    assert "elasticsearch.timed_out" not in span.attributes
    assert not exception_events(span)  # nothing was raised
    [point] = duration_points(metric_reader)
    assert point.attributes["error.type"] == "query_shard_exception"


async def test_raw_capture_keeps_the_shard_reason_as_the_server_said_it(
    instrumented: Any, es: AsyncElasticsearch, span_exporter: Any
) -> None:
    await _indices(es)
    instrumented(capture_query="raw")
    await es.count(index="numbers,words", query=SHARD_FAILING)
    [span] = finished(span_exporter)
    assert span.status.description == (
        "1 of 2 shards failed: query_shard_exception: failed to create query: "
        f'For input string: "{SECRET}"'
    )


@pytest.mark.parametrize("api", ["search", "count"])
async def test_failed_shards_change_nothing_the_application_sees(
    instrumented: Any,
    es: AsyncElasticsearch,
    elasticsearch_server: Any,
    span_exporter: Any,
    apm: Any,
    api: str,
) -> None:
    await _indices(es)

    @contextlib.asynccontextmanager
    async def open_client() -> AsyncIterator[AsyncElasticsearch]:
        async with AsyncElasticsearch(elasticsearch_server.url) as client:
            yield client

    run = await plain_traced_plain(
        open_client,
        lambda c: getattr(c, api)(index="numbers,words", query=SHARD_FAILING),
        instrumented,
        span_exporter,
        apm=apm,
    )
    run.assert_same_outcome()
    assert not run.traced.raised
    [span] = run.spans
    assert span.attributes["error.type"] == "query_shard_exception"
    assert [(s["name"], s["outcome"]) for s in run.apm_spans] == [
        (f"{api} numbers,words", "failure")
    ]


async def test_search_where_every_shard_failed_is_the_nodes_400(
    instrumented: Any, es: AsyncElasticsearch, span_exporter: Any
) -> None:
    from elasticsearch import BadRequestError

    await _indices(es)
    instrumented()
    with pytest.raises(BadRequestError):
        await es.search(index="numbers", query=SHARD_FAILING)
    [span] = finished(span_exporter)
    assert span.attributes["error.type"] == "400"
    assert span.status.description == SHARD_REASON


async def test_sampled_out_search_with_a_failed_shard_still_gives_the_metric_its_error_type(
    es: AsyncElasticsearch,
) -> None:
    await _indices(es)
    reader = InMemoryMetricReader()
    tracer_provider = TracerProvider(sampler=ALWAYS_OFF)
    meter_provider = MeterProvider(metric_readers=[reader])
    instrumentation.instrument(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        backends=["otel"],
        record_returned_rows=True,
    )
    try:
        await es.search(index="numbers,words", query=SHARD_FAILING)
        await es.search(index="words")
    finally:
        instrumentation.uninstrument()
    points = {p.attributes.get("error.type"): p for p in duration_points(reader)}
    assert set(points) == {"query_shard_exception", None}
    # The hits are read for a recording span only (docs/attributes.md): no returned-rows point.
    assert _points(reader, ROWS_METRIC) == []
    meter_provider.shutdown()
    tracer_provider.shutdown()


# -- msearch --------------------------------------------------------------------------------------
async def test_msearch_with_failed_searches_is_error_like_bulk(
    instrumented: Any, es: AsyncElasticsearch, span_exporter: Any, metric_reader: Any
) -> None:
    """A missing index (an item error) and a failed shard (inside a successful item) both count."""
    await _indices(es)
    instrumented()
    response = await es.msearch(
        searches=[
            {"index": "words"},
            {"query": {"match_all": {}}},
            {"index": "nowhere"},
            {"query": {"match_all": {}}},
            {"index": "numbers,words"},
            {"query": SHARD_FAILING},
        ]
    )
    assert [item["status"] for item in response["responses"]] == [200, 404, 200]

    [span] = finished(span_exporter)
    assert span.name == "msearch"
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "index_not_found_exception"
    assert span.attributes["elasticsearch.msearch.failed_searches"] == 2
    assert span.status.description == (
        "2 of 3 searches failed; first: index_not_found_exception: no such index [nowhere]"
    )
    assert span.attributes["elasticsearch.took"] == response["took"]
    assert not exception_events(span)
    [point] = duration_points(metric_reader)
    assert point.attributes["error.type"] == "index_not_found_exception"


async def test_msearch_item_with_failed_shards_gives_the_shard_reason(
    instrumented: Any, es: AsyncElasticsearch, span_exporter: Any
) -> None:
    await _indices(es)
    instrumented()
    await es.msearch(
        searches=[{"index": "words"}, {}, {"index": "numbers,words"}, {"query": SHARD_FAILING}]
    )
    [span] = finished(span_exporter)
    assert span.attributes["error.type"] == "query_shard_exception"
    assert span.attributes["elasticsearch.msearch.failed_searches"] == 1
    assert span.status.description == (
        f"1 of 2 searches failed; first: 1 of 2 shards failed: {SHARD_REASON}"
    )


async def test_msearch_without_failures_is_a_success(
    instrumented: Any, es: AsyncElasticsearch, span_exporter: Any
) -> None:
    await _indices(es)
    instrumented()
    await es.msearch(searches=[{"index": "words"}, {}, {"index": "numbers"}, {}])
    [span] = finished(span_exporter)
    assert span.status.status_code is StatusCode.UNSET
    assert "elasticsearch.msearch.failed_searches" not in span.attributes
    assert "error.type" not in span.attributes


# -- timed_out, took ------------------------------------------------------------------------------
def _timed_out_answer() -> Dict[str, Any]:
    """What a node answers when the search's ``timeout`` ran out: the hits found so far."""
    return {
        "took": 37,
        "timed_out": True,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {"total": {"value": 1, "relation": "eq"}, "max_score": 1.0, "hits": []},
    }


async def test_timed_out_search_is_a_success_that_says_so(
    instrumented: Any,
    es: AsyncElasticsearch,
    elasticsearch_server: Any,
    span_exporter: Any,
    metric_reader: Any,
) -> None:
    elasticsearch_server.faults.add(path="_search", status=200, body=_timed_out_answer())
    instrumented()
    response = await es.search(index="movies", timeout="1ms")
    assert response["timed_out"] is True
    [span] = finished(span_exporter)
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["elasticsearch.timed_out"] is True
    assert span.attributes["elasticsearch.took"] == 37
    assert "error.type" not in span.attributes
    [point] = duration_points(metric_reader)
    assert "error.type" not in point.attributes


async def test_timed_out_and_took_on_the_opensearch_span(
    instrumented: Any, opensearch: AsyncOpenSearch, elasticsearch_server: Any, span_exporter: Any
) -> None:
    elasticsearch_server.faults.add(path="_search", status=200, body=_timed_out_answer())
    instrumented()
    await opensearch.search(index="movies", body={"timeout": "1ms"})
    [span] = finished(span_exporter)
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["opensearch.timed_out"] is True
    assert span.attributes["opensearch.took"] == 37
    assert "elasticsearch.took" not in span.attributes


# -- OpenSearch ----------------------------------------------------------------------------------
async def test_opensearch_failed_shards_and_msearch_items_are_errors(
    instrumented: Any, elasticsearch_server: Any, span_exporter: Any, metric_reader: Any
) -> None:
    elasticsearch_server.flavor = "opensearch"
    async with AsyncOpenSearch([elasticsearch_server.url]) as client:
        await _indices(client, opensearch=True)
        instrumented()
        await client.search(index="numbers,words", body={"query": SHARD_FAILING})
        await client.msearch(
            body=[{"index": "words"}, {}, {"index": "nowhere"}, {}, {"index": "words"}, {}]
        )
    search, msearch = finished(span_exporter)
    assert search.status.description == f"1 of 2 shards failed: {SHARD_REASON}"
    assert search.attributes["error.type"] == "query_shard_exception"
    assert isinstance(search.attributes["opensearch.took"], int)
    assert msearch.attributes["error.type"] == "index_not_found_exception"
    assert msearch.attributes["opensearch.msearch.failed_searches"] == 1
    assert msearch.status.description == (
        "1 of 3 searches failed; first: index_not_found_exception: no such index [nowhere]"
    )
    errors = sorted(p.attributes["error.type"] for p in duration_points(metric_reader))
    assert errors == ["index_not_found_exception", "query_shard_exception"]


# -- the returned-rows histogram ---------------------------------------------------------------
ROWS_METRIC = "db.client.response.returned_rows"


async def test_returned_rows_histogram_is_opt_in_with_the_duration_metrics_attributes(
    instrumented: Any, es: AsyncElasticsearch, metric_reader: Any, elasticsearch_server: Any
) -> None:
    for number in range(3):
        await es.index(index="movies", id=str(number), document={"title": f"movie {number}"})
    instrumented()
    await es.search(index="movies")
    assert _points(metric_reader, ROWS_METRIC) == []

    instrumented(record_returned_rows=True)
    await es.search(index="movies", size=2)
    await es.search(index="movies")
    await es.count(index="movies")  # no hits in a count's answer: no point
    [point] = _points(metric_reader, ROWS_METRIC)
    assert point.count == 2
    assert point.sum == 5
    assert list(point.explicit_bounds) == ROWS_BUCKETS
    duration = [p for p in duration_points(metric_reader) if p.attributes["db.operation.name"]]
    search = next(p for p in duration if p.attributes["db.operation.name"] == "search")
    assert dict(point.attributes) == dict(search.attributes)
