"""Query languages through the real clients over real sockets (the fast-tier imitations answer
every statement empty): ES|QL, Elasticsearch SQL and EQL (elasticsearch-py), OpenSearch SQL and
PPL (opensearch-py's ``plugins``), Weaviate GraphQL (``graphql_raw_query``).

What a user notices: the statement in ``db.query.text`` with its structure and without a literal,
the single collection it names in ``db.collection.name``, and the span named by its summary.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from opensearchpy import AsyncOpenSearch

from tests.support.telemetry import duration_points, finished

SECRET = "Shawshank-secret"

ESQL = (
    'FROM movies | WHERE title == "Shawshank-secret" AND year > 1993 | KEEP title, year '
    "| SORT year DESC | LIMIT 5"
)


async def test_esql_statement_is_read_not_erased(
    instrumented: Any, es: Any, span_exporter: Any
) -> None:
    instrumented()
    await es.esql.query(query=ESQL)
    [span] = finished(span_exporter)
    assert span.name == "FROM movies"
    assert span.attributes["db.operation.name"] == "esql.query"
    assert span.attributes["db.collection.name"] == "movies"
    assert span.attributes["db.query.summary"] == "FROM movies"
    assert span.attributes["db.query.text"] == (
        "FROM movies | WHERE title == ? AND year > ? | KEEP title, year | SORT year DESC | LIMIT ?"
    )


async def test_a_request_hook_sees_the_span_named_by_the_statement(
    instrumented: Any, es: Any, span_exporter: Any
) -> None:
    seen = []
    instrumented(request_hook=lambda span, call: seen.append(span.name))
    await es.esql.query(query=ESQL)
    assert seen == ["FROM movies"]
    [span] = finished(span_exporter)
    assert span.name == "FROM movies"


async def test_esql_parameters_are_never_recorded(
    instrumented: Any, es: Any, span_exporter: Any
) -> None:
    if not hasattr(es.esql, "async_query"):
        pytest.skip("this elasticsearch-py has no esql.async_query (8.13 has not)")
    instrumented()
    await es.esql.query(
        query="FROM movies | WHERE title == ?title AND year > ? | LIMIT 5",
        params=[{"title": SECRET}, 1993],
    )
    await es.esql.async_query(query="FROM movies, logs | WHERE year > ?", params=[1993])
    first, second = finished(span_exporter)
    assert first.attributes["db.query.text"] == (
        "FROM movies | WHERE title == ?title AND year > ? | LIMIT ?"
    )
    assert second.name == "FROM movies logs"
    assert second.attributes["db.operation.name"] == "esql.async_query"
    assert "db.collection.name" not in second.attributes  # two indices: no single collection
    for span in (first, second):
        assert SECRET not in str(dict(span.attributes))
        assert "1993" not in str(dict(span.attributes))


async def test_raw_keeps_the_statement_as_sent_and_omit_records_none(
    instrumented: Any, es: Any, span_exporter: Any
) -> None:
    instrumented(capture_query="raw")
    await es.esql.query(query=ESQL)
    instrumented(capture_query="omit")
    await es.esql.query(query=ESQL)
    raw, omitted = finished(span_exporter)
    assert raw.attributes["db.query.text"] == ESQL
    assert raw.name == "FROM movies"
    assert "db.query.text" not in omitted.attributes
    assert omitted.name == "esql.query"  # nothing of the statement is read


async def test_sql_query_and_translate(instrumented: Any, es: Any, span_exporter: Any) -> None:
    instrumented()
    statement = "SELECT title FROM movies WHERE title = 'It''s a secret' AND year > 1993"
    await es.sql.query(query=statement, params=[SECRET])
    await es.sql.translate(query=statement)
    query, translate = finished(span_exporter)
    assert query.name == "SELECT movies"
    assert query.attributes["db.query.text"] == (
        "SELECT title FROM movies WHERE title = ? AND year > ?"
    )
    assert query.attributes["db.collection.name"] == "movies"
    assert translate.name == "sql.translate movies"  # translated, not run
    assert translate.attributes["db.query.summary"] == "sql.translate movies"
    assert "secret" not in str(dict(query.attributes)) + str(dict(translate.attributes))


async def test_eql_search_keeps_its_index_and_reads_its_statement(
    instrumented: Any, es: Any, span_exporter: Any
) -> None:
    await es.index(index="logs", document={"event": {"category": "process"}}, refresh=True)
    instrumented()
    await es.eql.search(
        index="logs",
        query='process where process.name == "secret.exe" and process.pid > 4',
    )
    [span] = finished(span_exporter)
    assert span.name == "eql.search logs"
    assert span.attributes["db.query.text"] == "process where process.name == ? and process.pid > ?"


async def test_the_duration_metric_names_the_collection_the_statement_named(
    instrumented: Any, es: Any, metric_reader: Any
) -> None:
    instrumented()
    await es.esql.query(query=ESQL)
    [point] = duration_points(metric_reader)
    assert point.attributes["db.collection.name"] == "movies"


async def test_opensearch_sql_and_ppl(
    instrumented: Any, opensearch: AsyncOpenSearch, span_exporter: Any, elasticsearch_server: Any
) -> None:
    if not hasattr(opensearch.plugins, "sql"):
        pytest.skip("this opensearch-py has no plugins.sql (2.4 has not)")
    elasticsearch_server.flavor = "opensearch"
    instrumented()
    await opensearch.plugins.sql.query(
        body={"query": f"SELECT title FROM movies WHERE title = '{SECRET}' LIMIT 5"}
    )
    await opensearch.plugins.ppl.query(
        body={"query": f"source=movies | where title = '{SECRET}' and year > 1993 | fields title"}
    )
    sql, ppl = finished(span_exporter)
    assert sql.name == "SELECT movies"
    assert sql.attributes["db.operation.name"] == "sql.query"
    assert sql.attributes["db.query.text"] == "SELECT title FROM movies WHERE title = ? LIMIT ?"
    assert sql.attributes["db.collection.name"] == "movies"
    assert ppl.name == "search movies"
    assert ppl.attributes["db.operation.name"] == "ppl.query"
    assert ppl.attributes["db.query.text"] == (
        "source=movies | where title = ? and year > ? | fields title"
    )
    assert ppl.attributes["db.collection.name"] == "movies"


async def test_weaviate_graphql_raw_query(
    instrumented: Any, weaviate_client: Any, span_exporter: Any
) -> None:
    instrumented()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        await weaviate_client.graphql_raw_query(
            '{ Get { Movie(where: {path: ["title"], operator: Equal, valueText: "SECRET"}, limit: 3)'
            " { title year } } }".replace("SECRET", SECRET)
        )
    [span] = [s for s in finished(span_exporter) if s.attributes["db.operation.name"] == "graphql"]
    assert span.name == "Get Movie"
    assert span.attributes["db.collection.name"] == "Movie"
    assert span.attributes["db.query.text"] == (
        "{ Get { Movie(where: {path: [?], operator: Equal, valueText: ?}, limit: ?) { title year } } }"
    )


async def test_general_path_renames_the_span_too(
    instrumented: Any, es: Any, span_exporter: Any, agent: Any
) -> None:
    """Both backends recording: the engine's fan-out reads the details, and the
    OpenTelemetry span is named by the statement all the same."""
    instrumented(backends=["otel", "apm"])
    agent.begin_transaction("request")
    try:
        await es.esql.query(query=ESQL)
    finally:
        agent.end_transaction("request", "success")
    [span] = finished(span_exporter)
    assert span.name == "FROM movies"
    assert span.attributes["db.collection.name"] == "movies"
    assert span.attributes["db.query.text"].startswith("FROM movies | WHERE title == ?")
