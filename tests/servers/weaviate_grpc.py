"""gRPC half of the Weaviate stand-in (see ``weaviate_server``).

Implements ``weaviate.v1.Weaviate`` with the servicer generated inside weaviate-client's own
stubs (the versioned package ``weaviate.proto.v1`` picks for the installed protobuf, so the
wire format is exactly what the client speaks), plus ``grpc.health.v1.Health/Check``.

The servicer runs on grpcio's thread-pool server rather than ``grpc.aio``: grpc.aio keeps one
process-wide completion-queue poller, and a grpc.aio server on the stand-in's own loop (the
``InThread`` / pytest-fixture mode) plus the client's grpc.aio channel on the test's loop make
both loops race for its wake-up byte, which asyncio logs as ``BlockingIOError`` in
``PollerCompletionQueue._handle_events``.  Handlers hold ``WeaviateStore.lock``.
"""

from __future__ import annotations

import datetime
import fnmatch
import functools
import math
import re
import struct
import time
import uuid as uuid_lib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Optional

import grpc
from google.protobuf import json_format
from weaviate.proto.v1 import (
    aggregate_pb2,
    base_pb2,
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
    StoredCollection,
    StoredObject,
    StoreError,
)

if TYPE_CHECKING:
    from tests.servers.weaviate_rest import WeaviateStandIn

__all__ = ["HEALTH_SERVING", "WeaviateServicer", "add_to_server"]

HEALTH_SERVING = b"\x08\x01"  # grpc.health.v1.HealthCheckResponse{status: SERVING}

Op = base_pb2.Filters
_TENANT_STATUS = {
    "ACTIVE": tenants_pb2.TENANT_ACTIVITY_STATUS_ACTIVE,
    "INACTIVE": tenants_pb2.TENANT_ACTIVITY_STATUS_INACTIVE,
    "OFFLOADED": tenants_pb2.TENANT_ACTIVITY_STATUS_OFFLOADED,
    "OFFLOADING": tenants_pb2.TENANT_ACTIVITY_STATUS_OFFLOADING,
    "ONLOADING": tenants_pb2.TENANT_ACTIVITY_STATUS_ONLOADING,
}
_TOKEN = re.compile(r"\w+")


# --------------------------------------------------------------------------------------------
# decoding what the client sends
# --------------------------------------------------------------------------------------------


def _unpack_f32(data: bytes) -> list[float]:
    return [float(v) for v in struct.unpack(f"{len(data) // 4}f", data)]


def _unpack_multi(data: bytes) -> list[list[float]]:
    dim = int(struct.unpack("<H", data[:2])[0])
    flat = _unpack_f32(data[2:])
    return [flat[i : i + dim] for i in range(0, len(flat), dim)] if dim else []


