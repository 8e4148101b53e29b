"""What Kibana's APM UI will show: the documents Elastic's own intake code makes of our calls.

Every test runs twice (``apm_path``): the Elastic APM agent with our ``apm`` backend sending intake
v2, and the OpenTelemetry SDK exporting our ``otel`` spans over OTLP/HTTP, both to the real tier's
intake (``tests/real/apm_intake``: apm-data, the code APM Server 9.x runs). The assertions are on
the documents APM Server would index: span type / subtype / action, the dependency
(``span.destination.service.resource``, ``service.target``), the masked statement, the outcome,
the parent transaction, and the error a failure makes. Calls go to the real Elasticsearch,
OpenSearch and Weaviate servers; the default configuration is used throughout (nothing to set for
the OTLP path to land as a dependency).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import pytest
from elasticsearch import AsyncElasticsearch, NotFoundError

from tests.real import support
from tests.real.apm_docs import Docs
from tests.servers.elasticsearch import ElasticsearchStandIn
from tests.servers.threaded import InThread

pytestmark = pytest.mark.timeout(120)

STATEMENT = '{"query":{"match":{"title":"?"}},"size":"?"}'


def assert_dependency(
    docs: Docs,
    span: Dict[str, Any],
    path: Any,
    *,
    system: str,
    address: str,
    port: int,
    outcome: str,
    statement: Optional[str],
) -> None:
    """A ``db/<system>`` exit span of the request's transaction: what the service map, the
    Dependencies view and the trace waterfall read."""
    fields = span["span"]
    assert (fields["type"], fields["subtype"]) == ("db", system)
    # The agent sends an action; apm-data derives none from OTLP database attributes.
    assert fields.get("action") == ("query" if path.name == "agent" else None)
    assert fields["destination"]["service"]["resource"] == system
    assert span["service"]["target"] == {"type": system}  # no cluster name: self-managed
    assert fields["db"]["type"] == system
    assert fields["db"].get("statement") == statement
    assert span["destination"]["address"] == address
    assert span["destination"]["port"] == port
    assert span["event"]["outcome"] == outcome
    transaction = docs.transaction
    assert span["parent"]["id"] == transaction["transaction"]["id"]
    assert span["trace"]["id"] == transaction["trace"]["id"] == path.trace_id
    assert transaction["service"]["name"] == span["service"]["name"] == "search-api"
    # OTLP: the attributes apm-data reads become fields, not labels (one field, one place).
    labels = span.get("labels", {})
    assert not {"db_system", "db_query_text", "db_namespace", "server_address"} & set(labels)


def assert_error(docs: Docs, span: Dict[str, Any], exception_type: str) -> None:
    """The failure's APM error: a child of the failed call's span, in its transaction."""
    (error,) = docs.errors_of(span)
    assert error["trace"]["id"] == span["trace"]["id"]
    exception = error["error"]["exception"][0]  # then its causes (the gRPC error), if any
    assert exception["type"].rsplit(".", 1)[-1] == exception_type
    assert error["data_stream"]["dataset"] == "apm.error"


async def test_elasticsearch_search_and_failure(
    apm_path: Any, es: AsyncElasticsearch, index: str, real_es: support.Elasticsearch
) -> None:
    apm_path.instrument()
    with apm_path.transaction():
        await es.search(index=index, query={"match": {"title": "matrix"}}, size=3)
        try:
            await es.get(index=index, id="missing")
        except NotFoundError:
            apm_path.capture_exception()
    docs = await apm_path.docs()

    assert docs.outcomes() == [(f"get {index}", "failure"), (f"search {index}", "success")]
    where = {"system": "elasticsearch", "address": real_es.host, "port": real_es.port}
    search = docs.span(f"search {index}")
    assert_dependency(docs, search, apm_path, outcome="success", statement=STATEMENT, **where)
    get = docs.span(f"get {index}")
    assert_dependency(docs, get, apm_path, outcome="failure", statement=None, **where)
    assert_error(docs, get, "NotFoundError")
    assert docs.errors_of(search) == []


async def test_opensearch_search_and_failure(apm_path: Any, real_os: support.OpenSearch) -> None:
    from opensearchpy import AsyncOpenSearch
    from opensearchpy import NotFoundError as OpenSearchNotFound

    index = support.unique_index("apm")
    support.http("PUT", f"{real_os.url}/{index}", {"settings": {"number_of_replicas": 0}})
    client = AsyncOpenSearch([real_os.url])
    try:
        apm_path.instrument()
        with apm_path.transaction():
            body = {"query": {"match": {"title": "matrix"}}, "size": 3}
            await client.search(index=index, body=body)
            try:
                await client.get(index=index, id="missing")
            except OpenSearchNotFound:
                apm_path.capture_exception()
        docs = await apm_path.docs()
    finally:
        await client.close()
        support.http("DELETE", f"{real_os.url}/{index}?ignore_unavailable=true")

    assert docs.outcomes() == [(f"get {index}", "failure"), (f"search {index}", "success")]
    where = {"system": "opensearch", "address": real_os.host, "port": real_os.port}
    search = docs.span(f"search {index}")
    assert_dependency(docs, search, apm_path, outcome="success", statement=STATEMENT, **where)
    get = docs.span(f"get {index}")
    assert_dependency(docs, get, apm_path, outcome="failure", statement=None, **where)
    assert_error(docs, get, "NotFoundError")


async def test_weaviate_query_and_failure(
    apm_path: Any, wv: Any, new_collection: Any, real_weaviate: support.Weaviate
) -> None:
    from weaviate.exceptions import WeaviateQueryError

    from tests.real.test_weaviate_real import create_movies

    movies = await create_movies(wv, new_collection("Movie"))
    missing = wv.collections.get(new_collection("Missing"))  # never created
    apm_path.instrument()
    with apm_path.transaction():
        await movies.query.near_vector([0.1, 0.2], limit=2)
        try:
            await missing.query.fetch_objects()
        except WeaviateQueryError:
            apm_path.capture_exception()
    docs = await apm_path.docs()

    near, fetch = f"near_vector {movies.name}", f"fetch_objects {missing.name}"
    assert docs.outcomes() == sorted([(fetch, "failure"), (near, "success")])
    where = {"system": "weaviate", "address": real_weaviate.host, "port": real_weaviate.grpc_port}
    # gRPC: no statement by default (Weaviate query text only with capture_query="raw").
    query = docs.span(near)
    assert_dependency(docs, query, apm_path, outcome="success", statement=None, **where)
    failed = docs.span(fetch)
    assert_dependency(docs, failed, apm_path, outcome="failure", statement=None, **where)
    assert_error(docs, failed, "WeaviateQueryError")


async def test_the_cluster_elastic_cloud_names_is_the_target_name(apm_path: Any) -> None:
    """Behind Elastic Cloud's proxy the answer names the cluster (the real node never does; the
    stand-in sends the proxy's headers): both paths put it in ``service.target.name``."""
    with InThread(ElasticsearchStandIn(cloud_headers=True)) as server:
        client = AsyncElasticsearch(server.url)
        try:
            await client.indices.create(index="movies")
            apm_path.instrument()
            with apm_path.transaction():
                await client.search(index="movies", query={"match": {"title": "matrix"}})
            docs = await apm_path.docs()
        finally:
            await client.close()
    span = docs.span("search movies")
    assert span["service"]["target"] == {"type": "elasticsearch", "name": server.cloud_cluster}
    # The agent path names the cluster in the resource too; apm-data's OTLP mapping does not.
    resource = span["span"]["destination"]["service"]["resource"]
    if apm_path.name == "agent":
        assert resource == f"elasticsearch/{server.cloud_cluster}"
    else:
        assert resource == "elasticsearch"
    assert span["span"]["db"]["instance"] == server.cloud_cluster


