"""Loopback Weaviate stand-in: enough of the REST and gRPC APIs for the real async client.

Tests drive the real ``weaviate.WeaviateAsyncClient`` against this server over real sockets
(REST through httpx, gRPC through grpcio) without Docker.  Collections, tenants, objects and
backups are kept in memory, so ``insert`` → ``fetch`` works end to end, and ``faults`` injects
gRPC status codes, HTTP errors, per-object batch errors and delays.  Everything binds to
127.0.0.1 only.

REST is served by aiohttp on the caller's event loop; gRPC (``weaviate.v1.Weaviate`` plus
``grpc.health.v1.Health/Check``, see ``weaviate_grpc``) by grpcio's thread-pool server, so the
stand-in also works on its own loop in a background thread (``InThread``).  The reported
version (default 1.37.1) must stay >= 1.36.0: the async client's only batching mode,
``batch.stream()``, uses the ``BatchStream`` RPC and refuses older servers.  gRPC method names
for faults and recordings: Search, BatchObjects, BatchReferences, BatchDelete, TenantsGet,
Aggregate, BatchStream and Check (health).

    async with WeaviateStandIn() as server:
        client = await connect_async_client(server)
        async with client:
            ...
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import threading
import time
import uuid as uuid_lib
from concurrent import futures
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional, Union

import grpc
from aiohttp import web

if TYPE_CHECKING:
    import weaviate

__all__ = [
    "GrpcRequest",
    "RestRequest",
    "StoreError",
    "StoredObject",
    "WeaviateFaults",
    "WeaviateStandIn",
    "connect_async_client",
]

DEFAULT_VERSION = "1.37.1"
GRPC_MAX_MESSAGE_SIZE = 104_858_000
BEACON_PREFIX = "weaviate://localhost/"
GRPC_METHODS = frozenset(
    {
        "Search",
        "BatchObjects",
        "BatchReferences",
        "BatchDelete",
        "TenantsGet",
        "Aggregate",
        "BatchStream",
        "Check",
    }
)

JSON = dict[str, Any]

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


# --------------------------------------------------------------------------------------------
# recorded requests and faults
# --------------------------------------------------------------------------------------------


@dataclass
class RestRequest:
    """One HTTP request as the stand-in received it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class GrpcRequest:
    """One gRPC call: the RPC name, its (first) request message and the invocation metadata.

    For the ``BatchStream`` bidi stream, ``request`` is the first message and ``messages`` holds
    every message the client sent on the stream (it grows while the stream is open).
    """

    method: str
    request: Any
    metadata: tuple[tuple[str, str], ...]
    messages: list[Any] = field(default_factory=list)


@dataclass
class _GrpcFault:
    method: str
    code: grpc.StatusCode
    times: int
    details: str
    delay: float


@dataclass
class _HttpFault:
    pattern: re.Pattern[str]
    status: int
    method: Optional[str]
    times: int
    body: Any
    delay: float


@dataclass
class _Delay:
    target: str
    seconds: float
    times: int


@dataclass
class _BatchErrors:
    indices: Union[set[int], int]
    message: str


class WeaviateFaults:
    """Faults to inject; each rule fires ``times`` times (a negative ``times`` never runs out).

    Rules may be added from any thread (the stand-in can run in a background thread).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._grpc: list[_GrpcFault] = []
        self._http: list[_HttpFault] = []
        self._delays: list[_Delay] = []
        self._batch: list[_BatchErrors] = []

    def grpc(
        self,
        method: str,
        code: grpc.StatusCode,
        *,
        times: int = 1,
        details: str = "injected",
        delay: float = 0.0,
    ) -> None:
        """Fail the next ``times`` calls of gRPC ``method`` ("Search", "BatchObjects", ...)."""
        with self._lock:
            self._grpc.append(_GrpcFault(method, code, times, details, delay))

    def http(
        self,
        path: str,
        status: int,
        *,
        method: Optional[str] = None,
        times: int = 1,
        body: Any = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next ``times`` requests whose path matches regex ``path`` with ``status``."""
        with self._lock:
            self._http.append(
                _HttpFault(
                    re.compile(path), status, method.upper() if method else None, times, body, delay
                )
            )

    def batch_errors(self, indices: Union[set[int], int], message: str = "injected") -> None:
        """The next batch call (BatchObjects, a BatchStream data message, POST /v1/batch/objects)
        reports ``message`` for the objects at ``indices`` (or for the first N when an int)."""
        with self._lock:
            self._batch.append(_BatchErrors(indices, message))

    def delay(self, method_or_path: str, seconds: float, times: int = 1) -> None:
        """Delay the next ``times`` gRPC calls of that method, or HTTP requests matching the
        regex (anything that is not a gRPC method name is treated as a path regex)."""
        with self._lock:
            self._delays.append(_Delay(method_or_path, seconds, times))

    def clear(self) -> None:
        with self._lock:
            self._grpc.clear()
            self._http.clear()
            self._delays.clear()
            self._batch.clear()

    # -- used by the servers ----------------------------------------------------------------

    @staticmethod
    def _use(rules: list[Any], rule: Any) -> None:
        if rule.times > 0:
            rule.times -= 1
            if rule.times == 0:
                rules.remove(rule)

    def take_grpc(self, method: str) -> Optional[_GrpcFault]:
        with self._lock:
            for rule in self._grpc:
                if rule.method == method:
                    self._use(self._grpc, rule)
                    return rule
        return None

    def take_http(self, method: str, path: str) -> Optional[_HttpFault]:
        with self._lock:
            for rule in self._http:
                if (rule.method is None or rule.method == method) and rule.pattern.search(path):
                    self._use(self._http, rule)
                    return rule
        return None

    def take_delay(self, *, grpc_method: Optional[str] = None, path: Optional[str] = None) -> float:
        with self._lock:
            for rule in self._delays:
                if grpc_method is not None and rule.target == grpc_method:
                    self._use(self._delays, rule)
                    return rule.seconds
                if (
                    path is not None
                    and rule.target not in GRPC_METHODS
                    and re.search(rule.target, path)
                ):
                    self._use(self._delays, rule)
                    return rule.seconds
        return 0.0

    def take_batch_errors(self, count: int) -> dict[int, str]:
        with self._lock:
            if not self._batch:
                return {}
            rule = self._batch.pop(0)
        if isinstance(rule.indices, int):
            return {i: rule.message for i in range(min(rule.indices, count))}
        return {i: rule.message for i in rule.indices if 0 <= i < count}


# --------------------------------------------------------------------------------------------
# in-memory store
# --------------------------------------------------------------------------------------------


