"""WeaviateAsyncClient traced against a real Weaviate server, over REST and gRPC.

The scenarios and assertions of the fast tier (``tests/clients/test_weaviate.py``,
``tests/clients/test_weaviate_faults.py``, the Weaviate parts of ``tests/backends/test_apm.py``)
with the real server's answers: every operation family (collections, data, batch stream, the query
kinds, aggregate, tenants, filesystem backups), the duration metric, Elastic APM spans, and the real
errors (unknown collection, validation errors, what the server lacks) in the differential form.

Every test works on collections of its own (``new_collection``), deleted afterwards; none calls
``delete_all`` (the server may be shared).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
import warnings
from typing import Any, AsyncIterator, List, Optional

import pytest
import weaviate
import weaviate.classes as wvc
from opentelemetry.trace import SpanKind, StatusCode
from weaviate.backup.backup import BackupStorage
from weaviate.classes.tenants import Tenant, TenantActivityStatus
from weaviate.collections.classes.config import ConsistencyLevel
from weaviate.exceptions import UnexpectedStatusCodeError, WeaviateQueryError

from tests.real import support
from tests.real.support import weaviate_client_for
from tests.support.apm import apm_outcomes
from tests.support.differential import plain_traced_plain
from tests.support.telemetry import (
    duration_points,
    exception_events,
    exported_text,
    finished,
)

PROPS = [
    wvc.config.Property(name="title", data_type=wvc.config.DataType.TEXT),
    wvc.config.Property(name="year", data_type=wvc.config.DataType.INT),
]
UUIDS = [f"00000000-0000-0000-0000-00000000000{n}" for n in range(3)]
OBJECTS = [
    wvc.data.DataObject(properties={"title": t, "year": y}, uuid=UUIDS[n], vector=v)
    for n, (t, y, v) in enumerate(
        [
            ("Alien", 1979, [1.0, 0.0]),
            ("Heat", 1995, [0.0, 1.0]),
            ("Alien Resurrection", 1997, [0.9, 0.1]),
        ]
    )
]
BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]


def one(exporter: Any) -> Any:
    spans = finished(exporter)
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def names(exporter: Any) -> List[str]:
    return [s.name for s in finished(exporter)]


async def create_movies(client: Any, name: str) -> Any:
    collection = await client.collections.create(
        name,
        properties=PROPS,
        vector_config=wvc.config.Configure.Vectors.self_provided(),
        # The server's generative-dummy module (no network) answers the generate.* calls: with
        # generative modules on, a collection without one of its own cannot generate.
        generative_config=wvc.config.Configure.Generative.custom("generative-dummy"),
    )
    result = await collection.data.insert_many(OBJECTS)
    assert not result.has_errors, result.errors
    return collection


@pytest.fixture
async def movies(wv: Any, new_collection: Any) -> Any:
    """A collection of three objects with vectors, created before instrument() (no spans)."""
    return await create_movies(wv, new_collection("Movie"))


def assert_weaviate_span(
    span: Any, name: str, server: support.Weaviate, collection: Any, *, group: bool = False
) -> None:
    """What docs/attributes.md promises on a successful Weaviate call's span. ``group``: a call
    that sends several REST requests (connect, reference_add, ...), one span without a URL."""
    assert span.name == name
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET, span.status
    attrs = dict(span.attributes)
    assert attrs["db.system.name"] == "weaviate"
    assert attrs["db.operation.name"] == name.split(" ", 1)[0]
    assert attrs["db.query.summary"] == name
    if collection is None:
        assert "db.collection.name" not in attrs
    else:
        assert attrs["db.collection.name"] == collection
    assert attrs["server.address"] == server.host
    rest = "http.request.method" in attrs
    assert attrs["server.port"] == (server.http_port if rest or group else server.grpc_port)
    if rest:
        assert attrs["url.full"].startswith(f"{server.http_url}/v1/")
    else:
        assert "url.full" not in attrs
    if rest or group:
        assert attrs["db.response.status_code"].startswith("2")
    else:
        assert attrs["db.response.status_code"] == "OK"
    assert "error.type" not in attrs
    assert "db.query.text" not in attrs  # query strings only with capture_query="raw"


# -- connect, operations --------------------------------------------------------------------------
async def test_connect_is_one_span_and_close_none(
    real_weaviate: Any, instrumented: Any, span_exporter: Any
) -> None:
    instrumented()
    client = weaviate_client_for(real_weaviate)
    await client.connect()
    async with client:  # already connected: no second span
        assert await client.is_ready()
    connect, ready = finished(span_exporter)
    assert_weaviate_span(connect, "connect", real_weaviate, None, group=True)
    assert connect.attributes["server.port"] == real_weaviate.http_port
    assert_weaviate_span(ready, "is_ready", real_weaviate, None)


OPERATIONS = [
    ("fetch_objects", lambda m: m.query.fetch_objects(limit=5)),
    ("near_vector", lambda m: m.query.near_vector([1.0, 0.0], limit=1)),
    ("near_object", lambda m: m.query.near_object(UUIDS[0], limit=2)),
    ("bm25", lambda m: m.query.bm25("alien")),
    ("hybrid", lambda m: m.query.hybrid("alien", vector=[1.0, 0.0], limit=2)),
    (
        "generate.near_vector",
        lambda m: m.generate.near_vector([1.0, 0.0], single_prompt="Sum up {title}"),
    ),
    ("aggregate", lambda m: m.aggregate.over_all(total_count=True)),
    ("insert", lambda m: m.data.insert({"title": "Up", "year": 2009}, vector=[0.5, 0.5])),
    ("insert_many", lambda m: m.data.insert_many([{"title": "A"}, {"title": "B"}])),
    (
        "delete_many",
        lambda m: m.data.delete_many(wvc.query.Filter.by_property("title").equal("Heat")),
    ),
]


@pytest.mark.parametrize(("operation", "call"), OPERATIONS, ids=[o for o, _ in OPERATIONS])
async def test_grpc_and_rest_operations_are_one_span_each(
    movies: Any,
    instrumented: Any,
    span_exporter: Any,
    real_weaviate: Any,
    operation: str,
    call: Any,
) -> None:
    instrumented()
    result = await call(movies)
    assert result is not None
    span = one(span_exporter)
    assert_weaviate_span(span, f"{operation} {movies.name}", real_weaviate, movies.name)
    if operation == "insert_many":
        assert span.attributes["db.operation.batch.size"] == 2
    if operation == "delete_many":
        assert result.successful == 1


async def test_query_results_are_the_real_ones(
    movies: Any, instrumented: Any, span_exporter: Any
) -> None:
    """The spans change nothing the query answers."""
    instrumented()
    near = await movies.query.near_vector([1.0, 0.0], limit=2)
    assert [o.properties["title"] for o in near.objects] == ["Alien", "Alien Resurrection"]
    bm25 = await movies.query.bm25("alien")
    assert {o.properties["title"] for o in bm25.objects} == {"Alien", "Alien Resurrection"}
    aggregate = await movies.aggregate.over_all(total_count=True)
    assert aggregate.total_count == 3
    assert len(finished(span_exporter)) == 3


async def test_fetch_object_by_id_and_exists(
    movies: Any, instrumented: Any, span_exporter: Any, real_weaviate: Any
) -> None:
    instrumented()
    assert await movies.query.fetch_object_by_id(UUIDS[0]) is not None
    assert await movies.query.fetch_object_by_id("00000000-0000-0000-0000-0000000000ff") is None
    assert await movies.data.exists(UUIDS[1]) is True
    assert await movies.data.exists("00000000-0000-0000-0000-0000000000ff") is False
    fetch, missing, exists, absent = finished(span_exporter)
    for span in (fetch, missing):
        assert_weaviate_span(span, f"fetch_object_by_id {movies.name}", real_weaviate, movies.name)
    assert_weaviate_span(exists, f"exists {movies.name}", real_weaviate, movies.name)
    # A HEAD 404 from exists() is an answer, not an error.
    assert absent.status.status_code is StatusCode.UNSET
    assert absent.attributes["db.response.status_code"] == "404"


async def test_data_update_replace_delete_and_references(
    wv: Any,
    movies: Any,
    new_collection: Any,
    instrumented: Any,
    span_exporter: Any,
    real_weaviate: Any,
) -> None:
    authors = await wv.collections.create(new_collection("Author"))
    books = await wv.collections.create(
        new_collection("Book"),
        references=[wvc.config.ReferenceProperty(name="by", target_collection=authors.name)],
    )
    author = await authors.data.insert({})
    book = await books.data.insert({})
    instrumented()
    await movies.data.update(uuid=UUIDS[0], properties={"year": 1980})
    await movies.data.replace(uuid=UUIDS[1], properties={"title": "Heat", "year": 1996})
    assert await movies.data.delete_by_id(UUIDS[2]) is True
    await books.data.reference_add(from_uuid=book, from_property="by", to=author)
    update, replace, delete, reference = finished(span_exporter)
    assert_weaviate_span(update, f"update {movies.name}", real_weaviate, movies.name)
    assert update.attributes["http.request.method"] == "PATCH"
    assert_weaviate_span(replace, f"replace {movies.name}", real_weaviate, movies.name)
    assert replace.attributes["http.request.method"] == "PUT"
    assert_weaviate_span(delete, f"delete_by_id {movies.name}", real_weaviate, movies.name)
    assert_weaviate_span(
        reference, f"reference_add {books.name}", real_weaviate, books.name, group=True
    )
    fetched = await movies.query.fetch_object_by_id(UUIDS[0])
    assert fetched.properties["year"] == 1980


async def test_collection_lifecycle_and_multi_request_calls_are_one_span(
    wv: Any, new_collection: Any, instrumented: Any, span_exporter: Any, real_weaviate: Any
) -> None:
    a, b, c = new_collection("A"), new_collection("B"), new_collection("C")
    instrumented()
    for name in (a, b, c):
        await wv.collections.create(name, properties=PROPS)
    assert await wv.collections.exists(a)
    config = await wv.collections.use(c).config.get()
    assert config.name == c
    listed = await wv.collections.list_all()
    assert {a, b, c} <= set(listed)
    await wv.collections.delete([a, b])
    await wv.collections.delete(c)
    assert not await wv.collections.exists(a)
    assert names(span_exporter) == [
        f"create_collection {a}",
        f"create_collection {b}",
        f"create_collection {c}",
        f"collection_exists {a}",
        f"get_collection {c}",
        "list_collections",
        f"delete_collection {a},{b}",
        f"delete_collection {c}",
        f"collection_exists {a}",
    ]
    for span in finished(span_exporter):
        assert span.status.status_code is StatusCode.UNSET
        assert span.attributes["server.port"] == real_weaviate.http_port


async def test_tenants_and_consistency_level(
    wv: Any, new_collection: Any, instrumented: Any, span_exporter: Any, real_weaviate: Any
) -> None:
    docs = await wv.collections.create(
        new_collection("Docs"),
        multi_tenancy_config=wvc.config.Configure.multi_tenancy(enabled=True),
        properties=[wvc.config.Property(name="body", data_type=wvc.config.DataType.TEXT)],
    )
    instrumented()
    await docs.tenants.create(["alpha", "beta"])
    assert set(await docs.tenants.get()) == {"alpha", "beta"}
    assert await docs.tenants.get_by_name("missing") is None
    await docs.tenants.update(Tenant(name="beta", activity_status=TenantActivityStatus.INACTIVE))
    alpha = docs.with_tenant("alpha").with_consistency_level(ConsistencyLevel.QUORUM)
    await alpha.data.insert({"body": "x"})
    assert len((await alpha.query.fetch_objects()).objects) == 1
    await docs.tenants.remove(["beta"])
    create, get, missing, update, insert, fetch, remove = finished(span_exporter)
    name = docs.name
    assert_weaviate_span(create, f"create_tenants {name}", real_weaviate, name)
    assert get.name == f"get_tenants {name}"
    assert get.status.status_code is StatusCode.UNSET
    # A lookup that answers None for a 404 is not an error.
    assert missing.name == f"get_tenant {name}"
    assert missing.status.status_code is StatusCode.UNSET
    assert missing.attributes["db.response.status_code"] == "404"
    assert update.name == f"update_tenants {name}"
    assert update.status.status_code is StatusCode.UNSET
    for span in (insert, fetch):
        assert span.status.status_code is StatusCode.UNSET
        assert span.attributes["weaviate.tenant"] == "alpha"
        assert span.attributes["weaviate.consistency.level"] == "QUORUM"
    assert_weaviate_span(remove, f"remove_tenants {name}", real_weaviate, name)


async def test_filesystem_backup_create_status_and_restore_are_one_span_each(
    wv: Any, movies: Any, instrumented: Any, span_exporter: Any, real_weaviate: Any
) -> None:
    backup_id = f"rt-{uuid.uuid4().hex[:12]}"
    instrumented()
    created = await wv.backup.create(
        backup_id,
        BackupStorage.FILESYSTEM,
        include_collections=[movies.name],
        wait_for_completion=True,
    )
    assert created.status.name == "SUCCESS"
    status = await wv.backup.get_create_status(backup_id, BackupStorage.FILESYSTEM)
    assert status.status.name == "SUCCESS"
    spans = finished(span_exporter)
    assert [s.name for s in spans] == ["backup.create", "backup.get_create_status"]
    for span in spans:  # several requests (create, then polling) ... one span
        assert span.status.status_code is StatusCode.UNSET
        assert span.attributes["db.system.name"] == "weaviate"
        assert span.attributes["server.port"] == real_weaviate.http_port
    span_exporter.clear()

    await wv.collections.delete(movies.name)  # restore needs it gone
    span_exporter.clear()
    restored = await wv.backup.restore(
        backup_id,
        BackupStorage.FILESYSTEM,
        include_collections=[movies.name],
        wait_for_completion=True,
    )
    assert restored.status.name == "SUCCESS"
    assert names(span_exporter) == ["backup.restore"]
    assert len((await movies.query.fetch_objects()).objects) == 3


async def test_batch_stream_is_one_span_for_the_stream(
    movies: Any, instrumented: Any, span_exporter: Any, real_weaviate: Any
) -> None:
    instrumented()
    async with movies.batch.stream() as batch:
        for i in range(3):
            await batch.add_object({"title": f"t{i}"})
    streams = [s for s in finished(span_exporter) if s.name.startswith("batch.stream")]
    assert len(streams) == 1, names(span_exporter)
    [stream] = streams
    assert stream.kind is SpanKind.CLIENT
    assert stream.status.status_code is StatusCode.UNSET
    assert stream.attributes["server.port"] == real_weaviate.grpc_port
    assert (await movies.aggregate.over_all(total_count=True)).total_count == 6


async def test_concurrent_queries_under_one_parent(
    movies: Any, instrumented: Any, span_exporter: Any, tracer_provider: Any
) -> None:
    instrumented()
    with tracer_provider.get_tracer("app").start_as_current_span("request") as parent:
        await asyncio.gather(*(movies.query.fetch_objects(limit=1) for _ in range(10)))
    spans = [s for s in finished(span_exporter) if s.name == f"fetch_objects {movies.name}"]
    assert len(spans) == 10
    assert {s.parent.span_id for s in spans} == {parent.get_span_context().span_id}


async def test_raw_capture_records_query_strings_but_never_vectors(
    movies: Any, instrumented: Any, span_exporter: Any
) -> None:
    instrumented(capture_query="raw")
    await movies.query.hybrid("alien queen", vector=[0.25, 0.75])
    await movies.query.bm25("heat")
    hybrid, bm25 = finished(span_exporter)
    assert json.loads(hybrid.attributes["db.query.text"]) == {"query": "alien queen"}
    assert json.loads(bm25.attributes["db.query.text"]) == {"query": "heat"}
    assert "0.25" not in exported_text(hybrid)


async def test_no_object_data_or_query_text_in_any_exported_span(
    wv: Any, new_collection: Any, instrumented: Any, span_exporter: Any
) -> None:
    instrumented()
    movies = await wv.collections.create(
        new_collection("Private"),
        properties=PROPS,
        vector_config=wvc.config.Configure.Vectors.self_provided(),
    )
    await movies.data.insert({"title": "Private Title", "year": 4242}, vector=[0.125, 0.5])
    await movies.data.insert_many(
        [wvc.data.DataObject({"title": "Another Secret"}, vector=[0.5, 0.5])]
    )
    await movies.query.hybrid("secret query text", vector=[0.125, 0.5])
    await movies.query.bm25("secret bm25 text")
    await movies.query.near_vector([0.125, 0.5])
    exported = exported_text(*finished(span_exporter))
    for secret in (
        "Private Title",
        "4242",
        "0.125",
        "Another Secret",
        "secret query",
        "secret bm25",
    ):
        assert secret not in exported


async def test_returned_rows_is_opt_in(movies: Any, instrumented: Any, span_exporter: Any) -> None:
    instrumented()
    await movies.query.fetch_objects()
    assert "db.response.returned_rows" not in one(span_exporter).attributes
    span_exporter.clear()
    instrumented(record_returned_rows=True)
    await movies.query.fetch_objects(limit=2)
    assert one(span_exporter).attributes["db.response.returned_rows"] == 2


async def test_duration_metric(
    movies: Any, instrumented: Any, metric_reader: Any, real_weaviate: Any
) -> None:
    instrumented()
    await movies.query.fetch_objects()
    await movies.data.insert({"title": "x"}, vector=[0.1, 0.2])
    by_op = {p.attributes["db.operation.name"]: p for p in duration_points(metric_reader)}
    assert dict(by_op["fetch_objects"].attributes) == {
        "db.system.name": "weaviate",
        "db.operation.name": "fetch_objects",
        "db.collection.name": movies.name,
        "server.address": real_weaviate.host,
        "server.port": real_weaviate.grpc_port,
    }
    assert by_op["insert"].attributes["server.port"] == real_weaviate.http_port
    assert list(by_op["fetch_objects"].explicit_bounds) == BUCKETS


# -- real errors, plain / traced / plain ----------------------------------------------------------
def _connect(server: support.Weaviate, **kwargs: Any) -> Any:
    @contextlib.asynccontextmanager
    async def open_client() -> AsyncIterator[Any]:
        client = weaviate_client_for(server, **kwargs)
        await client.connect()
        try:
            yield client
        finally:
            await client.close()

    return open_client


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
        lambda c, name: c.collections.use(name).query.fetch_objects(),
        "fetch_objects",
        "could not find class {name} in schema",
    ),
    (
        "bm25-unknown-collection",
        lambda c, name: c.collections.use(name).query.bm25("alien"),
        "bm25",
        "could not find class {name} in schema",
    ),
    (
        "aggregate-unknown-collection",
        lambda c, name: c.collections.use(name).aggregate.over_all(total_count=True),
        "aggregate",
        "parse params: could not find class {name} in schema",
    ),
]


@pytest.mark.parametrize(
    ("call", "operation", "reason"), [c[1:] for c in GRPC_ERRORS], ids=[c[0] for c in GRPC_ERRORS]
)
async def test_unknown_collection_over_grpc_changes_nothing_the_application_sees(
    real_weaviate: Any,
    new_collection: Any,
    instrumented: Any,
    span_exporter: Any,
    metric_reader: Any,
    apm: Any,
    call: Any,
    operation: str,
    reason: str,
) -> None:
    """Real Weaviate answers gRPC status UNKNOWN (not NOT_FOUND) with the reason in the details."""
    name = new_collection("Nope")
    run = await plain_traced_plain(
        _connect(real_weaviate), lambda c: call(c, name), instrumented, span_exporter, apm=apm
    )
    run.assert_same_outcome()
    assert isinstance(run.traced.value, WeaviateQueryError)
    [span] = run.spans
    assert_error_span(
        span, f"{operation} {name}", "UNKNOWN", reason.format(name=name), "WeaviateQueryError"
    )
    assert span.attributes["server.port"] == real_weaviate.grpc_port
    [point] = duration_points(metric_reader)
    assert point.attributes["error.type"] == "UNKNOWN"
    assert apm_outcomes(run.apm_spans) == [(span.name, "failure")]


async def test_near_text_without_a_vectorizer_is_a_real_grpc_error(
    real_weaviate: Any, movies: Any, instrumented: Any, span_exporter: Any
) -> None:
    """The server has no vectorizer module: ``near_text`` fails on the server (gRPC UNKNOWN)."""
    name = movies.name
    run = await plain_traced_plain(
        _connect(real_weaviate),
        lambda c: c.collections.use(name).query.near_text("alien"),
        instrumented,
        span_exporter,
    )
    run.assert_same_outcome()
    [span] = run.spans
    assert_error_span(
        span,
        f"near_text {name}",
        "UNKNOWN",
        f"explorer: get class: vectorize params: could not vectorize input for collection {name} "
        "with search-type nearText. Make sure a vectorizer module is configured for this "
        "collection",
        "WeaviateQueryError",
    )


async def test_invalid_property_value_is_a_422_whose_reason_echoes_no_value(
    real_weaviate: Any, movies: Any, instrumented: Any, span_exporter: Any, apm: Any
) -> None:
    """Real: 422 "invalid object: invalid integer property 'year' on class 'X': requires an
    integer, the given value is 'secret-int'". Sanitize turns every quoted literal into '?'."""
    name = movies.name
    run = await plain_traced_plain(
        _connect(real_weaviate),
        lambda c: c.collections.use(name).data.insert({"title": "c", "year": "secret-int"}),
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
        f"insert {name}",
        "422",
        "invalid object: invalid integer property '?' on class '?': requires an integer, "
        "the given value is '?'",
        "UnexpectedStatusCodeError",
    )
    assert "secret-int" not in span.to_json()
    assert apm_outcomes(run.apm_spans) == [(span.name, "failure")]