@pytest.mark.parametrize("apm_path", ["otlp"], indirect=True)
async def test_stable_names_only_is_no_dependency_in_elastic(
    apm_path: Any,
    es: AsyncElasticsearch,
    index: str,
    movies_for_otlp: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Why ``db.system`` is on by default: with ``OTEL_SEMCONV_STABILITY_OPT_IN=database`` (stable
    names only) apm-data makes a search a ``db`` span with no subtype and no destination, and a
    Weaviate gRPC query an ``unknown`` span: neither is a dependency in Kibana."""
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "database")
    apm_path.instrument()
    with apm_path.transaction():
        await es.search(index=index, query={"match": {"title": "matrix"}})
        await movies_for_otlp.query.near_vector([0.1, 0.2], limit=1)
    docs = await apm_path.docs()
    search = docs.span(f"search {index}")["span"]
    assert (search["type"], search.get("subtype"), search.get("destination")) == ("db", None, None)
    near = docs.span(f"near_vector {movies_for_otlp.name}")["span"]
    assert (near["type"], near.get("subtype"), near.get("destination")) == ("unknown", None, None)


@pytest.fixture
async def movies_for_otlp(wv: Any, new_collection: Any) -> Any:
    from tests.real.test_weaviate_real import create_movies

    return await create_movies(wv, new_collection("Movie"))
