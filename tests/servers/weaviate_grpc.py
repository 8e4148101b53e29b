"""gRPC half of the Weaviate stand-in (see ``weaviate_rest``).

Implements the ``weaviate.v1.Weaviate`` calls the tests, demo and example app make, with the
servicer generated inside weaviate-client's own stubs (the versioned package ``weaviate.proto.v1``
picks for the installed protobuf, so the wire format is exactly what the client speaks).

The servicer runs on grpcio's thread-pool server rather than ``grpc.aio``: grpc.aio keeps one
process-wide completion-queue poller, and a grpc.aio server on the stand-in's own loop (the
``InThread`` / pytest-fixture mode) plus the client's grpc.aio channel on the test's loop make
both loops race for its wake-up byte, which asyncio logs as ``BlockingIOError`` in
``PollerCompletionQueue._handle_events``. Handlers hold ``WeaviateStore.lock``.

Searches rank by word overlap (near_text), cosine similarity (near_vector), a small BM25 (bm25)
or a mix (hybrid); filters understand equality only; results carry no scores or distances.

Errors are the real server's: a call on an unknown collection fails with status ``UNKNOWN`` and
the server's message as the details (``could not find class X in schema``, with the prefix each
RPC adds); a search, aggregate or batch delete with a tenant mistake (a tenant on a collection
without multi-tenancy; on one with it, no tenant, an unknown tenant or one that is not active)
fails with ``UNKNOWN`` and the server's message; a batch creates an
unknown collection (auto-schema) and reports what the server refuses (a property value, a vector of
the wrong length, a tenant mistake) as per-object errors with its messages.
"""

from __future__ import annotations

import math
import re
import struct
import time
import uuid as uuid_lib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Callable, Optional

import grpc
from google.protobuf import json_format
from weaviate.proto.v1 import (
    aggregate_pb2,
    batch_delete_pb2,
    batch_pb2,
    generative_pb2,
    properties_pb2,
    search_get_pb2,
    tenants_pb2,
    weaviate_pb2_grpc,
)

from tests.servers.weaviate_rest import (
    GrpcRequest,
    ObjectRejected,
    StoredCollection,
    StoredObject,
    TenantRefused,
)

if TYPE_CHECKING:
    from tests.servers.weaviate_rest import WeaviateStandIn

__all__ = ["WeaviateServicer", "add_to_server"]

_TENANT_STATUS = {
    "ACTIVE": tenants_pb2.TENANT_ACTIVITY_STATUS_ACTIVE,
    "INACTIVE": tenants_pb2.TENANT_ACTIVITY_STATUS_INACTIVE,
    "OFFLOADED": tenants_pb2.TENANT_ACTIVITY_STATUS_OFFLOADED,
}
_TOKEN = re.compile(r"\w+")
#: what the real server's answer for an unknown collection says, by RPC (gRPC status UNKNOWN)
_UNKNOWN_COLLECTION = {
    "Search": "could not find class {name} in schema",
    "Aggregate": "parse params: could not find class {name} in schema",
    "BatchDelete": "batch delete params: could not find class {name} in schema",
    "TenantsGet": "get tenants: failed to execute query: could not get tenants: "
    "could not get tenants: class not found",
}


# --------------------------------------------------------------------------------------------
# decoding what the client sends, encoding what it reads
# --------------------------------------------------------------------------------------------


def _unpack_f32(data: bytes) -> list[float]:
    return [float(v) for v in struct.unpack(f"{len(data) // 4}f", data)]


def _decode_vectors(vectors: Iterable[Any]) -> dict[str, Any]:
    return {vec.name or "default": _unpack_f32(vec.vector_bytes) for vec in vectors}


def _decode_batch_object(obj: Any) -> dict[str, Any]:
    props = (
        json_format.MessageToDict(obj.properties.non_ref_properties)
        if obj.HasField("properties")
        else {}
    )
    vectors = _decode_vectors(obj.vectors)
    if obj.vector_bytes:
        vectors["default"] = _unpack_f32(obj.vector_bytes)
    return {
        "collection": obj.collection,
        "uuid": obj.uuid or None,
        "properties": props,
        "vectors": vectors,
        "tenant": obj.tenant,
    }


