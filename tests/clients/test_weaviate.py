"""WeaviateAsyncClient traced: the real client over REST and gRPC against the loopback stand-in.

A failed call keeps the server's reason (scrubbed of values unless capture is raw); the error
bodies are the ones a real Weaviate server sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, AsyncIterator, List, Optional

import grpc
import pytest
import weaviate
import weaviate.classes as wvc
from opentelemetry.trace import SpanKind, StatusCode
from weaviate.backup import executor as backup_executor
from weaviate.backup.backup import BackupStorage
from weaviate.classes.tenants import Tenant, TenantActivityStatus
from weaviate.collections.classes.config import ConsistencyLevel
from weaviate.exceptions import (
    UnexpectedStatusCodeError,
    WeaviateBatchError,
    WeaviateQueryError,
)

import instrumentation
from tests.servers.weaviate_rest import connect_async_client
from tests.support.differential import plain_traced_plain
from tests.support.telemetry import (
    duration_points,
    exception_events,
    exported_text,
    finished,
)
from tests.support.weaviate import FastAsyncio, needs_batch_stream

PROPS = [
    wvc.config.Property(name="title", data_type=wvc.config.DataType.TEXT),
    wvc.config.Property(name="year", data_type=wvc.config.DataType.INT),
]


@pytest.fixture
def fast_client_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's gRPC retry backoff and backup polling sleeps, skipped (not slept)."""
    monkeypatch.setattr(weaviate.retry, "asyncio", FastAsyncio())
    monkeypatch.setattr(backup_executor, "asyncio", FastAsyncio())


@pytest.fixture
async def movies(weaviate_client: weaviate.WeaviateAsyncClient) -> Any:
    collection = await weaviate_client.collections.create("Movie", properties=PROPS)
    await collection.data.insert_many(
        [
            wvc.data.DataObject(properties={"title": "Alien", "year": 1979}, vector=[1.0, 0.0]),
            wvc.data.DataObject(properties={"title": "Heat", "year": 1995}, vector=[0.0, 1.0]),
        ]
    )
    return collection


def one(exporter: Any) -> Any:
    spans = finished(exporter)
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def names(exporter: Any) -> List[str]:
    return [s.name for s in finished(exporter)]


async def test_connect_is_one_span_and_close_none(
    weaviate_server: Any, instrumented: Any, span_exporter: Any
) -> None:
    instrumented()
    client = await connect_async_client(weaviate_server)
    async with client:  # already connected: no second span
        pass
    span = one(span_exporter)
    assert span.name == "connect"
    assert span.kind is SpanKind.CLIENT
    assert span.attributes["db.system.name"] == "weaviate"
    assert span.attributes["server.address"] == "127.0.0.1"
    assert span.attributes["server.port"] == weaviate_server.http_port


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda m: m.query.fetch_objects(limit=5), "fetch_objects Movie"),
        (lambda m: m.query.near_vector([1.0, 0.0], limit=1), "near_vector Movie"),
        (lambda m: m.query.near_text("alien"), "near_text Movie"),
        (lambda m: m.query.bm25("alien"), "bm25 Movie"),
        (lambda m: m.query.hybrid("alien", limit=2), "hybrid Movie"),
        (
            lambda m: m.generate.hybrid("alien", single_prompt="Sum up {title}"),
            "generate.hybrid Movie",
        ),
        (
            lambda m: m.generate.near_text("alien", grouped_task="Compare"),
            "generate.near_text Movie",
        ),
        (lambda m: m.aggregate.over_all(total_count=True), "aggregate Movie"),
        (lambda m: m.data.insert({"title": "Up", "year": 2009}), "insert Movie"),
        (lambda m: m.data.insert_many([{"title": "A"}, {"title": "B"}]), "insert_many Movie"),
        (
            lambda m: m.data.delete_many(wvc.query.Filter.by_property("title").equal("Heat")),
            "delete_many Movie",
        ),
    ],
)
async def test_grpc_and_rest_operations_are_one_span_each(
    movies: Any, instrumented: Any, span_exporter: Any, weaviate_server: Any, call: Any, name: str
) -> None:
    instrumented()
    await call(movies)
    span = one(span_exporter)
    assert span.name == name
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attrs = span.attributes
    assert attrs["db.system.name"] == "weaviate"
    assert attrs["db.operation.name"] == name.split()[0]
    assert attrs["db.collection.name"] == "Movie"
    assert attrs["db.query.summary"] == name
    assert attrs["server.address"] == "127.0.0.1"
    rest = "http.request.method" in attrs
    port = weaviate_server.http_port if rest else weaviate_server.grpc_port
    assert attrs["server.port"] == port
    assert attrs["db.response.status_code"] == ("200" if rest else "OK")
    assert "db.query.text" not in attrs  # query strings only with capture_query="raw"