async def test_insert_many_with_a_real_invalid_object_is_a_batch_error(
    real_weaviate: Any, movies: Any, instrumented: Any, span_exporter: Any, apm: Any
) -> None:
    name = movies.name
    objects = [
        wvc.data.DataObject({"title": "ok", "year": 1}, uuid=UUIDS[0], vector=[1.0, 0.0]),
        wvc.data.DataObject(
            {"title": "bad", "year": "secret-many"}, uuid=UUIDS[1], vector=[0.0, 1.0]
        ),
        wvc.data.DataObject({"title": "ok too", "year": 2}, uuid=UUIDS[2], vector=[0.5, 0.5]),
    ]
    run = await plain_traced_plain(
        _connect(real_weaviate),
        lambda c: c.collections.use(name).data.insert_many(objects),
        instrumented,
        span_exporter,
        apm=apm,
    )
    run.assert_same_outcome()
    assert not run.traced.raised
    assert set(run.traced.value.errors) == {1}
    [span] = run.spans
    assert span.name == f"insert_many {name}"
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "batch_object_error"
    assert span.attributes["weaviate.batch.failed_objects"] == 1
    assert span.attributes["db.operation.batch.size"] == 3
    assert span.status.description == (
        "invalid integer property '?' on class '?': requires an integer, the given value is '?'"
    )
    assert "secret-many" not in span.to_json()
    assert not exception_events(span)
    assert apm_outcomes(run.apm_spans) == [(span.name, "failure")]