def _encode_properties(values: dict[str, Any], coll: StoredCollection) -> Any:
    """Text and int properties (the only types the callers store); anything else as text."""
    out = properties_pb2.Properties()
    for key, value in values.items():
        prop = coll.prop(key)
        if prop is not None and prop["dataType"][0] == "int":
            out.fields[key].CopyFrom(properties_pb2.Value(int_value=int(value)))
        else:
            out.fields[key].CopyFrom(properties_pb2.Value(text_value=str(value)))
    return out


# --------------------------------------------------------------------------------------------
# filters and ranking
# --------------------------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _matches(f: Any, obj: StoredObject) -> bool:
    """``Filter.by_id().equal(...)`` / ``Filter.by_property(...).equal(...)``: all words match."""
    name = f.target.property
    expected = str(getattr(f, f.WhichOneof("test_value")))
    if name == "_id":
        return obj.id == expected.lower()
    value = obj.properties.get(name)
    return value is not None and set(_tokens(expected)) <= set(_tokens(str(value)))


def _object_text(obj: StoredObject, props: Optional[Iterable[str]] = None) -> str:
    wanted = {p.split("^")[0] for p in props} if props else None
    return " ".join(
        str(value)
        for key, value in obj.properties.items()
        if isinstance(value, str) and (wanted is None or key in wanted)
    )


def _text_similarity(query: list[str], obj: StoredObject) -> float:
    q = set(query)
    o = set(_tokens(_object_text(obj)))
    if not q or not o:
        return 0.0
    return len(q & o) / math.sqrt(len(q) * len(o))


def _cosine_distance(a: list[float], b: list[float]) -> float:
    n = min(len(a), len(b))
    dot = sum(a[i] * b[i] for i in range(n))
    na = math.sqrt(sum(x * x for x in a[:n]))
    nb = math.sqrt(sum(x * x for x in b[:n]))
    if na == 0 or nb == 0:
        return 1.0
    return 1.0 - dot / (na * nb)


def _query_vector(msg: Any) -> Optional[list[float]]:
    """The query vector of a NearVector / Hybrid message, if it has one."""
    if getattr(msg, "vector_bytes", b""):
        return _unpack_f32(msg.vector_bytes)
    if len(getattr(msg, "vectors", [])):
        return list(next(iter(_decode_vectors(msg.vectors).values())))
    return None


def _similarity(obj: StoredObject, vector: Optional[list[float]], words: list[str]) -> float:
    """Cosine similarity to the query vector, else word overlap with the query text."""
    if vector is None:
        return _text_similarity(words, obj)
    if "default" not in obj.vectors:
        return 0.0
    return 1 - _cosine_distance(vector, obj.vectors["default"]) / 2


def _near_vector(objs: list[StoredObject], msg: Any) -> list[StoredObject]:
    vector = _query_vector(msg)
    return sorted(objs, key=lambda o: -_similarity(o, vector, []))


def _near_text(objs: list[StoredObject], msg: Any) -> list[StoredObject]:
    words = _tokens(" ".join(msg.query))
    return sorted(objs, key=lambda o: -_similarity(o, None, words))


def _bm25_scores(objs: list[StoredObject], query: str, props: Iterable[str]) -> dict[str, float]:
    terms = _tokens(query)
    props = list(props)
    docs = {o.id: _tokens(_object_text(o, props or None)) for o in objs}
    avg = (sum(len(d) for d in docs.values()) / len(docs)) if docs else 1.0
    n = len(docs)
    scores: dict[str, float] = {}
    for term in set(terms):
        df = sum(1 for d in docs.values() if term in d)
        if df == 0:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for oid, doc in docs.items():
            tf = doc.count(term)
            if tf:
                k1, b = 1.2, 0.75
                score = idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(doc) / (avg or 1)))
                scores[oid] = scores.get(oid, 0.0) + score
    return scores


def _bm25(objs: list[StoredObject], msg: Any) -> list[StoredObject]:
    scores = _bm25_scores(objs, msg.query, msg.properties)
    return sorted((o for o in objs if o.id in scores), key=lambda o: -scores[o.id])