async def test_fetch_object_by_id_and_exists(
    movies: Any, instrumented: Any, span_exporter: Any
) -> None:
    uid = await movies.data.insert({"title": "Up"})
    instrumented()
    assert await movies.query.fetch_object_by_id(uid) is not None
    assert await movies.data.exists("00000000-0000-0000-0000-000000000000") is False
    fetch, exists = finished(span_exporter)
    assert fetch.name == "fetch_object_by_id Movie"
    assert exists.name == "exists Movie"
    # A HEAD 404 from exists() is an answer, not an error.
    assert exists.status.status_code is StatusCode.UNSET
    assert exists.attributes["db.response.status_code"] == "404"


async def test_insert_many_batch_size_and_per_object_errors(
    movies: Any, instrumented: Any, span_exporter: Any, weaviate_server: Any
) -> None:
    instrumented()
    weaviate_server.faults.batch_errors({1, 2}, "bad object")
    result = await movies.data.insert_many([{"title": str(i)} for i in range(4)])
    assert result.has_errors
    span = one(span_exporter)
    assert span.attributes["db.operation.batch.size"] == 4
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["weaviate.batch.failed_objects"] == 2
    assert span.attributes["error.type"] == "batch_object_error"


async def test_collection_lifecycle_and_multi_request_calls_are_one_span(
    weaviate_client: weaviate.WeaviateAsyncClient, instrumented: Any, span_exporter: Any
) -> None:
    instrumented()
    for name in ("A", "B", "C"):
        await weaviate_client.collections.create(name)
    assert await weaviate_client.collections.exists("A")
    await weaviate_client.collections.delete(["A", "B"])
    await weaviate_client.collections.delete_all()
    assert names(span_exporter) == [
        "create_collection A",
        "create_collection B",
        "create_collection C",
        "collection_exists A",
        "delete_collection A,B",
        "delete_all_collections",
    ]


async def test_tenants_and_consistency_level_copies(
    weaviate_client: weaviate.WeaviateAsyncClient, instrumented: Any, span_exporter: Any
) -> None:
    docs = await weaviate_client.collections.create(
        "Docs",
        multi_tenancy_config=wvc.config.Configure.multi_tenancy(enabled=True),
        properties=[wvc.config.Property(name="body", data_type=wvc.config.DataType.TEXT)],
    )
    await docs.tenants.create(["alpha", "beta"])
    instrumented()
    await docs.tenants.get()
    await docs.tenants.update(Tenant(name="beta", activity_status=TenantActivityStatus.INACTIVE))
    alpha = docs.with_tenant("alpha").with_consistency_level(ConsistencyLevel.QUORUM)
    await alpha.data.insert({"body": "x"})
    await alpha.query.fetch_objects()
    get_tenants, update, insert, fetch = finished(span_exporter)
    assert get_tenants.name == "get_tenants Docs"
    assert update.name == "update_tenants Docs"
    for span in (insert, fetch):
        assert span.attributes["weaviate.tenant"] == "alpha"
        assert span.attributes["weaviate.consistency.level"] == "QUORUM"


async def test_backup_with_wait_for_completion_is_one_span(
    movies: Any,
    weaviate_client: weaviate.WeaviateAsyncClient,
    instrumented: Any,
    span_exporter: Any,
    weaviate_server: Any,
    fast_client_sleeps: None,
) -> None:
    instrumented()
    await weaviate_client.backup.create(
        "nightly", BackupStorage.FILESYSTEM, include_collections=["Movie"], wait_for_completion=True
    )
    assert [p for p in weaviate_server.rest_paths() if "backups" in p].count(
        "GET /v1/backups/filesystem/nightly"
    ) == 2  # several requests ...
    span = one(span_exporter)  # ... one span
    assert span.name == "backup.create"