REST_ERRORS = [
    (
        "create-existing-collection-422",
        lambda c, name: c.collections.create(name),
        "create_collection {name}",
        "422",
        "class name {name} already exists",
    ),
    (
        "get-config-of-unknown-collection-404",
        lambda c, name: c.collections.use(name + "Nope").config.get(),
        "get_collection {name}Nope",
        "404",
        None,  # no body: the exception's message
    ),
    (
        "update-missing-object-404",
        lambda c, name: c.collections.use(name).data.update(
            uuid="00000000-0000-0000-0000-0000000000ff", properties={"title": "x"}
        ),
        "update {name}",
        "404",
        None,
    ),
    (
        "vector-of-the-wrong-length-500",
        lambda c, name: c.collections.use(name).data.insert(
            {"title": "v"}, vector=[1.0, 2.0, 3.0], uuid="00000000-0000-0000-0000-0000000000aa"
        ),
        "insert {name}",
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
    real_weaviate: Any,
    movies: Any,
    instrumented: Any,
    span_exporter: Any,
    metric_reader: Any,
    call: Any,
    span_name: str,
    status: str,
    reason: Optional[str],
) -> None:
    name = movies.name
    run = await plain_traced_plain(
        _connect(real_weaviate), lambda c: call(c, name), instrumented, span_exporter
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
    assert_error_span(
        span,
        span_name.format(name=name),
        status,
        reason.format(name=name),
        "UnexpectedStatusCodeError",
    )
    assert span.attributes["server.port"] == real_weaviate.http_port
    [point] = duration_points(metric_reader)
    assert point.attributes["error.type"] == status


_SEARCH_AT = "explorer: list class: search: object search at index {index}: "
TENANT_ERRORS = [
    (
        "insert-without-a-tenant",
        lambda docs, movies: docs.data.insert({"body": "x"}),
        "insert",
        "422",
        "determine shard: class {docs} has multi-tenancy enabled, but request was without tenant",
    ),
    (
        "fetch-without-a-tenant",
        lambda docs, movies: docs.query.fetch_objects(),
        "fetch_objects",
        "UNKNOWN",
        _SEARCH_AT.format(index="{docs_index}")
        + "class {docs} has multi-tenancy enabled, but request was without tenant",
    ),
    (
        "fetch-with-an-unknown-tenant",
        lambda docs, movies: docs.with_tenant("nobody").query.fetch_objects(),
        "fetch_objects",
        "UNKNOWN",
        _SEARCH_AT.format(index="{docs_index}") + 'tenant not found: "?"',  # scrubbed quotes
    ),
    (
        "fetch-with-an-inactive-tenant",
        lambda docs, movies: docs.with_tenant("beta").query.fetch_objects(),
        "fetch_objects",
        "UNKNOWN",
        _SEARCH_AT.format(index="{docs_index}") + "tenant not active: '?'",
    ),
    (
        "fetch-with-a-tenant-on-a-collection-without-multi-tenancy",
        lambda docs, movies: movies.with_tenant("alpha").query.fetch_objects(),
        "fetch_objects",
        "UNKNOWN",
        _SEARCH_AT.format(index="{movies_index}")
        + "class {movies} has multi-tenancy disabled, but request was with tenant",
    ),
]


@pytest.mark.parametrize(
    ("call", "operation", "status", "reason"),
    [c[1:] for c in TENANT_ERRORS],
    ids=[c[0] for c in TENANT_ERRORS],
)
async def test_multi_tenancy_mistakes_change_nothing_the_application_sees(
    wv: Any,
    real_weaviate: Any,
    movies: Any,
    new_collection: Any,
    instrumented: Any,
    span_exporter: Any,
    call: Any,
    operation: str,
    status: str,
    reason: str,
) -> None:
    """What the imitation's tenant refusals (tests/servers) are modelled on: REST 422 and gRPC
    UNKNOWN, the server's reason (its quoted tenant name scrubbed) in the span's status."""
    docs = await wv.collections.create(
        new_collection("Docs"),
        multi_tenancy_config=wvc.config.Configure.multi_tenancy(enabled=True),
        properties=[wvc.config.Property(name="body", data_type=wvc.config.DataType.TEXT)],
    )
    await docs.tenants.create(
        [Tenant(name="alpha"), Tenant(name="beta", activity_status=TenantActivityStatus.INACTIVE)]
    )
    docs_name, movies_name = docs.name, movies.name

    def send(client: Any) -> Any:
        return call(client.collections.use(docs_name), client.collections.use(movies_name))

    run = await plain_traced_plain(_connect(real_weaviate), send, instrumented, span_exporter)
    run.assert_same_outcome()
    [span] = run.spans
    target = movies_name if "movies" in reason else docs_name
    assert span.name == f"{operation} {target}"
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == status
    assert span.status.description == reason.format(
        docs=docs_name,
        docs_index=docs_name.lower(),
        movies=movies_name,
        movies_index=movies_name.lower(),
    )


# -- Elastic APM ----------------------------------------------------------------------------------
async def test_apm_spans_carry_tenant_and_consistency_level(
    wv: Any, new_collection: Any, instrumented: Any, apm: Any, real_weaviate: Any
) -> None:
    docs = await wv.collections.create(
        new_collection("Docs"),
        multi_tenancy_config=wvc.config.Configure.multi_tenancy(enabled=True),
        properties=[wvc.config.Property(name="body", data_type=wvc.config.DataType.TEXT)],
    )
    await docs.tenants.create(["alpha"])
    alpha = docs.with_tenant("alpha").with_consistency_level(ConsistencyLevel.QUORUM)
    instrumented(backends=["apm"])
    with apm.transaction():
        await alpha.query.fetch_objects()
    [doc] = await apm.spans()  # the document APM Server would index
    span = doc["span"]
    assert (span["name"], span["type"], span["subtype"], span["action"]) == (
        f"fetch_objects {docs.name}",
        "db",
        "weaviate",
        "query",
    )
    assert doc["event"]["outcome"] == "success"
    assert doc["labels"] == {"weaviate_tenant": "alpha", "weaviate_consistency_level": "QUORUM"}
    assert span["db"] == {"type": "weaviate"}  # no query text unless capture_query="raw"
    assert doc["destination"]["address"] == real_weaviate.host
    assert doc["destination"]["port"] == real_weaviate.grpc_port
    assert span["destination"]["service"]["resource"] == "weaviate"
    assert doc["service"]["target"]["type"] == "weaviate"


async def test_apm_and_otel_give_one_span_each_per_call(
    movies: Any, instrumented: Any, apm: Any, span_exporter: Any
) -> None:
    instrumented(backends=["otel", "apm"])
    with apm.transaction():
        await movies.query.near_vector([1.0, 0.0])
        await movies.data.insert({"title": "y"}, vector=[0.3, 0.3])
        with pytest.raises(WeaviateQueryError):
            await movies.query.near_text("no vectorizer")
    apm_spans = await apm.spans()
    assert apm_outcomes(apm_spans) == sorted(
        [
            (f"near_vector {movies.name}", "success"),
            (f"insert {movies.name}", "success"),
            (f"near_text {movies.name}", "failure"),
        ]
    )
    assert sorted(s.name for s in finished(span_exporter)) == [
        n for n, _ in apm_outcomes(apm_spans)
    ]


def test_sync_client_gives_no_spans(
    real_weaviate: Any, new_collection: Any, instrumented: Any, span_exporter: Any
) -> None:
    instrumented()
    with weaviate.connect_to_custom(
        http_host=real_weaviate.host,
        http_port=real_weaviate.http_port,
        http_secure=False,
        grpc_host=real_weaviate.host,
        grpc_port=real_weaviate.grpc_port,
        grpc_secure=False,
        skip_init_checks=True,
    ) as client:
        movies = client.collections.create(new_collection("Sync"), properties=PROPS)
        movies.data.insert({"title": "x"})
        movies.query.fetch_objects()
    assert finished(span_exporter) == []


async def test_graphql_raw_query_is_read_and_answers_as_without_us(
    movies: Any, wv: Any, instrumented: Any, span_exporter: Any, real_weaviate: support.Weaviate
) -> None:
    """GraphQL (``graphql_raw_query``): the statement without its literals, the class it names as
    the collection and the span's name, and the real answer untouched."""
    instrumented()
    name = movies.name
    query = (
        '{ Get { NAME(where: {path: ["title"], operator: Equal, valueText: "Alien"}, limit: 2)'
        " { title } } }"
    ).replace("NAME", name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = await wv.graphql_raw_query(query)
    # ``Equal`` on a word-tokenized text: every title with the word
    assert sorted(item["title"] for item in result.get[name]) == ["Alien", "Alien Resurrection"]
    [span] = finished(span_exporter)
    assert span.name == f"Get {name}"
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["db.operation.name"] == "graphql"
    assert span.attributes["db.collection.name"] == name
    assert span.attributes["db.query.text"] == (
        "{ Get { NAME(where: {path: [?], operator: Equal, valueText: ?}, limit: ?) { title } } }"
    ).replace("NAME", name)
    assert span.attributes["url.full"] == f"{real_weaviate.http_url}/v1/graphql"