def _hybrid(objs: list[StoredObject], msg: Any) -> list[StoredObject]:
    if "alpha_param" in msg.DESCRIPTOR.fields_by_name:
        alpha = msg.alpha_param if msg.HasField("alpha_param") else 0.75
    else:  # the protos of clients before 4.19: a plain float, always sent
        alpha = msg.alpha
    keyword = _bm25_scores(objs, msg.query, msg.properties)
    top = max(keyword.values(), default=0.0) or 1.0
    vector, words = _query_vector(msg), _tokens(msg.query)

    def score(obj: StoredObject) -> float:
        similarity = _similarity(obj, vector, words)
        return alpha * similarity + (1 - alpha) * keyword.get(obj.id, 0.0) / top

    return sorted(objs, key=lambda o: -score(o))


_RANKERS: dict[str, Callable[[list[StoredObject], Any], list[StoredObject]]] = {
    "hybrid_search": _hybrid,
    "bm25_search": _bm25,
    "near_vector": _near_vector,
    "near_text": _near_text,
}


def _fill_prompt(prompt: str, obj: StoredObject) -> str:
    def sub(match: re.Match[str]) -> str:
        value = obj.properties.get(match.group(1))
        return str(value) if value is not None else match.group(0)

    return re.sub(r"\{(\w+)\}", sub, prompt)


#: Providers whose usage Weaviate's gRPC replier returns as ``usage.prompt_tokens`` /
#: ``completion_tokens`` / ``total_tokens`` (adapters/handlers/grpc/v1/generative/replier.go).
_OPENAI_LIKE = (
    "openai", "mistral", "databricks", "friendliai", "nvidia", "xai", "deepseek", "digitalocean",
    "meta",
)  # fmt: skip


def _generation_metadata(
    queries: Any, prompt: str, text: str
) -> Optional[generative_pb2.GenerativeMetadata]:
    """What a real server returns for one generation by a dynamic provider asked with
    ``metadata=True``: the provider's usage message, counting words as tokens; ``None`` without a
    dynamic provider or without ``metadata``. Providers the replier has no usage for (anyscale,
    aws, dummy, ollama) answer an empty message of their kind."""
    query = queries[0] if len(queries) else None
    if query is None or not query.return_metadata or not query.WhichOneof("kind"):
        return None
    kind = query.WhichOneof("kind")
    tokens_in, tokens_out = len(prompt.split()), len(text.split())
    metadata = generative_pb2.GenerativeMetadata()
    if kind == "anthropic":
        metadata.anthropic.usage.input_tokens = tokens_in
        metadata.anthropic.usage.output_tokens = tokens_out
    elif kind == "cohere":  # Cohere counts in floats, billed beside seen
        metadata.cohere.tokens.input_tokens = float(tokens_in)
        metadata.cohere.tokens.output_tokens = float(tokens_out)
        metadata.cohere.billed_units.input_tokens = float(tokens_in)
        metadata.cohere.billed_units.output_tokens = float(tokens_out)
    elif kind == "google":
        metadata.google.usage_metadata.prompt_token_count = tokens_in
        metadata.google.usage_metadata.candidates_token_count = tokens_out
        metadata.google.usage_metadata.total_token_count = tokens_in + tokens_out
    elif kind in _OPENAI_LIKE:
        usage = getattr(metadata, kind).usage
        usage.prompt_tokens = tokens_in
        usage.completion_tokens = tokens_out
        usage.total_tokens = tokens_in + tokens_out
    elif kind in ("anyscale", "aws", "dummy", "ollama"):
        getattr(metadata, kind).SetInParent()
    else:
        return None
    return metadata


# --------------------------------------------------------------------------------------------
# the servicer
# --------------------------------------------------------------------------------------------