async def test_reference_add_is_one_span(
    weaviate_client: weaviate.WeaviateAsyncClient, instrumented: Any, span_exporter: Any
) -> None:
    authors = await weaviate_client.collections.create("Author")
    books = await weaviate_client.collections.create(
        "Book", references=[wvc.config.ReferenceProperty(name="by", target_collection="Author")]
    )
    author = await authors.data.insert({})
    book = await books.data.insert({})
    instrumented()
    await books.data.reference_add(from_uuid=book, from_property="by", to=author)
    assert one(span_exporter).name == "reference_add Book"


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.NOT_FOUND, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.INTERNAL]
)
async def test_grpc_error_maps_to_the_original_status_name(
    movies: Any, instrumented: Any, span_exporter: Any, weaviate_server: Any, code: Any
) -> None:
    instrumented()
    weaviate_server.faults.grpc("Search", code)
    with pytest.raises(WeaviateQueryError):
        await movies.query.fetch_objects()
    span = one(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == code.name
    assert span.attributes["db.response.status_code"] == code.name


async def test_grpc_batch_error_and_unavailable_retried_to_success(
    movies: Any,
    instrumented: Any,
    span_exporter: Any,
    weaviate_server: Any,
    fast_client_sleeps: None,
) -> None:
    instrumented()
    weaviate_server.faults.grpc("BatchObjects", grpc.StatusCode.RESOURCE_EXHAUSTED)
    with pytest.raises(WeaviateBatchError):
        await movies.data.insert_many([{"title": "x"}])
    weaviate_server.faults.grpc("Search", grpc.StatusCode.UNAVAILABLE, times=2)
    await movies.query.fetch_objects()
    failed, retried = finished(span_exporter)
    assert failed.attributes["error.type"] == "RESOURCE_EXHAUSTED"
    assert retried.status.status_code is StatusCode.UNSET  # three attempts, one span
    assert weaviate_server.grpc_methods().count("Search") == 3


@pytest.mark.parametrize("status", [401, 422, 500])
async def test_rest_error_maps_to_http_status(
    weaviate_client: weaviate.WeaviateAsyncClient,
    instrumented: Any,
    span_exporter: Any,
    weaviate_server: Any,
    status: int,
) -> None:
    instrumented()
    weaviate_server.faults.http(r"^/v1/schema$", status, method="POST")
    with pytest.raises(UnexpectedStatusCodeError):
        await weaviate_client.collections.create("Broken")
    span = one(span_exporter)
    assert span.name == "create_collection Broken"
    assert span.attributes["error.type"] == str(status)
    assert span.attributes["db.response.status_code"] == str(status)


async def test_weaviate_grpc_error_reason_is_the_status_details(
    instrumented: Any,
    weaviate_client: weaviate.WeaviateAsyncClient,
    span_exporter: Any,
) -> None:
    """An unknown collection: the server's own answer, status UNKNOWN with its message."""
    instrumented()
    with pytest.raises(WeaviateQueryError):
        await weaviate_client.collections.get("Missing").query.fetch_objects()
    span = one(span_exporter)
    assert span.attributes["error.type"] == "UNKNOWN"
    assert span.attributes["db.response.status_code"] == "UNKNOWN"
    assert span.status.description == "could not find class Missing in schema"
    [event] = exception_events(span)
    assert event.attributes["exception.type"].endswith("WeaviateQueryError")


async def test_weaviate_rest_error_reason_is_the_error_message_scrubbed(
    instrumented: Any,
    weaviate_client: weaviate.WeaviateAsyncClient,
    weaviate_server: Any,
    span_exporter: Any,
) -> None:
    instrumented()
    weaviate_server.faults.http(
        r"^/v1/schema$",
        422,
        method="POST",
        body={"error": [{"message": 'class name "secret-name" is not valid'}]},
    )
    with pytest.raises(UnexpectedStatusCodeError):
        await weaviate_client.collections.create(
            "Movie", properties=[wvc.config.Property(name="t", data_type=wvc.config.DataType.TEXT)]
        )
    span = one(span_exporter)
    assert span.attributes["error.type"] == "422"
    assert span.status.description == 'class name "?" is not valid'
    assert "secret-name" not in json.dumps(span.to_json())


async def test_weaviate_batch_object_errors_give_the_first_message(
    instrumented: Any,
    weaviate_client: weaviate.WeaviateAsyncClient,
    weaviate_server: Any,
    span_exporter: Any,
) -> None:
    movies = await weaviate_client.collections.create(
        "Movie", properties=[wvc.config.Property(name="t", data_type=wvc.config.DataType.TEXT)]
    )
    instrumented()
    weaviate_server.faults.batch_errors(2, message="invalid text property 't' on class 'Movie'")
    result = await movies.data.insert_many([{"t": "a"}, {"t": "b"}, {"t": "c"}])
    assert len(result.errors) == 2
    span = one(span_exporter)
    assert span.attributes["weaviate.batch.failed_objects"] == 2
    assert span.status.description == (
        "2 objects failed; first: invalid text property '?' on class '?'"
    )


async def test_concurrent_queries_under_one_parent(
    movies: Any, instrumented: Any, span_exporter: Any, tracer_provider: Any
) -> None:
    instrumented()
    with tracer_provider.get_tracer("app").start_as_current_span("request") as parent:
        await asyncio.gather(*(movies.query.fetch_objects(limit=1) for _ in range(10)))
    spans = [s for s in finished(span_exporter) if s.name == "fetch_objects Movie"]
    assert len(spans) == 10
    assert {s.parent.span_id for s in spans} == {parent.get_span_context().span_id}


async def test_raw_capture_records_query_strings_but_never_vectors(
    movies: Any, instrumented: Any, span_exporter: Any
) -> None:
    instrumented(capture_query="raw")
    await movies.query.hybrid("alien queen", vector=[0.25, 0.75])
    await movies.generate.near_text(["space", "horror"], single_prompt="Describe {title}")
    hybrid, generate = finished(span_exporter)
    assert json.loads(hybrid.attributes["db.query.text"]) == {"query": "alien queen"}
    assert json.loads(generate.attributes["db.query.text"]) == {
        "concepts": ["space", "horror"],
        "prompt": "Describe {title}",
    }
    assert "0.25" not in exported_text(hybrid)


async def test_no_secrets_or_object_data_in_any_exported_span(
    weaviate_server: Any, instrumented: Any, span_exporter: Any
) -> None:
    instrumented()
    client = await connect_async_client(
        weaviate_server,
        headers={"X-OpenAI-Api-Key": "sk-very-secret"},
        auth_credentials=wvc.init.Auth.api_key("wv-api-key-secret"),
    )
    async with client:
        movies = await client.collections.create("Movie", properties=PROPS)
        await movies.data.insert({"title": "Private Title", "year": 4242}, vector=[0.125, 0.5])
        await movies.data.insert_many([{"title": "Another Secret"}])
        await movies.query.hybrid("secret query text")
        await movies.query.near_text(["secret concept"])
        await movies.generate.fetch_objects(single_prompt="secret prompt")
        await movies.query.near_vector([0.125, 0.5])
    exported = exported_text(*finished(span_exporter))
    for secret in (
        "sk-very-secret",
        "wv-api-key-secret",
        "Private Title",
        "4242",
        "0.125",
        "Another Secret",
        "secret query text",
        "secret concept",
        "secret prompt",
    ):
        assert secret not in exported


async def test_returned_rows_is_opt_in(movies: Any, instrumented: Any, span_exporter: Any) -> None:
    instrumented()
    await movies.query.fetch_objects()
    assert "db.response.returned_rows" not in one(span_exporter).attributes
    span_exporter.clear()
    instrumented(record_returned_rows=True)
    await movies.query.fetch_objects()
    assert one(span_exporter).attributes["db.response.returned_rows"] == 2


async def test_duration_metric(movies: Any, instrumented: Any, metric_reader: Any) -> None:
    instrumented()
    await movies.query.fetch_objects()
    [point] = duration_points(metric_reader)
    assert point.attributes["db.system.name"] == "weaviate"
    assert point.attributes["db.operation.name"] == "fetch_objects"
    assert point.attributes["db.collection.name"] == "Movie"


def test_sync_client_gives_no_spans(
    weaviate_server: Any, instrumented: Any, span_exporter: Any
) -> None:
    instrumented()
    with weaviate.connect_to_custom(
        http_host=weaviate_server.host,
        http_port=weaviate_server.http_port,
        http_secure=False,
        grpc_host=weaviate_server.host,
        grpc_port=weaviate_server.grpc_port,
        grpc_secure=False,
        skip_init_checks=True,
    ) as client:
        movies = client.collections.create("Movie", properties=PROPS)
        movies.data.insert({"title": "x"})
        movies.query.fetch_objects()
    assert finished(span_exporter) == []


async def test_uninstrument_leaves_the_connection_class_as_it_was(
    movies: Any, instrumented: Any, span_exporter: Any
) -> None:
    from weaviate.connect.v4 import ConnectionAsync

    before = dict(ConnectionAsync.__dict__)
    instrumented()
    assert "_send" in ConnectionAsync.__dict__
    instrumentation.uninstrument()
    assert dict(ConnectionAsync.__dict__) == before
    await movies.query.fetch_objects()
    assert finished(span_exporter) == []


@needs_batch_stream
async def test_batch_stream_is_one_span_for_the_stream(
    movies: Any, instrumented: Any, span_exporter: Any
) -> None:
    instrumented()
    async with movies.batch.stream() as batch:
        for i in range(3):
            await batch.add_object({"title": f"t{i}"})
    streams = [s for s in finished(span_exporter) if s.name == "batch.stream"]
    assert len(streams) == 1
    assert streams[0].attributes["server.port"] > 0


# -- the real server's errors, as the real tier sees them (tests/real/test_weaviate_real.py) ------
@contextlib.asynccontextmanager
async def _fresh_client(server: Any) -> AsyncIterator[Any]:
    client = await connect_async_client(server)
    try:
        yield client
    finally:
        await client.close()


def assert_error_span(
    span: Any, name: str, error_type: str, description: str, exception: Optional[str]
) -> None:
    assert span.name == name
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == description
    assert span.attributes["error.type"] == error_type
    assert span.attributes["db.response.status_code"] == error_type
    events = exception_events(span)
    if exception is None:
        assert events == []
    else:
        [event] = events
        assert event.attributes["exception.type"].endswith(exception)


GRPC_ERRORS = [
    (
        "fetch-objects-unknown-collection",
        lambda c: c.collections.use("Nope").query.fetch_objects(),
        "fetch_objects",
        "could not find class Nope in schema",
    ),
    (
        "bm25-unknown-collection",
        lambda c: c.collections.use("Nope").query.bm25("alien"),
        "bm25",
        "could not find class Nope in schema",
    ),
    (
        "aggregate-unknown-collection",
        lambda c: c.collections.use("Nope").aggregate.over_all(total_count=True),
        "aggregate",
        "parse params: could not find class Nope in schema",
    ),
]


@pytest.mark.parametrize(
    ("call", "operation", "reason"), [c[1:] for c in GRPC_ERRORS], ids=[c[0] for c in GRPC_ERRORS]
)
async def test_unknown_collection_over_grpc_changes_nothing_the_application_sees(
    weaviate_server: Any,
    instrumented: Any,
    span_exporter: Any,
    metric_reader: Any,
    apm: Any,
    call: Any,
    operation: str,
    reason: str,
) -> None:
    run = await plain_traced_plain(
        lambda: _fresh_client(weaviate_server), call, instrumented, span_exporter, apm=apm
    )
    run.assert_same_outcome()
    assert isinstance(run.traced.value, WeaviateQueryError)
    [span] = run.spans
    assert_error_span(span, f"{operation} Nope", "UNKNOWN", reason, "WeaviateQueryError")
    assert span.attributes["server.port"] == weaviate_server.grpc_port
    [point] = duration_points(metric_reader)
    assert point.attributes["error.type"] == "UNKNOWN"
    assert [(s["name"], s["outcome"]) for s in run.apm_spans] == [(span.name, "failure")]


async def test_invalid_property_value_is_a_422_whose_reason_echoes_no_value(
    weaviate_server: Any, movies: Any, instrumented: Any, span_exporter: Any, apm: Any
) -> None:
    run = await plain_traced_plain(
        lambda: _fresh_client(weaviate_server),
        lambda c: c.collections.use("Movie").data.insert({"title": "c", "year": "secret-int"}),
        instrumented,
        span_exporter,
        apm=apm,
    )
    run.assert_same_outcome()
    assert isinstance(run.traced.value, UnexpectedStatusCodeError)
    assert "secret-int" in str(run.traced.value)  # the application's exception is untouched
    [span] = run.spans
    assert_error_span(
        span,
        "insert Movie",
        "422",
        "invalid object: invalid integer property '?' on class '?': requires an integer, "
        "the given value is '?'",
        "UnexpectedStatusCodeError",
    )
    assert "secret-int" not in span.to_json()
    assert [(s["name"], s["outcome"]) for s in run.apm_spans] == [(span.name, "failure")]


async def test_insert_many_with_an_invalid_object_is_a_batch_error(
    weaviate_server: Any, movies: Any, instrumented: Any, span_exporter: Any, apm: Any
) -> None:
    uuids = [f"00000000-0000-0000-0000-00000000000{n}" for n in range(3)]
    objects = [
        wvc.data.DataObject({"title": "ok", "year": 1}, uuid=uuids[0], vector=[1.0, 0.0]),
        wvc.data.DataObject({"title": "bad", "year": "secret-many"}, uuid=uuids[1]),
        wvc.data.DataObject({"title": "ok too", "year": 2}, uuid=uuids[2], vector=[0.5, 0.5]),
    ]
    run = await plain_traced_plain(
        lambda: _fresh_client(weaviate_server),
        lambda c: c.collections.use("Movie").data.insert_many(objects),
        instrumented,
        span_exporter,
        apm=apm,
    )
    run.assert_same_outcome()
    assert not run.traced.raised
    assert set(run.traced.value.errors) == {1}
    [span] = run.spans
    assert span.name == "insert_many Movie"
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "batch_object_error"
    assert span.attributes["weaviate.batch.failed_objects"] == 1
    assert span.attributes["db.operation.batch.size"] == 3
    assert span.status.description == (
        "invalid integer property '?' on class '?': requires an integer, the given value is '?'"
    )
    assert "secret-many" not in span.to_json()
    assert not exception_events(span)
    assert [(s["name"], s["outcome"]) for s in run.apm_spans] == [(span.name, "failure")]


REST_ERRORS = [
    (
        "create-existing-collection-422",
        lambda c: c.collections.create("Movie"),
        "create_collection Movie",
        "422",
        "class name Movie already exists",
    ),
    (
        "get-config-of-unknown-collection-404",
        lambda c: c.collections.use("MovieNope").config.get(),
        "get_collection MovieNope",
        "404",
        None,  # no body: the exception's message
    ),
    (
        "update-missing-object-404",
        lambda c: c.collections.use("Movie").data.update(
            uuid="00000000-0000-0000-0000-0000000000ff", properties={"title": "x"}
        ),
        "update Movie",
        "404",
        None,
    ),
    (
        "vector-of-the-wrong-length-500",
        lambda c: c.collections.use("Movie").data.insert(
            {"title": "v"}, vector=[1.0, 2.0, 3.0], uuid="00000000-0000-0000-0000-0000000000aa"
        ),
        "insert Movie",
        "500",
        "",  # a long storage message: checked by its end
    ),
]


@pytest.mark.parametrize(
    ("call", "span_name", "status", "reason"),
    [c[1:] for c in REST_ERRORS],
    ids=[c[0] for c in REST_ERRORS],
)
async def test_rest_validation_errors_change_nothing_the_application_sees(
    weaviate_server: Any,
    movies: Any,
    instrumented: Any,
    span_exporter: Any,
    metric_reader: Any,
    call: Any,
    span_name: str,
    status: str,
    reason: Optional[str],
) -> None:
    run = await plain_traced_plain(
        lambda: _fresh_client(weaviate_server), call, instrumented, span_exporter
    )
    run.assert_same_outcome()
    exc = run.traced.value
    assert isinstance(exc, UnexpectedStatusCodeError)
    [span] = run.spans
    if reason is None:
        reason = str(exc).strip()
    elif reason == "":
        assert span.status.description.endswith(
            "vector dimensions do not match the index dimensions"
        )
        reason = span.status.description
    assert_error_span(span, span_name, status, reason, "UnexpectedStatusCodeError")
    assert span.attributes["server.port"] == weaviate_server.http_port
    [point] = duration_points(metric_reader)
    assert point.attributes["error.type"] == status


WITHOUT_TENANT = "class Docs has multi-tenancy enabled, but request was without tenant"
#: What a real 1.39 server puts before it (an object insert's 422; a search's gRPC details).
INSERT = "determine shard: "
SEARCH = "explorer: list class: search: object search at index docs: "
TENANT_ERRORS = [
    (
        "insert-without-tenant-422",
        lambda c: c.collections.use("Docs").data.insert({"body": "x"}),
        "insert Docs",
        "422",
        INSERT + WITHOUT_TENANT,
        "UnexpectedStatusCodeError",
    ),
    (
        "insert-unknown-tenant-422",
        lambda c: c.collections.use("Docs").with_tenant("x").data.insert({"body": "x"}),
        "insert Docs",
        "422",
        INSERT + 'tenant not found: "?"',  # the quoted tenant name is scrubbed, as any quoted value
        "UnexpectedStatusCodeError",
    ),
    (
        "fetch-objects-without-tenant-unknown",
        lambda c: c.collections.use("Docs").query.fetch_objects(),
        "fetch_objects Docs",
        "UNKNOWN",
        SEARCH + WITHOUT_TENANT,
        "WeaviateQueryError",
    ),
    (
        "fetch-objects-unknown-tenant-unknown",
        lambda c: c.collections.use("Docs").with_tenant("x").query.fetch_objects(),
        "fetch_objects Docs",
        "UNKNOWN",
        SEARCH + 'tenant not found: "?"',
        "WeaviateQueryError",
    ),
]


@pytest.mark.parametrize(
    ("call", "span_name", "error_type", "reason", "exception"),
    [c[1:] for c in TENANT_ERRORS],
    ids=[c[0] for c in TENANT_ERRORS],
)
async def test_multi_tenancy_mistakes_are_errors_with_the_server_reason(
    weaviate_server: Any,
    weaviate_client: weaviate.WeaviateAsyncClient,
    instrumented: Any,
    span_exporter: Any,
    metric_reader: Any,
    apm: Any,
    call: Any,
    span_name: str,
    error_type: str,
    reason: str,
    exception: str,
) -> None:
    """No tenant, or a tenant the collection does not have, on a collection with multi-tenancy
    enabled: the real server's refusal (REST 422, gRPC UNKNOWN) is the span's error."""
    docs = await weaviate_client.collections.create(
        "Docs",
        multi_tenancy_config=wvc.config.Configure.multi_tenancy(enabled=True),
        properties=[wvc.config.Property(name="body", data_type=wvc.config.DataType.TEXT)],
    )
    await docs.tenants.create(["alpha"])
    run = await plain_traced_plain(
        lambda: _fresh_client(weaviate_server), call, instrumented, span_exporter, apm=apm
    )
    run.assert_same_outcome()
    assert run.traced.raised
    [span] = run.spans
    assert_error_span(span, span_name, error_type, reason, exception)
    [point] = duration_points(metric_reader)
    assert point.attributes["error.type"] == error_type
    assert [(s["name"], s["outcome"]) for s in run.apm_spans] == [(span.name, "failure")]
    alpha = await docs.with_tenant("alpha").aggregate.over_all(total_count=True)
    assert alpha.total_count == 0  # nothing was stored anywhere