def _decode_vectors(vectors: Iterable[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for vec in vectors:
        name = vec.name or "default"
        if vec.type == base_pb2.Vectors.VECTOR_TYPE_MULTI_FP32:
            out[name] = _unpack_multi(vec.vector_bytes)
        else:
            out[name] = _unpack_f32(vec.vector_bytes)
    return out


def _decode_props(msg: Any) -> dict[str, Any]:
    """BatchObject.Properties / ObjectPropertiesValue → plain dict (without references)."""
    props: dict[str, Any] = (
        json_format.MessageToDict(msg.non_ref_properties)
        if msg.HasField("non_ref_properties")
        else {}
    )
    for arr in msg.number_array_properties:
        if arr.values_bytes:
            count = len(arr.values_bytes) // 8
            props[arr.prop_name] = list(struct.unpack(f"{count}d", arr.values_bytes))
        else:
            props[arr.prop_name] = list(arr.values)
    for arr in msg.int_array_properties:
        props[arr.prop_name] = list(arr.values)
    for arr in msg.text_array_properties:
        props[arr.prop_name] = list(arr.values)
    for arr in msg.boolean_array_properties:
        props[arr.prop_name] = list(arr.values)
    for obj in msg.object_properties:
        props[obj.prop_name] = _decode_props(obj.value)
    for arr in msg.object_array_properties:
        props[arr.prop_name] = [_decode_props(v) for v in arr.values]
    for name in msg.empty_list_props:
        props[name] = []
    return props


def _decode_batch_object(obj: Any) -> dict[str, Any]:
    refs: dict[str, list[tuple[str, str]]] = {}
    props: dict[str, Any] = {}
    if obj.HasField("properties"):
        props = _decode_props(obj.properties)
        for ref in obj.properties.single_target_ref_props:
            refs.setdefault(ref.prop_name, []).extend(("", u.lower()) for u in ref.uuids)
        for ref in obj.properties.multi_target_ref_props:
            refs.setdefault(ref.prop_name, []).extend(
                (ref.target_collection[:1].upper() + ref.target_collection[1:], u.lower())
                for u in ref.uuids
            )
    vectors = _decode_vectors(obj.vectors)
    if obj.vector_bytes:
        vectors["default"] = _unpack_f32(obj.vector_bytes)
    elif len(obj.vector):
        vectors["default"] = list(obj.vector)
    return {
        "collection": obj.collection,
        "uuid": obj.uuid or None,
        "properties": props,
        "references": refs,
        "vectors": vectors,
        "tenant": obj.tenant,
    }


# --------------------------------------------------------------------------------------------
# encoding what the client reads
# --------------------------------------------------------------------------------------------


def _encode_value(value: Any, data_type: Optional[str], nested: list[dict[str, Any]]) -> Any:
    pv = properties_pb2
    if value is None:
        return pv.Value(null_value=0)
    if data_type is None:
        data_type = _guess_type(value)
    if data_type.endswith("[]"):
        base = data_type[:-2]
        items = list(value) if isinstance(value, list) else [value]
        if base in ("text", "string", "blob"):
            lv = pv.ListValue(text_values=pv.TextValues(values=[str(v) for v in items]))
        elif base == "int":
            packed = struct.pack(f"{len(items)}q", *[int(v) for v in items])
            lv = pv.ListValue(int_values=pv.IntValues(values=packed))
        elif base == "number":
            packed = struct.pack(f"{len(items)}d", *[float(v) for v in items])
            lv = pv.ListValue(number_values=pv.NumberValues(values=packed))
        elif base == "boolean":
            lv = pv.ListValue(bool_values=pv.BoolValues(values=[bool(v) for v in items]))
        elif base == "date":
            lv = pv.ListValue(date_values=pv.DateValues(values=[str(v) for v in items]))
        elif base == "uuid":
            lv = pv.ListValue(uuid_values=pv.UuidValues(values=[str(v) for v in items]))
        else:
            lv = pv.ListValue(
                object_values=pv.ObjectValues(
                    values=[_encode_properties(v, nested) for v in items if isinstance(v, dict)]
                )
            )
        return pv.Value(list_value=lv)
    if data_type in ("text", "string"):
        return pv.Value(text_value=str(value))
    if data_type == "blob":
        return pv.Value(blob_value=str(value))
    if data_type == "int":
        return pv.Value(int_value=int(value))
    if data_type == "number":
        return pv.Value(number_value=float(value))
    if data_type == "boolean":
        return pv.Value(bool_value=bool(value))
    if data_type == "date":
        return pv.Value(date_value=str(value))
    if data_type == "uuid":
        return pv.Value(uuid_value=str(value))
    if data_type == "geoCoordinates":
        return pv.Value(
            geo_value=pv.GeoCoordinate(
                latitude=float(value["latitude"]), longitude=float(value["longitude"])
            )
        )
    if data_type == "phoneNumber":
        return pv.Value(
            phone_value=pv.PhoneNumber(
                input=str(value.get("input", "")),
                default_country=str(value.get("defaultCountry", "")),
                country_code=int(value.get("countryCode", 0)),
                international_formatted=str(value.get("internationalFormatted", "")),
                national=int(value.get("national", 0)),
                national_formatted=str(value.get("nationalFormatted", "")),
                valid=bool(value.get("valid", False)),
            )
        )
    if isinstance(value, dict):
        return pv.Value(object_value=_encode_properties(value, nested))
    return pv.Value(text_value=str(value))


def _guess_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return (_guess_type(value[0]) if value else "text") + "[]"
    return "text"


def _encode_properties(values: dict[str, Any], schema: list[dict[str, Any]]) -> Any:
    by_name = {p["name"]: p for p in schema}
    out = properties_pb2.Properties()
    for key, value in values.items():
        prop = by_name.get(key)
        data_type = str(prop["dataType"][0]) if prop else None
        nested = list(prop.get("nestedProperties") or []) if prop else []
        out.fields[key].CopyFrom(_encode_value(value, data_type, nested))
    return out


def _pack_vectors(obj: StoredObject, names: Optional[Iterable[str]] = None) -> list[Any]:
    out = []
    wanted = set(names) if names is not None else None
    for name, vec in obj.vectors.items():
        if wanted is not None and name not in wanted:
            continue
        if vec and isinstance(vec[0], list):
            flat = [v for row in vec for v in row]
            data = struct.pack("<H", len(vec[0])) + struct.pack(f"{len(flat)}f", *flat)
            kind = base_pb2.Vectors.VECTOR_TYPE_MULTI_FP32
        else:
            data = struct.pack(f"{len(vec)}f", *vec)
            kind = base_pb2.Vectors.VECTOR_TYPE_SINGLE_FP32
        out.append(base_pb2.Vectors(name=name, vector_bytes=data, type=kind))
    return out


# --------------------------------------------------------------------------------------------
# filters
# --------------------------------------------------------------------------------------------


def _to_ms(value: Any) -> Optional[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return None
    return None


def _filter_value(f: Any) -> Any:
    kind = f.WhichOneof("test_value")
    if kind is None:
        return None
    value = getattr(f, kind)
    return list(value.values) if kind.endswith("_array") else value


class _Matcher:
    def __init__(self, server: WeaviateStandIn, coll: StoredCollection) -> None:
        self.server = server
        self.coll = coll

    def _target_values(
        self, obj: StoredObject, coll: StoredCollection, target: Any, path: list[str]
    ) -> tuple[list[Any], Optional[dict[str, Any]]]:
        """Values the filter compares against, plus the property definition (if any)."""
        if target is not None:
            kind = target.WhichOneof("target")
            if kind == "count":
                return [len(obj.references.get(target.count.on, []))], None
            if kind in ("single_target", "multi_target"):
                ref = getattr(target, kind)
                values: list[Any] = []
                definition = None
                for tcoll_name, tid in obj.references.get(ref.on, []):
                    prop_def = coll.prop(ref.on)
                    if not tcoll_name and prop_def is not None:
                        tcoll_name = str(prop_def["dataType"][0])
                    tobj = self.server.store.find_anywhere(tcoll_name, tid, obj.tenant)
                    if tobj is None:
                        continue
                    tcoll = self.server.store.get(tobj.collection)
                    assert tcoll is not None
                    vals, definition = self._target_values(tobj, tcoll, ref.target, [])
                    values.extend(vals)
                return values, definition
            name = target.property
        else:
            name = path[-1] if path else ""
        if name == "_id":
            return [obj.id], {"dataType": ["uuid"]}
        if name == "_creationTimeUnix":
            return [obj.created], {"dataType": ["_time"]}
        if name == "_lastUpdateTimeUnix":
            return [obj.updated], {"dataType": ["_time"]}
        length = re.fullmatch(r"len\((.+)\)", name)
        if length:
            value = obj.properties.get(length.group(1))
            return [len(value) if value is not None else 0], None
        value = obj.properties.get(name)
        if value is None:
            return [], coll.prop(name)
        return ([*value] if isinstance(value, list) else [value]), coll.prop(name)

    def matches(self, f: Any, obj: StoredObject) -> bool:
        op = f.operator
        if op == Op.OPERATOR_AND:
            return all(self.matches(sub, obj) for sub in f.filters)
        if op == Op.OPERATOR_OR:
            return any(self.matches(sub, obj) for sub in f.filters)
        if op == Op.OPERATOR_NOT:
            return not all(self.matches(sub, obj) for sub in f.filters)
        target = f.target if f.HasField("target") else None
        values, definition = self._target_values(obj, self.coll, target, list(f.on))
        expected = _filter_value(f)
        data_type = str(definition["dataType"][0]) if definition else ""
        tokenization = str(definition.get("tokenization") or "") if definition else ""
        if op == Op.OPERATOR_IS_NULL:
            return (len(values) == 0) == bool(expected)
        if op == Op.OPERATOR_NOT_EQUAL:
            return not any(self._equal(v, expected, data_type, tokenization) for v in values)
        if op == Op.OPERATOR_EQUAL:
            return any(self._equal(v, expected, data_type, tokenization) for v in values)
        if op == Op.OPERATOR_LIKE:
            pattern = str(expected).lower()
            return any(fnmatch.fnmatchcase(str(v).lower(), pattern) for v in values)
        if op in (
            Op.OPERATOR_GREATER_THAN,
            Op.OPERATOR_GREATER_THAN_EQUAL,
            Op.OPERATOR_LESS_THAN,
            Op.OPERATOR_LESS_THAN_EQUAL,
        ):
            return any(self._compare(op, v, expected, data_type) for v in values)
        if op in (Op.OPERATOR_CONTAINS_ANY, Op.OPERATOR_CONTAINS_ALL, Op.OPERATOR_CONTAINS_NONE):
            wanted = expected if isinstance(expected, list) else [expected]
            hits = [any(self._equal(v, w, data_type, tokenization) for v in values) for w in wanted]
            if op == Op.OPERATOR_CONTAINS_ANY:
                return any(hits)
            if op == Op.OPERATOR_CONTAINS_ALL:
                return all(hits)
            return not any(hits)
        if op == Op.OPERATOR_WITHIN_GEO_RANGE:
            return any(
                isinstance(v, dict)
                and _haversine_m(
                    v["latitude"], v["longitude"], expected.latitude, expected.longitude
                )
                <= expected.distance
                for v in values
            )
        return False

    @staticmethod
    def _equal(value: Any, expected: Any, data_type: str, tokenization: str) -> bool:
        if data_type in ("uuid", "uuid[]"):
            return str(value).lower() == str(expected).lower()
        if data_type in ("date", "date[]", "_time"):
            return _to_ms(value) == _to_ms(expected)
        if isinstance(value, str) and isinstance(expected, str):
            if tokenization in ("word", "lowercase", "whitespace") and data_type.startswith("text"):
                have = set(_TOKEN.findall(value.lower()))
                want = _TOKEN.findall(expected.lower())
                return bool(want) and all(t in have for t in want)
            return value == expected
        if isinstance(value, bool) or isinstance(expected, bool):
            return value is expected
        if isinstance(value, (int, float)) and isinstance(expected, (int, float)):
            return float(value) == float(expected)
        return bool(value == expected)

    @staticmethod
    def _compare(op: int, value: Any, expected: Any, data_type: str) -> bool:
        if data_type in ("date", "date[]", "_time"):
            left, right = _to_ms(value), _to_ms(expected)
            if left is None or right is None:
                return False
            value, expected = left, right
        try:
            if op == Op.OPERATOR_GREATER_THAN:
                return bool(value > expected)
            if op == Op.OPERATOR_GREATER_THAN_EQUAL:
                return bool(value >= expected)
            if op == Op.OPERATOR_LESS_THAN:
                return bool(value < expected)
            return bool(value <= expected)
        except TypeError:
            return False


def _haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6_371_000 * 2 * math.asin(math.sqrt(a))


# --------------------------------------------------------------------------------------------
# ranking
# --------------------------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _object_text(obj: StoredObject, props: Optional[Iterable[str]] = None) -> str:
    wanted = {p.split("^")[0] for p in props} if props else None
    parts: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)

    for key, value in obj.properties.items():
        if wanted is None or key in wanted:
            walk(value)
    return " ".join(parts)


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


def _query_vector(msg: Any) -> Optional[tuple[Optional[str], list[float]]]:
    """(target vector name or None, query vector) from NearVector/Hybrid-like messages."""
    targets = list(getattr(msg, "target_vectors", []))
    if msg.HasField("targets") and msg.targets.target_vectors:
        targets = list(msg.targets.target_vectors)
    name = targets[0] if targets else None
    if getattr(msg, "vector_bytes", b""):
        return name, _unpack_f32(msg.vector_bytes)
    if len(getattr(msg, "vectors", [])):
        vec = _decode_vectors(msg.vectors)
        first = next(iter(vec.values()))
        return name, first[0] if first and isinstance(first[0], list) else first
    for_targets = getattr(msg, "vector_for_targets", [])
    if len(for_targets):
        entry = for_targets[0]
        data = (
            _unpack_f32(entry.vector_bytes)
            if entry.vector_bytes
            else next(iter(_decode_vectors(entry.vectors).values()))
        )
        return entry.name or name, data
    if len(getattr(msg, "vector", [])):
        return name, list(msg.vector)
    return None


def _object_vector(obj: StoredObject, name: Optional[str]) -> Optional[list[float]]:
    if not obj.vectors:
        return None
    if name is not None and name in obj.vectors:
        vec = obj.vectors[name]
    elif "default" in obj.vectors:
        vec = obj.vectors["default"]
    elif name is None:
        vec = next(iter(obj.vectors.values()))
    else:
        return None
    if vec and isinstance(vec[0], list):
        return list(vec[0])
    return list(vec)


Ranked = list[tuple["StoredObject", dict[str, Any]]]


def _apply_threshold(ranked: Ranked, msg: Any) -> Ranked:
    if msg.HasField("distance"):
        ranked = [r for r in ranked if r[1]["distance"] <= msg.distance]
    if msg.HasField("certainty"):
        ranked = [r for r in ranked if r[1]["certainty"] >= msg.certainty]
    return ranked


def _by_distance(
    objs: list[StoredObject], distance: Callable[[StoredObject], Optional[float]]
) -> Ranked:
    ranked: Ranked = []
    for obj in objs:
        d = distance(obj)
        if d is None:
            continue
        ranked.append((obj, {"distance": d, "certainty": 1 - d / 2}))
    ranked.sort(key=lambda r: r[1]["distance"])
    return ranked


def _near_vector(objs: list[StoredObject], msg: Any) -> Ranked:
    query = _query_vector(msg)
    if query is None:
        return []
    name, vec = query

    def dist(obj: StoredObject) -> Optional[float]:
        ov = _object_vector(obj, name)
        return _cosine_distance(vec, ov) if ov is not None else None

    return _apply_threshold(_by_distance(objs, dist), msg)


def _near_text(objs: list[StoredObject], msg: Any) -> Ranked:
    query = _tokens(" ".join(msg.query))
    return _apply_threshold(_by_distance(objs, lambda o: 1 - _text_similarity(query, o)), msg)


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


def _bm25(objs: list[StoredObject], msg: Any) -> Ranked:
    scores = _bm25_scores(objs, msg.query, msg.properties)
    ranked: Ranked = [
        (o, {"score": scores[o.id], "explain_score": f"BM25F_{msg.query}_frequency"})
        for o in objs
        if o.id in scores
    ]
    ranked.sort(key=lambda r: -float(r[1]["score"]))
    return ranked


def _hybrid(objs: list[StoredObject], msg: Any) -> Ranked:
    if msg.use_alpha_param:
        alpha = msg.alpha_param if msg.HasField("alpha_param") else 0.75
    else:
        alpha = msg.alpha
    keyword = _bm25_scores(objs, msg.query, msg.properties)
    top = max(keyword.values(), default=0.0) or 1.0
    query = _query_vector(msg)
    if query is None and msg.HasField("near_vector"):
        query = _query_vector(msg.near_vector)
    text_query = _tokens(" ".join(msg.near_text.query) if msg.HasField("near_text") else msg.query)
    ranked: Ranked = []
    for obj in objs:
        similarity: float
        if query is not None:
            ov = _object_vector(obj, query[0])
            similarity = 1 - _cosine_distance(query[1], ov) / 2 if ov is not None else 0.0
        else:
            similarity = _text_similarity(text_query, obj)
        kw = keyword.get(obj.id, 0.0) / top
        score = alpha * similarity + (1 - alpha) * kw
        ranked.append(
            (
                obj,
                {
                    "score": score,
                    "explain_score": (
                        f"(hybrid) vector similarity {similarity:.4f}, keyword {kw:.4f}"
                    ),
                },
            )
        )
    ranked.sort(key=lambda r: -float(r[1]["score"]))
    return ranked


# --------------------------------------------------------------------------------------------
# the servicer
# --------------------------------------------------------------------------------------------


class WeaviateServicer(weaviate_pb2_grpc.WeaviateServicer):
    """``weaviate.v1.Weaviate`` over the stand-in's in-memory store."""

    def __init__(self, server: WeaviateStandIn) -> None:
        self.server = server
        self.store = server.store

    # -- plumbing ---------------------------------------------------------------------------

    def _enter(self, method: str, request: Any, context: grpc.ServicerContext) -> GrpcRequest:
        metadata = tuple((str(k), str(v)) for k, v in (context.invocation_metadata() or ()))
        record = GrpcRequest(method=method, request=request, metadata=metadata)
        if request is not None:
            record.messages.append(request)
        self.server.grpc_requests.append(record)
        faults = self.server.faults
        delay = faults.take_delay(grpc_method=method)
        if delay:
            self.server._sleep(delay)
        fault = faults.take_grpc(method)
        if fault is not None:
            if fault.delay:
                self.server._sleep(fault.delay)
            context.abort(fault.code, fault.details)
        return record

    @contextmanager
    def _guard(self, context: grpc.ServicerContext) -> Iterator[None]:
        """Hold the store lock; turn a ``StoreError`` into the matching gRPC status."""
        with self.store.lock:
            try:
                yield
            except StoreError as e:
                context.abort(e.code, e.message)

    # -- Search -----------------------------------------------------------------------------

    def Search(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("Search", request, context)
        with self._guard(context):
            return self.search(request)

    def _candidates(
        self, collection: str, tenant: str, filters: Optional[Any]
    ) -> tuple[StoredCollection, list[StoredObject]]:
        coll = self.store.require(collection)
        objs = list(self.store.shard(coll, tenant).values())
        if filters is not None:
            matcher = _Matcher(self.server, coll)
            objs = [o for o in objs if matcher.matches(filters, o)]
        return coll, objs

    def _rank(
        self, coll: StoredCollection, tenant: str, objs: list[StoredObject], msg: Any, kind: str
    ) -> Ranked:
        if kind in ("near_vector",):
            return _near_vector(objs, msg)
        if kind == "near_object":
            target = self.store.shard(coll, tenant).get(msg.id.lower())
            if target is None:
                raise StoreError(
                    f"nearObject: object '{msg.id}' not found",
                    422,
                    grpc.StatusCode.INVALID_ARGUMENT,
                )
            names = list(msg.target_vectors) or (
                list(msg.targets.target_vectors) if msg.HasField("targets") else []
            )
            tvec = _object_vector(target, names[0] if names else None)
            if tvec is not None:
                name = names[0] if names else None

                def dist(obj: StoredObject) -> Optional[float]:
                    ov = _object_vector(obj, name)
                    return _cosine_distance(tvec, ov) if ov is not None else None

                return _apply_threshold(_by_distance(objs, dist), msg)
            query = _tokens(_object_text(target))
            return _apply_threshold(
                _by_distance(objs, lambda o: 1 - _text_similarity(query, o)), msg
            )
        if kind == "near_text":
            return _near_text(objs, msg)
        if kind in ("bm25_search", "bm25"):
            return _bm25(objs, msg)
        if kind in ("hybrid_search", "hybrid"):
            return _hybrid(objs, msg)
        # near_image / near_audio / ...: no vectorizer here, every object is "equally near"
        return _apply_threshold([(o, {"distance": 0.5, "certainty": 0.75}) for o in objs], msg)

    def search(self, request: Any) -> Any:
        started = time.perf_counter()
        coll, objs = self._candidates(
            request.collection,
            request.tenant,
            request.filters if request.HasField("filters") else None,
        )
        kinds = [
            "hybrid_search",
            "bm25_search",
            "near_vector",
            "near_object",
            "near_text",
            "near_image",
            "near_audio",
            "near_video",
            "near_depth",
            "near_thermal",
            "near_imu",
        ]
        kind = next((k for k in kinds if request.HasField(k)), None)
        if kind is not None:
            ranked = self._rank(coll, request.tenant, objs, getattr(request, kind), kind)
        else:
            if request.sort_by:
                for sort in reversed(request.sort_by):
                    prop = sort.path[0] if sort.path else "_id"
                    objs.sort(
                        key=functools.partial(_sort_key, prop=prop), reverse=not sort.ascending
                    )
            if request.after:
                objs = sorted(objs, key=lambda o: o.id)
                objs = [o for o in objs if o.id > request.after.lower()]
            ranked = [(o, {}) for o in objs]
        limit = request.limit or self.server.query_defaults_limit
        page = ranked[request.offset : request.offset + limit]
        reply = search_get_pb2.SearchReply()
        if request.HasField("group_by"):
            self._group(reply, ranked, request, coll)
        else:
            for obj, extra in page:
                reply.results.append(self._result(obj, extra, request, coll))
        if request.HasField("generative"):
            self._generate_grouped(reply, request.generative, [obj for obj, _ in page])
        reply.took = time.perf_counter() - started
        return reply

    def _group(self, reply: Any, ranked: Ranked, request: Any, coll: StoredCollection) -> None:
        gb = request.group_by
        prop = gb.path[0] if gb.path else ""
        groups: dict[str, Ranked] = {}
        for obj, extra in ranked:
            value = obj.properties.get(prop)
            for key in value if isinstance(value, list) else [value]:
                groups.setdefault(str(key), []).append((obj, extra))
        for name, members in list(groups.items())[: gb.number_of_groups or len(groups)]:
            distances = [float(e.get("distance", 0.0)) for _, e in members]
            group = search_get_pb2.GroupByResult(
                name=name,
                number_of_objects=len(members),
                min_distance=min(distances, default=0.0),
                max_distance=max(distances, default=0.0),
            )
            for obj, extra in members[: gb.objects_per_group or len(members)]:
                group.objects.append(self._result(obj, extra, request, coll))
            reply.group_by_results.append(group)

    def _metadata(self, obj: StoredObject, extra: dict[str, Any], meta: Optional[Any]) -> Any:
        md = search_get_pb2.MetadataResult(id=obj.id, id_as_bytes=uuid_lib.UUID(obj.id).bytes)
        if meta is None:
            return md
        if meta.creation_time_unix:
            md.creation_time_unix = obj.created
            md.creation_time_unix_present = True
        if meta.last_update_time_unix:
            md.last_update_time_unix = obj.updated
            md.last_update_time_unix_present = True
        if meta.distance and "distance" in extra:
            md.distance = float(extra["distance"])
            md.distance_present = True
        if meta.certainty and "certainty" in extra:
            md.certainty = float(extra["certainty"])
            md.certainty_present = True
        if meta.score and "score" in extra:
            md.score = float(extra["score"])
            md.score_present = True
        if meta.explain_score and "explain_score" in extra:
            md.explain_score = str(extra["explain_score"])
            md.explain_score_present = True
        if meta.is_consistent:
            md.is_consistent = True
            md.is_consistent_present = True
        if meta.vector or len(meta.vectors):
            md.vectors.extend(_pack_vectors(obj, None if meta.vector else list(meta.vectors)))
        return md

    def _properties(
        self,
        obj: StoredObject,
        coll: StoredCollection,
        props_req: Optional[Any],
        meta: Optional[Any],
    ) -> Any:
        schema = list(coll.config.get("properties") or [])
        if props_req is None or props_req.return_all_nonref_properties:
            values = dict(obj.properties)
        else:
            wanted = list(props_req.non_ref_properties) + [
                o.prop_name for o in props_req.object_properties
            ]
            values = {k: obj.properties[k] for k in wanted if k in obj.properties}
        result = search_get_pb2.PropertiesResult(
            target_collection=obj.collection,
            non_ref_props=_encode_properties(values, schema),
            metadata=self._metadata(obj, {}, meta),
        )
        if props_req is not None and len(props_req.ref_properties):
            result.ref_props_requested = True
            for ref_req in props_req.ref_properties:
                targets = obj.references.get(ref_req.reference_property, [])
                if not targets:
                    continue
                ref_result = search_get_pb2.RefPropertiesResult(
                    prop_name=ref_req.reference_property
                )
                definition = coll.prop(ref_req.reference_property)
                for tcoll_name, tid in targets:
                    if not tcoll_name and definition is not None:
                        tcoll_name = str(definition["dataType"][0])
                    if ref_req.target_collection and tcoll_name != ref_req.target_collection:
                        continue
                    tobj = self.store.find_anywhere(tcoll_name, tid, obj.tenant)
                    if tobj is None:
                        continue
                    tcoll = self.store.require(tobj.collection)
                    ref_result.properties.append(
                        self._properties(
                            tobj,
                            tcoll,
                            ref_req.properties if ref_req.HasField("properties") else None,
                            ref_req.metadata if ref_req.HasField("metadata") else None,
                        )
                    )
                result.ref_props.append(ref_result)
        return result

    def _result(
        self, obj: StoredObject, extra: dict[str, Any], request: Any, coll: StoredCollection
    ) -> Any:
        meta = request.metadata if request.HasField("metadata") else None
        result = search_get_pb2.SearchResult(
            properties=self._properties(
                obj, coll, request.properties if request.HasField("properties") else None, None
            ),
            metadata=self._metadata(obj, extra, meta),
        )
        if request.HasField("generative"):
            gen = request.generative
            prompt = gen.single.prompt if gen.HasField("single") else gen.single_response_prompt
            if prompt:
                text = self._generated(_fill_prompt(prompt, obj))
                result.generative.values.append(generative_pb2.GenerativeReply(result=text))
                result.metadata.generative = text
                result.metadata.generative_present = True
        return result

    def _generated(self, prompt: str) -> str:
        if self.server.generated_text is not None:
            return self.server.generated_text
        return f"Stand-in generated text for: {prompt}"

    def _generate_grouped(self, reply: Any, gen: Any, objs: list[StoredObject]) -> None:
        task = gen.grouped.task if gen.HasField("grouped") else gen.grouped_response_task
        if not task:
            return
        text = self._generated(f"{task} ({len(objs)} objects)")
        reply.generative_grouped_result = text
        reply.generative_grouped_results.values.append(generative_pb2.GenerativeReply(result=text))

    # -- batch ------------------------------------------------------------------------------

    def _insert(self, objects: list[Any]) -> tuple[dict[int, str], list[str]]:
        """Insert BatchObjects; returns (errors by index, stored uuids)."""
        injected = self.server.faults.take_batch_errors(len(objects))
        errors: dict[int, str] = {}
        stored: list[str] = []
        for index, obj in enumerate(objects):
            if index in injected:
                errors[index] = injected[index]
                continue
            decoded = _decode_batch_object(obj)
            try:
                saved = self.store.put_object(
                    decoded["collection"],
                    uuid=decoded["uuid"],
                    properties=decoded["properties"],
                    references=decoded["references"],
                    vectors=decoded["vectors"],
                    tenant=decoded["tenant"],
                )
                stored.append(saved.id)
            except StoreError as e:
                errors[index] = str(getattr(e, "message", e))
        return errors, stored

    def _add_refs(self, refs: list[Any]) -> dict[int, str]:
        errors: dict[int, str] = {}
        for index, ref in enumerate(refs):
            try:
                beacon = (
                    f"weaviate://localhost/{ref.to_collection}/{ref.to_uuid}"
                    if ref.to_collection
                    else f"weaviate://localhost/{ref.to_uuid}"
                )
                self.store.add_reference(
                    ref.from_collection, ref.from_uuid, ref.name, beacon, ref.tenant
                )
            except StoreError as e:
                errors[index] = str(getattr(e, "message", e))
        return errors

    def BatchObjects(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("BatchObjects", request, context)
        started = time.perf_counter()
        with self._guard(context):
            errors, _ = self._insert(list(request.objects))
        return batch_pb2.BatchObjectsReply(
            took=time.perf_counter() - started,
            errors=[
                batch_pb2.BatchObjectsReply.BatchError(index=i, error=msg)
                for i, msg in sorted(errors.items())
            ],
        )

    def BatchReferences(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("BatchReferences", request, context)
        started = time.perf_counter()
        with self._guard(context):
            errors = self._add_refs(list(request.references))
        return batch_pb2.BatchReferencesReply(
            took=time.perf_counter() - started,
            errors=[
                batch_pb2.BatchReferencesReply.BatchError(index=i, error=msg)
                for i, msg in sorted(errors.items())
            ],
        )

    def BatchStream(
        self, request_iterator: Iterator[Any], context: grpc.ServicerContext
    ) -> Iterator[Any]:
        record = self._enter("BatchStream", None, context)
        reply = batch_pb2.BatchStreamReply
        for message in request_iterator:
            if record.request is None:
                record.request = message
            record.messages.append(message)
            kind = message.WhichOneof("message")
            if kind == "start":
                yield reply(started=reply.Started())
            elif kind == "stop":
                return
            elif kind == "data":
                objects = list(message.data.objects.values)
                refs = list(message.data.references.values)
                beacons = [
                    f"weaviate://localhost/{r.from_collection}/{r.from_uuid}/{r.name}" for r in refs
                ]
                yield reply(acks=reply.Acks(uuids=[o.uuid for o in objects], beacons=beacons))
                with self._guard(context):
                    obj_errors, _ = self._insert(objects)
                    ref_errors = self._add_refs(refs)
                results = reply.Results()
                for index, obj in enumerate(objects):
                    if index in obj_errors:
                        results.errors.append(
                            reply.Results.Error(error=obj_errors[index], uuid=obj.uuid)
                        )
                    else:
                        results.successes.append(reply.Results.Success(uuid=obj.uuid))
                for index, beacon in enumerate(beacons):
                    if index in ref_errors:
                        results.errors.append(
                            reply.Results.Error(error=ref_errors[index], beacon=beacon)
                        )
                    else:
                        results.successes.append(reply.Results.Success(beacon=beacon))
                yield reply(results=results)

    def BatchDelete(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("BatchDelete", request, context)
        started = time.perf_counter()
        with self._guard(context):
            if not request.HasField("filters"):
                raise StoreError("batch delete requires a filter")
            coll, objs = self._candidates(request.collection, request.tenant, request.filters)
            shard = self.store.shard(coll, request.tenant)
            if not request.dry_run:
                for obj in objs:
                    shard.pop(obj.id, None)
        reply = batch_delete_pb2.BatchDeleteReply(
            took=time.perf_counter() - started,
            matches=len(objs),
            successful=0 if request.dry_run else len(objs),
            failed=0,
        )
        if request.verbose:
            for obj in objs:
                reply.objects.append(
                    batch_delete_pb2.BatchDeleteObject(
                        uuid=uuid_lib.UUID(obj.id).bytes, successful=not request.dry_run
                    )
                )
        return reply

    # -- tenants / aggregate ----------------------------------------------------------------

    def TenantsGet(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("TenantsGet", request, context)
        with self._guard(context):
            coll = self.store.mt_collection(request.collection)
            tenants = dict(coll.tenants)
        names = list(request.names.values) if request.HasField("names") else list(tenants)
        return tenants_pb2.TenantsGetReply(
            tenants=[
                tenants_pb2.Tenant(name=n, activity_status=_TENANT_STATUS[tenants[n]])
                for n in names
                if n in tenants
            ]
        )

    def Aggregate(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("Aggregate", request, context)
        started = time.perf_counter()
        with self._guard(context):
            coll, objs = self._candidates(
                request.collection,
                request.tenant,
                request.filters if request.HasField("filters") else None,
            )
            kind = request.WhichOneof("search")
            if kind is not None:
                ranked = self._rank(coll, request.tenant, objs, getattr(request, kind), kind)
                objs = [o for o, _ in ranked]
                if request.HasField("object_limit"):
                    objs = objs[: request.object_limit]
        reply = aggregate_pb2.AggregateReply(took=time.perf_counter() - started)
        if request.HasField("group_by"):
            prop = request.group_by.property
            groups: dict[Any, list[StoredObject]] = {}
            for obj in objs:
                value = obj.properties.get(prop)
                if value is None:
                    continue
                for key in value if isinstance(value, list) else [value]:
                    groups.setdefault(key, []).append(obj)
            items = list(groups.items())
            if request.HasField("limit"):
                items = items[: request.limit]
            for key, members in items:
                group = aggregate_pb2.AggregateReply.Group(objects_count=len(members))
                group.grouped_by.path.append(prop)
                if isinstance(key, bool):
                    group.grouped_by.boolean = key
                elif isinstance(key, int):
                    group.grouped_by.int = key
                elif isinstance(key, float):
                    group.grouped_by.number = key
                else:
                    group.grouped_by.text = str(key)
                self._aggregations(group.aggregations, request.aggregations, members)
                reply.grouped_results.groups.append(group)
        else:
            if request.objects_count:
                reply.single_result.objects_count = len(objs)
            self._aggregations(reply.single_result.aggregations, request.aggregations, objs)
        return reply

    @staticmethod
    def _aggregations(out: Any, wanted: Iterable[Any], objs: list[StoredObject]) -> None:
        agg = aggregate_pb2.AggregateReply.Aggregations.Aggregation
        for spec in wanted:
            values: list[Any] = []
            for obj in objs:
                value = obj.properties.get(spec.property)
                if isinstance(value, list):
                    values.extend(value)
                elif value is not None:
                    values.append(value)
            kind = spec.WhichOneof("aggregation")
            result = agg(property=spec.property)
            if kind in ("int", "number"):
                nums = [float(v) for v in values if isinstance(v, (int, float))]
                target = getattr(result, kind)
                target.count = len(nums)
                if nums:
                    conv: Callable[[float], Any] = int if kind == "int" else float
                    ordered = sorted(nums)
                    mid = len(ordered) // 2
                    median = (
                        ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
                    )
                    target.sum = conv(sum(nums))
                    target.mean = sum(nums) / len(nums)
                    target.median = median
                    target.maximum = conv(max(nums))
                    target.minimum = conv(min(nums))
                    target.mode = conv(max(set(nums), key=nums.count))
            elif kind == "text":
                result.text.count = len(values)
                counts: dict[str, int] = {}
                for v in values:
                    counts[str(v)] = counts.get(str(v), 0) + 1
                top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                limit = spec.text.top_occurences_limit or 5
                for value, occurs in top[:limit]:
                    result.text.top_occurences.items.append(
                        agg.Text.TopOccurrences.TopOccurrence(value=value, occurs=occurs)
                    )
            elif kind == "boolean":
                bools = [bool(v) for v in values]
                result.boolean.count = len(bools)
                result.boolean.total_true = sum(bools)
                result.boolean.total_false = len(bools) - sum(bools)
                if bools:
                    result.boolean.percentage_true = sum(bools) / len(bools)
                    result.boolean.percentage_false = 1 - sum(bools) / len(bools)
            elif kind == "date":
                dates = sorted(str(v) for v in values)
                result.date.count = len(dates)
                if dates:
                    result.date.minimum = dates[0]
                    result.date.maximum = dates[-1]
                    result.date.median = dates[len(dates) // 2]
                    result.date.mode = max(set(dates), key=dates.count)
            elif kind == "reference":
                result.reference.pointing_to.extend(
                    sorted({c for o in objs for c, _ in o.references.get(spec.property, [])})
                )
            out.aggregations.append(result)


def _sort_key(obj: StoredObject, prop: str) -> tuple[int, Any]:
    if prop == "_id":
        return (0, obj.id)
    if prop == "_creationTimeUnix":
        return (0, obj.created)
    if prop == "_lastUpdateTimeUnix":
        return (0, obj.updated)
    value = obj.properties.get(prop)
    if value is None:
        return (1, 0)
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, dict):
        value = str(value)
    return (0, value)


def _fill_prompt(prompt: str, obj: StoredObject) -> str:
    def sub(match: re.Match[str]) -> str:
        value = obj.properties.get(match.group(1))
        return str(value) if value is not None else match.group(0)

    return re.sub(r"\{(\w+)\}", sub, prompt)


# --------------------------------------------------------------------------------------------
# wiring
# --------------------------------------------------------------------------------------------


def _health_handler(server: WeaviateStandIn) -> grpc.GenericRpcHandler:
    servicer = WeaviateServicer(server)

    def check(request: bytes, context: grpc.ServicerContext) -> bytes:
        servicer._enter("Check", request, context)
        return HEALTH_SERVING

    return grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health",
        {"Check": grpc.unary_unary_rpc_method_handler(check)},
    )


def add_to_server(server: WeaviateStandIn, grpc_server: grpc.Server) -> None:
    weaviate_pb2_grpc.add_WeaviateServicer_to_server(  # type: ignore[no-untyped-call]
        WeaviateServicer(server), grpc_server
    )
    grpc_server.add_generic_rpc_handlers((_health_handler(server),))