class WeaviateServicer(weaviate_pb2_grpc.WeaviateServicer):
    """``weaviate.v1.Weaviate`` over the stand-in's in-memory store."""

    def __init__(self, server: WeaviateStandIn) -> None:
        self.server = server
        self.store = server.store

    def _enter(self, method: str, request: Any, context: grpc.ServicerContext) -> GrpcRequest:
        """Take the call's planned delay and fault, record the call, then apply them (taken
        first: a test that acts once the call has arrived cannot race the call's own rules)."""
        faults = self.server.faults
        delay = faults.take_delay(grpc_method=method)
        fault = faults.take_grpc(method)
        record = GrpcRequest(
            method=method,
            request=request,
            metadata={key: str(value) for key, value in context.invocation_metadata()},
        )
        self.server.grpc_requests.append(record)
        if delay:
            self.server._sleep(delay)
        if fault is not None:
            if fault.delay:
                self.server._sleep(fault.delay)
            context.abort(fault.code, fault.details)
        return record

    def _collection(
        self, method: str, name: str, context: grpc.ServicerContext
    ) -> StoredCollection:
        """The collection, or the real server's answer for an unknown one (ends the call)."""
        coll = self.store.get(name)
        if coll is None:
            context.abort(grpc.StatusCode.UNKNOWN, _UNKNOWN_COLLECTION[method].format(name=name))
            raise AssertionError("abort() raises")  # for the type checker: abort never returns
        return coll

    def _candidates(
        self,
        method: str,
        context: grpc.ServicerContext,
        collection: str,
        tenant: str,
        filters: Optional[Any],
    ) -> tuple[StoredCollection, list[StoredObject]]:
        coll = self._collection(method, collection, context)
        try:
            self.store.check_tenant(coll, tenant)
        except TenantRefused as exc:
            # a real 1.39 server's Search says where it looked first (other methods: unchecked)
            where = f"explorer: list class: search: object search at index {coll.name.lower()}: "
            context.abort(grpc.StatusCode.UNKNOWN, (where if method == "Search" else "") + str(exc))
        objs = list(self.store.shard(coll, tenant).values())
        if filters is not None:
            objs = [o for o in objs if _matches(filters, o)]
        return coll, objs

    # -- Search -----------------------------------------------------------------------------

    def Search(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("Search", request, context)
        started = time.perf_counter()
        with self.store.lock:
            coll, objs = self._candidates(
                "Search",
                context,
                request.collection,
                request.tenant,
                request.filters if request.HasField("filters") else None,
            )
            kind = next((k for k in _RANKERS if request.HasField(k)), None)
            ranked = _RANKERS[kind](objs, getattr(request, kind)) if kind else objs
            limit = request.limit or self.server.query_defaults_limit
            page = ranked[request.offset : request.offset + limit]
            reply = search_get_pb2.SearchReply()
            for obj in page:
                reply.results.append(self._result(obj, request, coll))
        if request.HasField("generative"):
            gen = request.generative
            task = gen.grouped.task if gen.HasField("grouped") else gen.grouped_response_task
            if task:
                text = f"Stand-in generated text for: {task} ({len(page)} objects)"
                reply.generative_grouped_result = text
                grouped = generative_pb2.GenerativeReply(result=text)
                queries = gen.grouped.queries if gen.HasField("grouped") else ()
                metadata = _generation_metadata(queries, task, text)
                if metadata is not None and page and gen.HasField("single"):
                    # Weaviate 1.39: with a single prompt too, the grouped answer's metadata is
                    # the first object's usage (its own generation overwrote the task's).
                    filled = _fill_prompt(gen.single.prompt, page[0])
                    text_0 = f"Stand-in generated text for: {filled}"
                    metadata = _generation_metadata(queries, filled, text_0)
                if metadata is not None:
                    grouped.metadata.CopyFrom(metadata)
                reply.generative_grouped_results.values.append(grouped)
        reply.took = time.perf_counter() - started
        return reply

    def _result(self, obj: StoredObject, request: Any, coll: StoredCollection) -> Any:
        md = search_get_pb2.MetadataResult(id=obj.id, id_as_bytes=uuid_lib.UUID(obj.id).bytes)
        meta = request.metadata if request.HasField("metadata") else None
        if meta is not None:
            if meta.creation_time_unix:
                md.creation_time_unix = obj.created
                md.creation_time_unix_present = True
            if meta.last_update_time_unix:
                md.last_update_time_unix = obj.updated
                md.last_update_time_unix_present = True
            if meta.is_consistent:
                md.is_consistent = True
                md.is_consistent_present = True
        result = search_get_pb2.SearchResult(
            properties=search_get_pb2.PropertiesResult(
                target_collection=obj.collection,
                non_ref_props=_encode_properties(obj.properties, coll),
                metadata=search_get_pb2.MetadataResult(
                    id=obj.id, id_as_bytes=uuid_lib.UUID(obj.id).bytes
                ),
            ),
            metadata=md,
        )
        if request.HasField("generative"):
            gen = request.generative
            prompt = gen.single.prompt if gen.HasField("single") else gen.single_response_prompt
            if prompt:
                filled = _fill_prompt(prompt, obj)
                text = f"Stand-in generated text for: {filled}"
                single = generative_pb2.GenerativeReply(result=text)
                queries = gen.single.queries if gen.HasField("single") else ()
                metadata = _generation_metadata(queries, filled, text)
                if metadata is not None:
                    single.metadata.CopyFrom(metadata)
                result.generative.values.append(single)
                result.metadata.generative = text
                result.metadata.generative_present = True
        return result

    # -- batch ------------------------------------------------------------------------------

    def _insert(self, objects: list[Any]) -> dict[int, str]:
        """Insert BatchObjects; returns the errors by index: injected ones, and what the real
        server refuses."""
        errors = self.server.faults.take_batch_errors(len(objects))
        with self.store.lock:
            for index, obj in enumerate(objects):
                if index not in errors:
                    decoded = _decode_batch_object(obj)
                    try:
                        self.store.put_object(
                            decoded["collection"],
                            uuid=decoded["uuid"],
                            properties=decoded["properties"],
                            vectors=decoded["vectors"],
                            tenant=decoded["tenant"],
                        )
                    except ObjectRejected as exc:
                        errors[index] = str(exc)
        return errors

    def BatchObjects(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("BatchObjects", request, context)
        started = time.perf_counter()
        errors = self._insert(list(request.objects))
        return batch_pb2.BatchObjectsReply(
            took=time.perf_counter() - started,
            errors=[
                batch_pb2.BatchObjectsReply.BatchError(index=i, error=msg)
                for i, msg in sorted(errors.items())
            ],
        )

    def BatchStream(
        self, request_iterator: Iterator[Any], context: grpc.ServicerContext
    ) -> Iterator[Any]:
        """``batch.stream()``: start, data messages (objects only), stop."""
        record = self._enter("BatchStream", None, context)
        reply = batch_pb2.BatchStreamReply
        for message in request_iterator:
            if record.request is None:
                record.request = message
            kind = message.WhichOneof("message")
            if kind == "start":
                yield reply(started=reply.Started())
            elif kind == "stop":
                return
            elif kind == "data":
                objects = list(message.data.objects.values)
                yield reply(acks=reply.Acks(uuids=[o.uuid for o in objects]))
                errors = self._insert(objects)
                results = reply.Results()
                for index, obj in enumerate(objects):
                    if index in errors:
                        results.errors.append(
                            reply.Results.Error(error=errors[index], uuid=obj.uuid)
                        )
                    else:
                        results.successes.append(reply.Results.Success(uuid=obj.uuid))
                yield reply(results=results)

    def BatchDelete(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("BatchDelete", request, context)
        started = time.perf_counter()
        with self.store.lock:
            coll, objs = self._candidates(
                "BatchDelete", context, request.collection, request.tenant, request.filters
            )
            shard = self.store.shard(coll, request.tenant)
            if not request.dry_run:
                for obj in objs:
                    shard.pop(obj.id, None)
        return batch_delete_pb2.BatchDeleteReply(
            took=time.perf_counter() - started,
            matches=len(objs),
            successful=0 if request.dry_run else len(objs),
            failed=0,
        )

    # -- tenants / aggregate ----------------------------------------------------------------

    def TenantsGet(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("TenantsGet", request, context)
        with self.store.lock:
            tenants = dict(self._collection("TenantsGet", request.collection, context).tenants)
        names = list(request.names.values) if request.HasField("names") else list(tenants)
        return tenants_pb2.TenantsGetReply(
            tenants=[
                tenants_pb2.Tenant(name=n, activity_status=_TENANT_STATUS[tenants[n]])
                for n in names
                if n in tenants
            ]
        )

    def Aggregate(self, request: Any, context: grpc.ServicerContext) -> Any:
        """``aggregate.over_all(total_count=True)``: the object count, nothing else."""
        self._enter("Aggregate", request, context)
        started = time.perf_counter()
        with self.store.lock:
            _, objs = self._candidates(
                "Aggregate",
                context,
                request.collection,
                request.tenant,
                request.filters if request.HasField("filters") else None,
            )
        reply = aggregate_pb2.AggregateReply(took=time.perf_counter() - started)
        if request.objects_count:
            reply.single_result.objects_count = len(objs)
        return reply


def add_to_server(server: WeaviateStandIn, grpc_server: grpc.Server) -> None:
    weaviate_pb2_grpc.add_WeaviateServicer_to_server(  # type: ignore[no-untyped-call]
        WeaviateServicer(server), grpc_server
    )