class StoreError(Exception):
    """A request the real Weaviate would reject; carries both the HTTP and gRPC status."""

    def __init__(
        self,
        message: str,
        status: int = 422,
        code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


def _not_found(message: str) -> StoreError:
    return StoreError(message, 404, grpc.StatusCode.NOT_FOUND)


@dataclass
class StoredObject:
    id: str
    collection: str
    tenant: str
    properties: JSON
    references: dict[str, list[tuple[str, str]]]  # prop -> [(target collection or "", uuid)]
    vectors: dict[str, Any]  # vector name ("default" when unnamed) -> list[float] / list[list]
    created: int  # unix ms
    updated: int


@dataclass
class StoredCollection:
    config: JSON
    tenants: dict[str, str] = field(default_factory=dict)  # name -> ACTIVE/INACTIVE/OFFLOADED
    shards: dict[str, dict[str, StoredObject]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.config["class"])

    @property
    def multi_tenant(self) -> bool:
        return bool(self.config.get("multiTenancyConfig", {}).get("enabled", False))

    def prop(self, name: str) -> Optional[JSON]:
        for prop in self.config.get("properties") or []:
            if prop["name"] == name:
                return dict(prop)
        return None

    def all_objects(self) -> list[StoredObject]:
        return [obj for shard in self.shards.values() for obj in shard.values()]


def capitalize(name: str) -> str:
    return name[:1].upper() + name[1:]


def _now_ms() -> int:
    return int(time.time() * 1000)


_HNSW_DEFAULTS: JSON = {
    "skip": False,
    "cleanupIntervalSeconds": 300,
    "maxConnections": 32,
    "efConstruction": 128,
    "ef": -1,
    "dynamicEfMin": 100,
    "dynamicEfMax": 500,
    "dynamicEfFactor": 8,
    "vectorCacheMaxObjects": 1000000000000,
    "flatSearchCutoff": 40000,
    "distance": "cosine",
    "filterStrategy": "sweeping",
    "pq": {"enabled": False},
    "bq": {"enabled": False},
    "sq": {"enabled": False},
    "rq": {"enabled": False},
    "multivector": {"enabled": False, "aggregation": "maxSim"},
}
_FLAT_DEFAULTS: JSON = {
    "distance": "cosine",
    "vectorCacheMaxObjects": 1000000000000,
    "pq": {"enabled": False},
    "bq": {"enabled": False},
    "sq": {"enabled": False},
    "rq": {"enabled": False},
}


def _index_defaults(index_type: str, given: Any) -> JSON:
    base: JSON = copy.deepcopy(_FLAT_DEFAULTS if index_type == "flat" else _HNSW_DEFAULTS)
    if index_type == "dynamic":
        base = {
            "distance": "cosine",
            "threshold": 10000,
            "hnsw": copy.deepcopy(_HNSW_DEFAULTS),
            "flat": copy.deepcopy(_FLAT_DEFAULTS),
        }
    if isinstance(given, dict):
        for key, value in given.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                base[key].update(value)
            else:
                base[key] = value
    return base


def _normalize_property(prop: JSON) -> JSON:
    # the client sends these per-property vectorizer flags; the server folds them into
    # moduleConfig and never returns them
    out = {
        k: v for k, v in prop.items() if k not in ("skip_vectorization", "vectorize_property_name")
    }
    data_type = out.get("dataType") or ["text"]
    out["dataType"] = list(data_type)
    primitive = str(data_type[0])[:1].islower()
    is_text = data_type[0] in ("text", "text[]", "string", "string[]")
    if primitive:
        out.setdefault("indexFilterable", True)
        out.setdefault("indexSearchable", is_text)
        out.setdefault("indexRangeFilters", False)
        if is_text:
            out.setdefault("tokenization", "word")
    if out.get("nestedProperties"):
        out["nestedProperties"] = [_normalize_property(p) for p in out["nestedProperties"]]
    return out


def normalize_class(config: JSON) -> JSON:
    """Fill in the defaults the real server returns, so the client can parse the config back."""
    cfg = copy.deepcopy(config)
    cfg["class"] = capitalize(str(cfg.get("class", "")))
    cfg["properties"] = [_normalize_property(p) for p in cfg.get("properties") or []]
    inverted = cfg.setdefault("invertedIndexConfig", {}) or {}
    cfg["invertedIndexConfig"] = inverted
    inverted.setdefault("bm25", {"b": 0.75, "k1": 1.2})
    inverted.setdefault("cleanupIntervalSeconds", 60)
    stopwords = inverted.setdefault("stopwords", {}) or {}
    inverted["stopwords"] = stopwords
    stopwords.setdefault("preset", "en")
    stopwords.setdefault("additions", None)
    stopwords.setdefault("removals", None)
    inverted.setdefault("usingBlockMaxWAND", True)
    mt = cfg.setdefault("multiTenancyConfig", {}) or {}
    cfg["multiTenancyConfig"] = mt
    mt.setdefault("enabled", False)
    mt.setdefault("autoTenantCreation", False)
    mt.setdefault("autoTenantActivation", False)
    replication = cfg.setdefault("replicationConfig", {}) or {}
    cfg["replicationConfig"] = replication
    replication.setdefault("factor", 1)
    replication.setdefault("asyncEnabled", False)
    replication.setdefault("deletionStrategy", "NoAutomatedResolution")
    sharding = cfg.setdefault("shardingConfig", {}) or {}
    cfg["shardingConfig"] = sharding
    for key, value in {
        "virtualPerPhysical": 128,
        "desiredCount": 1,
        "actualCount": 1,
        "desiredVirtualCount": 128,
        "actualVirtualCount": 128,
        "key": "_id",
        "strategy": "hash",
        "function": "murmur3",
    }.items():
        sharding.setdefault(key, value)
    cfg.setdefault("moduleConfig", {})
    if cfg.get("vectorConfig"):
        for named in cfg["vectorConfig"].values():
            named.setdefault("vectorizer", {"none": {}})
            index_type = named.setdefault("vectorIndexType", "hnsw")
            if index_type != "none":
                named["vectorIndexConfig"] = _index_defaults(
                    index_type, named.get("vectorIndexConfig")
                )
    else:
        cfg.pop("vectorConfig", None)
        cfg.setdefault("vectorizer", "none")
        index_type = cfg.setdefault("vectorIndexType", "hnsw")
        cfg["vectorIndexConfig"] = _index_defaults(index_type, cfg.get("vectorIndexConfig"))
    return cfg


def _infer_property(name: str, value: Any) -> Optional[JSON]:
    """Auto-schema: the property definition the real server would derive from a value."""
    data_type: Optional[str] = None
    nested: Optional[list[JSON]] = None
    if isinstance(value, bool):
        data_type = "boolean"
    elif isinstance(value, (int, float)):
        data_type = "number"
    elif isinstance(value, str):
        data_type = "date" if _DATE_RE.match(value) else "uuid" if _UUID_RE.match(value) else "text"
    elif isinstance(value, dict):
        if set(value) == {"latitude", "longitude"}:
            data_type = "geoCoordinates"
        elif "input" in value and set(value) <= {
            "input",
            "defaultCountry",
            "countryCode",
            "internationalFormatted",
            "national",
            "nationalFormatted",
            "valid",
        }:
            data_type = "phoneNumber"
        else:
            data_type = "object"
            nested = [p for k, v in value.items() if (p := _infer_property(k, v)) is not None]
    elif isinstance(value, list) and value:
        first = _infer_property(name, value[0])
        if first is None or first["dataType"][0] in ("geoCoordinates", "phoneNumber"):
            return None
        data_type = first["dataType"][0] + "[]"
        nested = first.get("nestedProperties")
    if data_type is None:
        return None
    prop: JSON = {"name": name, "dataType": [data_type]}
    if nested is not None:
        prop["nestedProperties"] = nested
    return _normalize_property(prop)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "json.Number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return type(value).__name__


def _coerce(value: Any, prop: JSON, collection: str) -> Any:
    """Validate ``value`` against the property's data type like the server does."""
    data_type = str(prop["dataType"][0])
    name = prop["name"]

    def bad(kind: str) -> StoreError:
        return StoreError(
            f"invalid {kind} property '{name}' on class '{collection}': "
            f"not a {kind}, but {_type_name(value)}"
        )

    if data_type.endswith("[]"):
        if not isinstance(value, list):
            raise bad(data_type)
        item_prop = dict(prop, dataType=[data_type[:-2]])
        return [_coerce(item, item_prop, collection) for item in value]
    if data_type in ("text", "string", "blob"):
        if not isinstance(value, str):
            raise bad("text")
        return value
    if data_type == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("integer")
        if isinstance(value, float) and not value.is_integer():
            raise StoreError(
                f"invalid integer property '{name}' on class '{collection}': "
                f"requires integer, the given value is '{value}'"
            )
        return int(value)
    if data_type == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("number")
        return float(value)
    if data_type == "boolean":
        if not isinstance(value, bool):
            raise bad("boolean")
        return value
    if data_type == "date":
        if not isinstance(value, str) or not _DATE_RE.match(value):
            raise StoreError(
                f"invalid date property '{name}' on class '{collection}': "
                f"requires a string with a RFC3339 formatted date, but the given value is "
                f"'{value}'"
            )
        return value
    if data_type == "uuid":
        if not isinstance(value, str) or not _UUID_RE.match(value):
            raise StoreError(
                f"invalid uuid property '{name}' on class '{collection}': "
                f"requires a string with a UUID, but the given value is '{value}'"
            )
        return value.lower()
    if data_type == "geoCoordinates":
        if not isinstance(value, dict):
            raise bad("geoCoordinates")
        return {"latitude": float(value["latitude"]), "longitude": float(value["longitude"])}
    if data_type in ("object", "phoneNumber"):
        if not isinstance(value, dict):
            raise bad(data_type)
        if data_type == "phoneNumber":
            return dict(value)
        nested = {p["name"]: p for p in prop.get("nestedProperties") or []}
        out: JSON = {}
        for key, item in value.items():
            if item is None:
                continue
            nested_prop = nested.get(key) or _infer_property(key, item)
            if nested_prop is None:
                continue
            if key not in nested:
                prop.setdefault("nestedProperties", []).append(nested_prop)
                nested[key] = nested_prop
            out[key] = _coerce(item, nested_prop, collection)
        return out
    return value


def parse_beacon(beacon: str) -> tuple[str, str]:
    """``weaviate://localhost/Class/uuid`` (or legacy ``.../uuid``) → (class or "", uuid)."""
    rest = beacon[len(BEACON_PREFIX) :] if beacon.startswith(BEACON_PREFIX) else beacon
    parts = [p for p in rest.split("/") if p]
    if not parts:
        raise StoreError(f"invalid beacon '{beacon}'")
    if len(parts) == 1:
        return "", parts[0].lower()
    return capitalize(parts[0]), parts[1].lower()


def make_beacon(collection: str, uuid: str) -> str:
    return f"{BEACON_PREFIX}{collection}/{uuid}" if collection else f"{BEACON_PREFIX}{uuid}"


def _valid_uuid(value: str) -> str:
    try:
        return str(uuid_lib.UUID(str(value)))
    except ValueError as e:
        raise StoreError(f"id '{value}' is not a valid uuid") from e


class WeaviateStore:
    """Collections, tenants and objects, shared by the REST and gRPC sides."""

    def __init__(self) -> None:
        #: held by every REST and gRPC handler (gRPC handlers run on grpcio's thread pool)
        self.lock = threading.RLock()
        self.collections: dict[str, StoredCollection] = {}
        self.backups: dict[tuple[str, str], JSON] = {}
        self.restores: dict[tuple[str, str], JSON] = {}

    def clear(self) -> None:
        self.collections.clear()
        self.backups.clear()
        self.restores.clear()

    # -- collections ------------------------------------------------------------------------

    def get(self, name: str) -> Optional[StoredCollection]:
        return self.collections.get(capitalize(name))

    def require(self, name: str) -> StoredCollection:
        coll = self.get(name)
        if coll is None:
            raise _not_found(f"could not find class {capitalize(name)} in schema")
        return coll

    def create_collection(self, config: JSON) -> StoredCollection:
        if not config.get("class"):
            raise StoreError("class name is required")
        cfg = normalize_class(config)
        if cfg["class"] in self.collections:
            raise StoreError(f"class name {cfg['class']} already exists")
        coll = StoredCollection(cfg)
        if not coll.multi_tenant:
            coll.shards[""] = {}
        self.collections[coll.name] = coll
        return coll

    def ensure_collection(self, name: str) -> StoredCollection:
        """Auto-schema: inserting into a missing class creates it."""
        coll = self.get(name)
        if coll is None:
            coll = self.create_collection({"class": name})
        return coll

    def delete_collection(self, name: str) -> None:
        self.collections.pop(capitalize(name), None)

    def update_collection(self, name: str, config: JSON) -> StoredCollection:
        coll = self.require(name)
        merged = dict(coll.config)
        merged.update(config)
        merged["class"] = coll.name
        coll.config = normalize_class(merged)
        return coll

    def add_property(self, name: str, prop: JSON) -> JSON:
        coll = self.require(name)
        if not prop.get("name"):
            raise StoreError("property name is required")
        if coll.prop(prop["name"]) is not None:
            raise StoreError(f"property '{prop['name']}' already exists on class {coll.name}")
        normalized = _normalize_property(prop)
        coll.config["properties"].append(normalized)
        return normalized

    # -- tenants ----------------------------------------------------------------------------

    @staticmethod
    def tenant_status(value: Any) -> str:
        status = str(value or "ACTIVE").upper()
        return {"HOT": "ACTIVE", "COLD": "INACTIVE", "FROZEN": "OFFLOADED"}.get(status, status)

    def mt_collection(self, name: str) -> StoredCollection:
        coll = self.require(name)
        if not coll.multi_tenant:
            raise StoreError(f"multi-tenancy is not enabled for class {coll.name}")
        return coll

    def add_tenants(self, name: str, tenants: list[JSON]) -> list[JSON]:
        coll = self.mt_collection(name)
        out = []
        for tenant in tenants:
            tenant_name = str(tenant.get("name", ""))
            if not tenant_name:
                raise StoreError("tenant name is required")
            status = self.tenant_status(tenant.get("activityStatus"))
            coll.tenants.setdefault(tenant_name, status)
            coll.shards.setdefault(tenant_name, {})
            out.append({"name": tenant_name, "activityStatus": coll.tenants[tenant_name]})
        return out

    def update_tenants(self, name: str, tenants: list[JSON]) -> list[JSON]:
        coll = self.mt_collection(name)
        out = []
        for tenant in tenants:
            tenant_name = str(tenant.get("name", ""))
            if tenant_name not in coll.tenants:
                raise _not_found(f"tenant '{tenant_name}' not found")
            coll.tenants[tenant_name] = self.tenant_status(tenant.get("activityStatus"))
            out.append({"name": tenant_name, "activityStatus": coll.tenants[tenant_name]})
        return out

    def remove_tenants(self, name: str, names: list[str]) -> None:
        coll = self.mt_collection(name)
        for tenant_name in names:
            coll.tenants.pop(tenant_name, None)
            coll.shards.pop(tenant_name, None)

    def shard(
        self, coll: StoredCollection, tenant: str, *, write: bool = False
    ) -> dict[str, StoredObject]:
        if not coll.multi_tenant:
            if tenant:
                raise StoreError(
                    f"class {coll.name} has multi-tenancy disabled, but request was with tenant"
                )
            return coll.shards.setdefault("", {})
        if not tenant:
            raise StoreError(
                f"class {coll.name} has multi-tenancy enabled, but request was without tenant"
            )
        if tenant not in coll.tenants:
            if write and coll.config["multiTenancyConfig"].get("autoTenantCreation"):
                self.add_tenants(coll.name, [{"name": tenant}])
            else:
                raise _not_found(f'tenant not found: "{tenant}"')
        if coll.tenants[tenant] != "ACTIVE":
            if coll.config["multiTenancyConfig"].get("autoTenantActivation"):
                coll.tenants[tenant] = "ACTIVE"
            else:
                raise StoreError(
                    f"tenant not active: '{tenant}' is {coll.tenants[tenant]}",
                    422,
                    grpc.StatusCode.FAILED_PRECONDITION,
                )
        return coll.shards.setdefault(tenant, {})

    # -- objects ----------------------------------------------------------------------------

    def coerce_properties(
        self, coll: StoredCollection, properties: JSON
    ) -> tuple[JSON, dict[str, list[tuple[str, str]]]]:
        props: JSON = {}
        refs: dict[str, list[tuple[str, str]]] = {}
        for key, value in (properties or {}).items():
            if value is None:
                continue
            prop = coll.prop(key)
            is_beacon_list = (
                isinstance(value, list)
                and bool(value)
                and all(isinstance(v, dict) and "beacon" in v for v in value)
            )
            if prop is not None and not str(prop["dataType"][0])[:1].islower():
                if not isinstance(value, list):
                    raise StoreError(f"invalid reference property '{key}': not a list of beacons")
                refs[key] = [parse_beacon(str(v.get("beacon", ""))) for v in value]
                continue
            if prop is None and is_beacon_list:
                targets = [parse_beacon(str(v["beacon"])) for v in value]
                target = next((c for c, _ in targets if c), coll.name)
                coll.config["properties"].append({"name": key, "dataType": [target]})
                refs[key] = targets
                continue
            if prop is None:
                inferred = _infer_property(key, value)
                if inferred is None:
                    if isinstance(value, list) and not value:
                        props[key] = []
                    continue
                coll.config["properties"].append(inferred)
                prop = inferred
            else:
                # work on the stored dict so that nested auto-schema additions stick
                prop = next(p for p in coll.config["properties"] if p["name"] == key)
            if isinstance(value, list) and not value:
                props[key] = []
                continue
            props[key] = _coerce(value, prop, coll.name)
        return props, refs

    def put_object(
        self,
        collection: str,
        *,
        uuid: Optional[str],
        properties: JSON,
        references: Optional[dict[str, list[tuple[str, str]]]] = None,
        vectors: Optional[dict[str, Any]] = None,
        tenant: str = "",
        mode: str = "upsert",
    ) -> StoredObject:
        """Insert or replace an object; ``mode`` is "insert" (must be new), "replace" (must
        exist) or "upsert"."""
        coll = self.ensure_collection(collection)
        shard = self.shard(coll, tenant, write=True)
        object_id = _valid_uuid(uuid) if uuid else str(uuid_lib.uuid4())
        existing = shard.get(object_id)
        if mode == "insert" and existing is not None:
            raise StoreError(f"id '{object_id}' already exists")
        if mode == "replace" and existing is None:
            raise _not_found(f"object {coll.name}/{object_id} not found")
        props, refs = self.coerce_properties(coll, properties)
        for key, targets in (references or {}).items():
            refs[key] = list(targets)
            if coll.prop(key) is None:
                target = next((c for c, _ in targets if c), coll.name)
                coll.config["properties"].append({"name": key, "dataType": [target]})
        now = _now_ms()
        obj = StoredObject(
            id=object_id,
            collection=coll.name,
            tenant=tenant,
            properties=props,
            references=refs,
            vectors=dict(vectors or {}),
            created=existing.created if existing is not None else now,
            updated=now,
        )
        shard[object_id] = obj
        return obj

    def find(self, collection: str, uuid: str, tenant: str = "") -> Optional[StoredObject]:
        coll = self.get(collection)
        if coll is None:
            return None
        return self.shard(coll, tenant).get(str(uuid).lower())

    def find_anywhere(self, collection: str, uuid: str, tenant: str) -> Optional[StoredObject]:
        """Resolve a reference target (collection may be "" for legacy beacons)."""
        candidates = [self.get(collection)] if collection else list(self.collections.values())
        for coll in candidates:
            if coll is None:
                continue
            shard = coll.shards.get(tenant if coll.multi_tenant else "", {})
            obj = shard.get(uuid.lower())
            if obj is not None:
                return obj
        return None

    def add_reference(
        self, collection: str, uuid: str, prop: str, beacon: str, tenant: str = ""
    ) -> StoredObject:
        coll = self.require(collection)
        obj = self.shard(coll, tenant).get(uuid.lower())
        if obj is None:
            raise _not_found(f"source object {coll.name}/{uuid} not found")
        definition = coll.prop(prop)
        if definition is None or str(definition["dataType"][0])[:1].islower():
            raise StoreError(f"property '{prop}' is not a reference property of class {coll.name}")
        target_coll, target_id = parse_beacon(beacon)
        if not target_coll and len(definition["dataType"]) == 1:
            target_coll = str(definition["dataType"][0])
        obj.references.setdefault(prop, []).append((target_coll, target_id))
        obj.updated = _now_ms()
        return obj

    def snapshot(self, names: list[str]) -> dict[str, StoredCollection]:
        return {n: copy.deepcopy(self.collections[n]) for n in names if n in self.collections}


def object_json(obj: StoredObject, *, include_vector: bool = True) -> JSON:
    props: JSON = copy.deepcopy(obj.properties)
    for key, targets in obj.references.items():
        props[key] = [
            {
                "beacon": make_beacon(c, u),
                "href": f"/v1/objects/{c}/{u}" if c else f"/v1/objects/{u}",
            }
            for c, u in targets
        ]
    out: JSON = {
        "class": obj.collection,
        "id": obj.id,
        "properties": props,
        "creationTimeUnix": obj.created,
        "lastUpdateTimeUnix": obj.updated,
    }
    if obj.tenant:
        out["tenant"] = obj.tenant
    if include_vector and obj.vectors:
        if set(obj.vectors) == {"default"}:
            out["vector"] = obj.vectors["default"]
        out["vectors"] = dict(obj.vectors)
    return out


def _vectors_from_json(body: JSON) -> dict[str, Any]:
    vectors: dict[str, Any] = {}
    if body.get("vector"):
        vectors["default"] = [float(v) for v in body["vector"]]
    for name, vec in (body.get("vectors") or {}).items():
        if vec:
            vectors[name] = vec
    return vectors


# --------------------------------------------------------------------------------------------
# REST
# --------------------------------------------------------------------------------------------

Handler = Callable[[web.Request, "re.Match[str]", bytes], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": [{"message": message}]}, status=status)


def _json_body(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError as e:
        raise StoreError(f"invalid JSON body: {e}", 400) from e


class _RestApi:
    def __init__(self, server: WeaviateStandIn) -> None:
        self.server = server
        self.store = server.store
        r = self._route
        self.routes: list[tuple[frozenset[str], re.Pattern[str], Handler]] = []
        r("GET", r"/v1/meta", self.meta)
        r("GET", r"/v1/\.well-known/(ready|live)", self.ok)
        r("GET", r"/v1/\.well-known/openid-configuration", self.no_oidc)
        r("GET", r"/v1/schema", self.schema_list)
        r("POST", r"/v1/schema", self.schema_create)
        r("GET HEAD DELETE PUT", r"/v1/schema/(?P<cls>[^/]+)", self.schema_one)
        r("POST", r"/v1/schema/(?P<cls>[^/]+)/properties", self.schema_add_property)
        r("GET", r"/v1/schema/(?P<cls>[^/]+)/shards", self.shards)
        r("PUT", r"/v1/schema/(?P<cls>[^/]+)/shards/(?P<shard>[^/]+)", self.shard_update)
        r("GET POST PUT DELETE", r"/v1/schema/(?P<cls>[^/]+)/tenants", self.tenants)
        r("GET HEAD", r"/v1/schema/(?P<cls>[^/]+)/tenants/(?P<tenant>[^/]+)", self.tenant_one)
        r("GET POST", r"/v1/objects", self.objects)
        r(
            "GET HEAD PUT PATCH DELETE",
            r"/v1/objects/(?P<cls>[^/]+)/(?P<id>[^/]+)",
            self.object_one,
        )
        r(
            "POST PUT DELETE",
            r"/v1/objects/(?P<cls>[^/]+)/(?P<id>[^/]+)/references/(?P<prop>[^/]+)",
            self.references,
        )
        r("POST", r"/v1/batch/objects", self.batch_objects)
        r("POST", r"/v1/batch/references", self.batch_references)
        r("GET POST", r"/v1/backups/(?P<backend>[^/]+)", self.backups)
        r("GET DELETE", r"/v1/backups/(?P<backend>[^/]+)/(?P<id>[^/]+)", self.backup_status)
        r("GET POST", r"/v1/backups/(?P<backend>[^/]+)/(?P<id>[^/]+)/restore", self.restore)
        r("POST", r"/v1/graphql", self.graphql)
        r("GET", r"/v1/nodes(?:/(?P<cls>[^/]+))?", self.nodes)
        r("GET", r"/v1/cluster/statistics", self.cluster_statistics)

    def _route(self, methods: str, pattern: str, handler: Handler) -> None:
        self.routes.append((frozenset(methods.split()), re.compile(pattern + "$"), handler))

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        path = request.path
        self.server.rest_requests.append(
            RestRequest(
                method=request.method,
                path=path,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
                query=dict(request.query),
            )
        )
        faults = self.server.faults
        delay = faults.take_delay(path=path)
        if delay:
            await self.server._asleep(delay)
        fault = faults.take_http(request.method, path)
        if fault is not None:
            if fault.delay:
                await self.server._asleep(fault.delay)
            payload = (
                fault.body
                if fault.body is not None
                else {"error": [{"message": f"injected HTTP {fault.status}"}]}
            )
            if isinstance(payload, (bytes, str)):
                return web.Response(status=fault.status, body=payload)
            return web.json_response(payload, status=fault.status)
        path_matched = False
        for methods, pattern, handler in self.routes:
            match = pattern.match(path)
            if match is None:
                continue
            path_matched = True
            if request.method not in methods:
                continue
            try:
                with self.store.lock:  # handlers never await while holding it
                    return await handler(request, match, body)
            except StoreError as e:
                return _error(e.status, e.message)
        if path_matched:
            return _error(405, f"method {request.method} not allowed on {path}")
        return _error(404, f"no route for {request.method} {path}")

    # -- misc -------------------------------------------------------------------------------

    async def meta(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        return web.json_response(
            {
                "hostname": "http://[::]:8080",
                "modules": {},
                "version": self.server.version,
                "grpcMaxMessageSize": GRPC_MAX_MESSAGE_SIZE,
            }
        )

    async def ok(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        return web.Response(status=200)

    async def no_oidc(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        return web.Response(status=404)

    async def nodes(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        shards = []
        total = 0
        for coll in self.store.collections.values():
            if m.group("cls") and coll.name != capitalize(m.group("cls")):
                continue
            for shard_name, objects in coll.shards.items():
                total += len(objects)
                shards.append(
                    {
                        "class": coll.name,
                        "name": shard_name or "shard0",
                        "objectCount": len(objects),
                        "vectorIndexingStatus": "READY",
                        "vectorQueueLength": 0,
                        "compressed": False,
                        "loaded": True,
                    }
                )
        node: JSON = {
            "name": "standin-node-1",
            "status": "HEALTHY",
            "version": self.server.version,
            "gitHash": "standin",
        }
        if request.query.get("output") == "verbose":
            node["shards"] = shards
            node["stats"] = {"objectCount": total, "shardCount": len(shards)}
        return web.json_response({"nodes": [node]})

    async def cluster_statistics(
        self, request: web.Request, m: re.Match[str], body: bytes
    ) -> web.Response:
        return web.json_response(
            {
                "statistics": [
                    {
                        "name": "standin-node-1",
                        "status": "HEALTHY",
                        "ready": True,
                        "candidates": {},
                        "dbLoaded": True,
                        "isVoter": True,
                        "leaderAddress": "127.0.0.1:8300",
                        "leaderId": "standin-node-1",
                        "open": True,
                        "raft": {},
                    }
                ],
                "synchronized": True,
            }
        )

    # -- schema -----------------------------------------------------------------------------

    async def schema_list(
        self, request: web.Request, m: re.Match[str], body: bytes
    ) -> web.Response:
        return web.json_response(
            {"classes": [copy.deepcopy(c.config) for c in self.store.collections.values()]}
        )

    async def schema_create(
        self, request: web.Request, m: re.Match[str], body: bytes
    ) -> web.Response:
        config = _json_body(body)
        if not isinstance(config, dict):
            raise StoreError("class definition must be an object")
        coll = self.store.create_collection(config)
        return web.json_response(coll.config)

    async def schema_one(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        name = m.group("cls")
        if request.method == "DELETE":
            self.store.delete_collection(name)
            return web.Response(status=200)
        if request.method == "PUT":
            config = _json_body(body)
            if not isinstance(config, dict):
                raise StoreError("class definition must be an object")
            return web.json_response(self.store.update_collection(name, config).config)
        coll = self.store.get(name)
        if coll is None:
            return web.Response(status=404)
        if request.method == "HEAD":
            return web.Response(status=200)
        return web.json_response(coll.config)

    async def schema_add_property(
        self, request: web.Request, m: re.Match[str], body: bytes
    ) -> web.Response:
        prop = _json_body(body)
        if not isinstance(prop, dict):
            raise StoreError("property must be an object")
        return web.json_response(self.store.add_property(m.group("cls"), prop))

    async def shards(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        coll = self.store.require(m.group("cls"))
        tenant = request.query.get("tenant")
        names = [n or "shard0" for n in coll.shards if tenant is None or n == tenant]
        return web.json_response(
            [{"name": n, "status": "READY", "vectorQueueSize": 0} for n in names]
        )

    async def shard_update(
        self, request: web.Request, m: re.Match[str], body: bytes
    ) -> web.Response:
        self.store.require(m.group("cls"))
        payload = _json_body(body) or {}
        return web.json_response({"status": payload.get("status", "READY")})

    async def tenants(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        name = m.group("cls")
        if request.method == "GET":
            coll = self.store.mt_collection(name)
            return web.json_response(
                [{"name": n, "activityStatus": s} for n, s in coll.tenants.items()]
            )
        payload = _json_body(body)
        if not isinstance(payload, list):
            raise StoreError("expected a list of tenants")
        if request.method == "POST":
            return web.json_response(self.store.add_tenants(name, payload))
        if request.method == "PUT":
            return web.json_response(self.store.update_tenants(name, payload))
        self.store.remove_tenants(name, [str(t) for t in payload])
        return web.Response(status=200)

    async def tenant_one(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        coll = self.store.mt_collection(m.group("cls"))
        tenant = m.group("tenant")
        if tenant not in coll.tenants:
            return web.Response(status=404)
        if request.method == "HEAD":
            return web.Response(status=200)
        return web.json_response({"name": tenant, "activityStatus": coll.tenants[tenant]})

    # -- objects ----------------------------------------------------------------------------

    async def objects(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        if request.method == "POST":
            payload = _json_body(body)
            if not isinstance(payload, dict) or not payload.get("class"):
                raise StoreError("object must be a JSON object with a class")
            obj = self.store.put_object(
                str(payload["class"]),
                uuid=payload.get("id"),
                properties=payload.get("properties") or {},
                vectors=_vectors_from_json(payload),
                tenant=str(payload.get("tenant") or request.query.get("tenant", "")),
                mode="insert",
            )
            return web.json_response(object_json(obj))
        q = request.query
        tenant = q.get("tenant", "")
        include_vector = "vector" in q.get("include", "")
        if "class" in q:
            coll = self.store.require(q["class"])
            objs = list(self.store.shard(coll, tenant).values())
        else:
            objs = [
                o
                for c in self.store.collections.values()
                for o in c.all_objects()
                if not tenant or o.tenant == tenant
            ]
        if "after" in q:
            objs = sorted(objs, key=lambda o: o.id)
            objs = [o for o in objs if o.id > q["after"].lower()]
        offset = int(q.get("offset", 0))
        limit = int(q.get("limit", 25))
        page = objs[offset : offset + limit]
        return web.json_response(
            {
                "objects": [object_json(o, include_vector=include_vector) for o in page],
                "totalResults": len(page),
                "deprecations": None,
            }
        )

    async def object_one(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        cls, object_id = capitalize(m.group("cls")), m.group("id").lower()
        tenant = request.query.get("tenant", "")
        method = request.method
        if method in ("GET", "HEAD", "DELETE"):
            coll = self.store.get(cls)
            if coll is None:
                return web.Response(status=404)
            shard = self.store.shard(coll, tenant)
            obj = shard.get(object_id)
            if obj is None:
                return web.Response(status=404)
            if method == "HEAD":
                return web.Response(status=204)
            if method == "DELETE":
                del shard[object_id]
                return web.Response(status=204)
            include_vector = "vector" in request.query.get("include", "")
            return web.json_response(object_json(obj, include_vector=include_vector))
        payload = _json_body(body) or {}
        if not isinstance(payload, dict):
            raise StoreError("object must be a JSON object")
        tenant = str(payload.get("tenant") or tenant)
        coll = self.store.require(cls)
        existing = self.store.shard(coll, tenant).get(object_id)
        if existing is None:
            return _error(404, f"object {cls}/{object_id} not found")
        if method == "PUT":
            obj = self.store.put_object(
                cls,
                uuid=object_id,
                properties=payload.get("properties") or {},
                vectors=_vectors_from_json(payload),
                tenant=tenant,
                mode="replace",
            )
            return web.json_response(object_json(obj))
        # PATCH: merge
        merged_props = object_json(existing)["properties"]
        merged_props.update(payload.get("properties") or {})
        vectors = dict(existing.vectors)
        vectors.update(_vectors_from_json(payload))
        self.store.put_object(
            cls,
            uuid=object_id,
            properties=merged_props,
            vectors=vectors,
            tenant=tenant,
            mode="replace",
        )
        return web.Response(status=204)

    async def references(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        cls, object_id, prop = m.group("cls"), m.group("id"), m.group("prop")
        tenant = request.query.get("tenant", "")
        payload = _json_body(body)
        if request.method == "POST":
            if not isinstance(payload, dict) or "beacon" not in payload:
                raise StoreError("expected a beacon")
            self.store.add_reference(cls, object_id, prop, str(payload["beacon"]), tenant)
            return web.Response(status=200)
        coll = self.store.require(cls)
        obj = self.store.shard(coll, tenant).get(object_id.lower())
        if obj is None:
            return _error(404, f"source object {cls}/{object_id} not found")
        if request.method == "PUT":
            beacons = payload if isinstance(payload, list) else []
            obj.references[prop] = []
            for beacon in beacons:
                self.store.add_reference(cls, object_id, prop, str(beacon["beacon"]), tenant)
            return web.Response(status=200)
        if not isinstance(payload, dict) or "beacon" not in payload:
            raise StoreError("expected a beacon")
        target = parse_beacon(str(payload["beacon"]))
        obj.references[prop] = [t for t in obj.references.get(prop, []) if t[1] != target[1]]
        return web.Response(status=204)

    async def batch_objects(
        self, request: web.Request, m: re.Match[str], body: bytes
    ) -> web.Response:
        payload = _json_body(body) or {}
        objects = payload.get("objects") or []
        injected = self.server.faults.take_batch_errors(len(objects))
        out = []
        for index, item in enumerate(objects):
            result: JSON = {}
            try:
                if index in injected:
                    raise StoreError(injected[index])
                obj = self.store.put_object(
                    str(item.get("class", "")),
                    uuid=item.get("id"),
                    properties=item.get("properties") or {},
                    vectors=_vectors_from_json(item),
                    tenant=str(item.get("tenant") or ""),
                )
                entry = object_json(obj)
            except StoreError as e:
                entry = dict(item)
                result = {"errors": {"error": [{"message": e.message}]}}
            entry["result"] = result
            out.append(entry)
        return web.json_response(out)

    async def batch_references(
        self, request: web.Request, m: re.Match[str], body: bytes
    ) -> web.Response:
        payload = _json_body(body) or []
        injected = self.server.faults.take_batch_errors(len(payload))
        out = []
        for index, ref in enumerate(payload):
            entry: JSON = dict(ref)
            try:
                if index in injected:
                    raise StoreError(injected[index])
                source = str(ref["from"])[len(BEACON_PREFIX) :].split("/")
                if len(source) != 3:
                    raise StoreError(f"invalid 'from' beacon {ref['from']}")
                self.store.add_reference(
                    source[0], source[1], source[2], str(ref["to"]), str(ref.get("tenant") or "")
                )
                entry["result"] = {"status": "SUCCESS"}
            except StoreError as e:
                entry["result"] = {
                    "status": "FAILED",
                    "errors": {"error": [{"message": e.message}]},
                }
            out.append(entry)
        return web.json_response(out)

    # -- backups ----------------------------------------------------------------------------

    _BACKENDS = frozenset({"filesystem", "s3", "gcs", "azure"})

    def _backend(self, m: re.Match[str]) -> str:
        backend = m.group("backend")
        if backend not in self._BACKENDS:
            raise StoreError(f"backup backend '{backend}' is not enabled", 422)
        return backend

    @staticmethod
    def _select(names: list[str], include: Any, exclude: Any) -> list[str]:
        inc = [capitalize(n) for n in include or []]
        exc = {capitalize(n) for n in exclude or []}
        return [n for n in names if (not inc or n in inc) and n not in exc]

    async def backups(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        backend = self._backend(m)
        if request.method == "GET":
            return web.json_response(
                [
                    {"id": b["id"], "classes": b["classes"], "status": b["final"]}
                    for (be, _), b in self.store.backups.items()
                    if be == backend
                ]
            )
        payload = _json_body(body) or {}
        backup_id = str(payload.get("id", "")).lower()
        if not backup_id:
            raise StoreError("backup id is required")
        if (backend, backup_id) in self.store.backups:
            raise StoreError(f"backup {backup_id} already exists")
        classes = self._select(
            list(self.store.collections), payload.get("include"), payload.get("exclude")
        )
        missing = [
            capitalize(n)
            for n in payload.get("include") or []
            if capitalize(n) not in self.store.collections
        ]
        if missing:
            raise StoreError(f"class {missing[0]} doesn't exist")
        if not classes:
            raise StoreError("no classes to back up")
        record: JSON = {
            "id": backup_id,
            "backend": backend,
            "classes": classes,
            "path": f"/var/lib/weaviate/backups/{backup_id}",
            "snapshot": self.store.snapshot(classes),
            "polls": 0,
            "final": "SUCCESS",
        }
        self.store.backups[(backend, backup_id)] = record
        return web.json_response(
            {
                "backend": backend,
                "classes": classes,
                "id": backup_id,
                "path": record["path"],
                "status": "STARTED",
            }
        )

    @staticmethod
    def _status(record: JSON) -> str:
        record["polls"] += 1
        return "STARTED" if record["polls"] == 1 else str(record["final"])

    async def backup_status(
        self, request: web.Request, m: re.Match[str], body: bytes
    ) -> web.Response:
        backend = self._backend(m)
        record = self.store.backups.get((backend, m.group("id").lower()))
        if record is None:
            return _error(404, f"backup {m.group('id')} not found")
        if request.method == "DELETE":
            record["final"] = "CANCELED"
            return web.Response(status=204)
        return web.json_response(
            {
                "backend": backend,
                "id": record["id"],
                "path": record["path"],
                "status": self._status(record),
            }
        )

    async def restore(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        backend = self._backend(m)
        backup_id = m.group("id").lower()
        backup = self.store.backups.get((backend, backup_id))
        if backup is None:
            return _error(404, f"backup {backup_id} not found")
        if request.method == "GET":
            record = self.store.restores.get((backend, backup_id))
            if record is None:
                return _error(404, f"restore of backup {backup_id} not found")
            return web.json_response(
                {
                    "backend": backend,
                    "id": backup_id,
                    "path": backup["path"],
                    "status": self._status(record),
                }
            )
        payload = _json_body(body) or {}
        classes = self._select(backup["classes"], payload.get("include"), payload.get("exclude"))
        existing = [c for c in classes if c in self.store.collections]
        if existing:
            raise StoreError(
                f"cannot restore classes: {existing}: class name {existing[0]} already exists"
            )
        for name in classes:
            self.store.collections[name] = copy.deepcopy(backup["snapshot"][name])
        self.store.restores[(backend, backup_id)] = {"polls": 0, "final": "SUCCESS"}
        return web.json_response(
            {
                "backend": backend,
                "classes": classes,
                "id": backup_id,
                "path": backup["path"],
                "status": "STARTED",
            }
        )

    # -- graphql ----------------------------------------------------------------------------

    async def graphql(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        """A tiny subset: ``Get { Class { props } }`` and ``Aggregate { Class { meta { count } } }``."""
        payload = _json_body(body) or {}
        query = str(payload.get("query", ""))
        data: JSON = {}
        get = re.search(r"\bGet\s*{\s*(\w+)", query)
        agg = re.search(r"\bAggregate\s*{\s*(\w+)", query)
        if get:
            coll = self.store.get(get.group(1))
            if coll is None:
                return web.json_response(
                    {"data": None, "errors": [{"message": f"Cannot query field {get.group(1)}"}]}
                )
            data["Get"] = {coll.name: [dict(o.properties) for o in coll.all_objects()]}
        if agg:
            coll = self.store.get(agg.group(1))
            count = len(coll.all_objects()) if coll is not None else 0
            data["Aggregate"] = {capitalize(agg.group(1)): [{"meta": {"count": count}}]}
        return web.json_response({"data": data})


# --------------------------------------------------------------------------------------------
# the stand-in
# --------------------------------------------------------------------------------------------


class WeaviateStandIn:
    """REST (aiohttp) + gRPC (grpc.aio) Weaviate stand-in bound to 127.0.0.1 on free ports."""

    #: page size the server applies when a query sets no limit (Weaviate's QUERY_DEFAULTS_LIMIT)
    query_defaults_limit: int = 10

    def __init__(self, *, version: str = DEFAULT_VERSION) -> None:
        self.version = version
        self.host = "127.0.0.1"
        self.http_port = 0
        self.grpc_port = 0
        self.faults = WeaviateFaults()
        self.rest_requests: list[RestRequest] = []
        self.grpc_requests: list[GrpcRequest] = []
        self.store = WeaviateStore()
        #: when set, every generative result is this text; otherwise a canned text is derived
        #: from the prompt / task
        self.generated_text: Optional[str] = None
        self._runner: Optional[web.AppRunner] = None
        self._grpc_server: Optional[grpc.Server] = None
        self._stopping = threading.Event()
        self._stopping_async: Optional[asyncio.Event] = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def grpc_address(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    async def start(self) -> None:
        from tests.servers import weaviate_grpc  # imports this module

        api = _RestApi(self)
        app = web.Application(client_max_size=GRPC_MAX_MESSAGE_SIZE)
        app.router.add_route("*", "/{tail:.*}", api.dispatch)
        self._stopping_async = asyncio.Event()
        # handler_cancellation: a client that gives up (timeout) cancels its handler, as with
        # the real server; shutdown_timeout: don't wait long for handlers stuck in a delay
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0)
        await site.start()
        self._runner = runner
        self.http_port = int(runner.addresses[0][1])

        # grpcio's thread-pool server, not grpc.aio: see the weaviate_grpc module docstring
        self._stopping.clear()
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="weaviate-standin-grpc"),
            options=[
                ("grpc.max_receive_message_length", GRPC_MAX_MESSAGE_SIZE),
                ("grpc.max_send_message_length", GRPC_MAX_MESSAGE_SIZE),
                ("grpc.so_reuseport", 0),
            ],
        )
        weaviate_grpc.add_to_server(self, server)
        self.grpc_port = server.add_insecure_port(f"{self.host}:0")
        server.start()
        self._grpc_server = server

    async def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping on an injected delay
        if self._stopping_async is not None:
            self._stopping_async.set()
        if self._grpc_server is not None:
            stopped = self._grpc_server.stop(None)
            self._grpc_server = None
            await asyncio.get_running_loop().run_in_executor(None, stopped.wait, 5.0)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> WeaviateStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def reset(self) -> None:
        """Forget all data, faults and recorded requests."""
        with self.store.lock:
            self.store.clear()
        self.faults.clear()
        self.rest_requests.clear()
        self.grpc_requests.clear()
        self.generated_text = None

    async def _asleep(self, seconds: float) -> None:
        """Delay for REST handlers; ``stop()`` cuts it short."""
        if self._stopping_async is None:
            await asyncio.sleep(seconds)
            return
        try:
            await asyncio.wait_for(self._stopping_async.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    def _sleep(self, seconds: float) -> None:
        """Blocking delay for gRPC handler threads; ``stop()`` cuts it short."""
        self._stopping.wait(seconds)

    # convenience for tests
    def rest_paths(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.rest_requests]

    def grpc_methods(self) -> list[str]:
        return [r.method for r in self.grpc_requests]


async def connect_async_client(
    server: WeaviateStandIn, **kwargs: Any
) -> weaviate.WeaviateAsyncClient:
    """Build a ``WeaviateAsyncClient`` for ``server`` and ``connect()`` it.

    ``skip_init_checks`` defaults to True: without it ``connect()`` also asks pypi.org for the
    latest client version.  Extra keyword arguments go to ``weaviate.use_async_with_custom``
    (``additional_config``, ``headers``, ``auth_credentials``...).
    """
    import weaviate

    kwargs.setdefault("skip_init_checks", True)
    client = weaviate.use_async_with_custom(
        http_host=server.host,
        http_port=server.http_port,
        http_secure=False,
        grpc_host=server.host,
        grpc_port=server.grpc_port,
        grpc_secure=False,
        **kwargs,
    )
    try:
        await client.connect()
    except BaseException:
        await client.close()
        raise
    return client
