"""Loopback Weaviate imitation: the REST and gRPC calls the tests, demo and example app make.

The real ``weaviate.WeaviateAsyncClient`` runs against this server over real sockets (REST through
httpx, gRPC through grpcio) without Docker. Collections, tenants, objects and backups are kept in
memory, so ``insert`` -> ``fetch`` works end to end, and ``faults`` injects gRPC status codes, HTTP
answers, per-object batch errors and delays. Everything binds to 127.0.0.1 only.

What a real 1.39 server answers to bad requests (checked by the real tier, ``tests/real``), the
stand-in answers too, with the real status, body and message: an object for an unknown collection
creates it (auto-schema); a value an ``int`` / ``number`` property cannot take is a 422 (a batch
object error over gRPC); a vector whose length differs from the collection's is a 500 (a batch
object error); ``config.get``, ``data.update`` and ``data.replace`` of unknown things are a 404
with an empty body; creating an existing collection is a 422; an unknown path is a 404
``{"code": 404, "message": ...}``; and a gRPC call on an unknown collection fails with status
``UNKNOWN`` and the server's message in the details (``weaviate_grpc``). A tenant mistake is a
422 ``{"error": [{"message": ...}]}`` over REST, ``UNKNOWN`` with that message over gRPC, and a
batch object error in a batch: a tenant on a collection without multi-tenancy (``class X has
multi-tenancy disabled, but request was with tenant``); on one with it, no tenant (``class X has
multi-tenancy enabled, but request was without tenant``), a tenant it does not have (``tenant not
found: "x"``) or one that is not active, ``INACTIVE`` or ``OFFLOADED`` (``tenant not active:
'x'``, unless the collection has ``autoTenantActivation``, which activates it). Not imitated: ``near_text``, which the stand-in ranks by word overlap as
if a vectorizer module were configured (a real server without one refuses it).

REST is served by aiohttp on the caller's event loop; gRPC (``weaviate.v1.Weaviate``, see
``weaviate_grpc``) by grpcio's thread-pool server, so the stand-in also works on its own loop in a
background thread (``InThread``). The reported version (default 1.37.1) must stay >= 1.36.0: the
async client's only batching mode, ``batch.stream()``, uses the ``BatchStream`` RPC and refuses
older servers. gRPC method names for faults and recordings: Search, BatchObjects, BatchDelete,
TenantsGet, Aggregate and BatchStream.

    server = WeaviateStandIn()
    await server.start()
    client = await connect_async_client(server)
"""

from __future__ import annotations

import asyncio
import contextlib
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
    "ObjectRejected",
    "RestRequest",
    "StoredObject",
    "TenantRefused",
    "WeaviateFaults",
    "WeaviateStandIn",
    "connect_async_client",
]

DEFAULT_VERSION = "1.37.1"
GRPC_MAX_MESSAGE_SIZE = 104_858_000
BEACON_PREFIX = "weaviate://localhost/"
GRPC_METHODS = frozenset(
    {"Search", "BatchObjects", "BatchDelete", "TenantsGet", "Aggregate", "BatchStream"}
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


@dataclass
class GrpcRequest:
    """One gRPC call: the RPC name, its (first) request message and its metadata."""

    method: str
    request: Any
    metadata: dict[str, str] = field(default_factory=dict)


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
            self._http.append(_HttpFault(re.compile(path), status, method, times, body, delay))

    def batch_errors(self, indices: Union[set[int], int], message: str = "injected") -> None:
        """The next batch call (BatchObjects, a BatchStream data message) reports ``message``
        for the objects at ``indices`` (or for the first N when an int)."""
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
                if rule.method in (None, method) and rule.pattern.search(path):
                    self._use(self._http, rule)
                    return rule
        return None

    def take_delay(self, *, grpc_method: Optional[str] = None, path: Optional[str] = None) -> float:
        with self._lock:
            for rule in self._delays:
                if (grpc_method is not None and rule.target == grpc_method) or (
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


@dataclass
class StoredObject:
    id: str
    collection: str
    tenant: str
    properties: JSON
    references: dict[str, list[tuple[str, str]]]  # prop -> [(target collection or "", uuid)]
    vectors: dict[str, Any]  # vector name ("default" when unnamed) -> list[float]
    created: int  # unix ms
    updated: int


class ObjectRejected(Exception):
    """An object the real server refuses: ``status`` 422 (a property value) or 500 (a vector of
    the wrong length); ``str()`` is the message a batch reports for it."""

    def __init__(self, status: int, message: str, rest_prefix: str = "") -> None:
        super().__init__(message)
        self.status = status
        #: what the REST answer's message has before the batch message
        self.rest_prefix = rest_prefix


class TenantRefused(ObjectRejected):
    """A tenant mistake (a tenant on a collection without multi-tenancy; on one with it, no
    tenant, an unknown tenant or one that is not active): 422 over REST (the message alone),
    ``UNKNOWN`` over gRPC, a batch object error in a batch."""

    def __init__(self, message: str) -> None:
        super().__init__(422, message)


def _shard_name() -> str:
    return uuid_lib.uuid4().hex[:12]


@dataclass
class StoredCollection:
    config: JSON
    tenants: dict[str, str] = field(default_factory=dict)  # name -> ACTIVE/INACTIVE/OFFLOADED
    shards: dict[str, dict[str, StoredObject]] = field(default_factory=dict)
    #: vector name -> the length its index took from the first vector stored
    dimensions: dict[str, int] = field(default_factory=dict)
    #: the physical shard's name, which the real server's storage errors mention
    shard_name: str = field(default_factory=_shard_name)

    @property
    def name(self) -> str:
        return str(self.config["class"])

    @property
    def multi_tenant(self) -> bool:
        return bool(self.config["multiTenancyConfig"]["enabled"])

    def prop(self, name: str) -> Optional[JSON]:
        return next((p for p in self.config["properties"] if p["name"] == name), None)


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
_STOPWORDS_DEFAULTS: JSON = {"preset": "en", "additions": None, "removals": None}
#: what the real server fills in for each section of a collection's config the client leaves out
_CLASS_DEFAULTS: dict[str, JSON] = {
    "invertedIndexConfig": {
        "bm25": {"b": 0.75, "k1": 1.2},
        "cleanupIntervalSeconds": 60,
        "stopwords": None,
        "usingBlockMaxWAND": True,
    },
    "multiTenancyConfig": {
        "enabled": False,
        "autoTenantCreation": False,
        "autoTenantActivation": False,
    },
    "replicationConfig": {
        "factor": 1,
        "asyncEnabled": False,
        "deletionStrategy": "NoAutomatedResolution",
    },
    "shardingConfig": {
        "virtualPerPhysical": 128,
        "desiredCount": 1,
        "actualCount": 1,
        "desiredVirtualCount": 128,
        "actualVirtualCount": 128,
        "key": "_id",
        "strategy": "hash",
        "function": "murmur3",
    },
}


def _normalize_property(prop: JSON) -> JSON:
    # the client sends these per-property vectorizer flags; the server folds them into
    # moduleConfig and never returns them
    out = {
        k: v for k, v in prop.items() if k not in ("skip_vectorization", "vectorize_property_name")
    }
    data_type = out["dataType"]
    if str(data_type[0])[:1].islower():  # a primitive type, not a reference to a collection
        is_text = data_type[0] in ("text", "text[]")
        out.setdefault("indexFilterable", True)
        out.setdefault("indexSearchable", is_text)
        out.setdefault("indexRangeFilters", False)
        if is_text:
            out.setdefault("tokenization", "word")
    return out


def normalize_class(config: JSON) -> JSON:
    """Fill in the defaults the real server returns, so the client can parse the config back."""
    cfg = copy.deepcopy(config)
    cfg["class"] = capitalize(str(cfg["class"]))
    cfg["properties"] = [_normalize_property(p) for p in cfg.get("properties") or []]
    for section, defaults in _CLASS_DEFAULTS.items():
        cfg[section] = {**copy.deepcopy(defaults), **(cfg.get(section) or {})}
    cfg["invertedIndexConfig"]["stopwords"] = {
        **_STOPWORDS_DEFAULTS,
        **(cfg["invertedIndexConfig"]["stopwords"] or {}),
    }
    cfg.setdefault("moduleConfig", {})
    for named in (cfg.get("vectorConfig") or {}).values():
        named.setdefault("vectorizer", {"none": {}})
        if named.setdefault("vectorIndexType", "hnsw") != "none":
            named["vectorIndexConfig"] = copy.deepcopy(_HNSW_DEFAULTS)
    return cfg


def _auto_schema_description() -> str:
    # Go's time.ANSIC, as the real server writes it
    return "This property was generated by Weaviate's auto-schema feature on " + time.strftime(
        "%a %b %e %H:%M:%S %Y"
    )


def _infer_data_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"  # JSON numbers are "number", never "int"
    if isinstance(value, list):
        return (_infer_data_type(value[0]) if value else "text") + "[]"
    text = str(value)
    return "date" if _DATE_RE.match(text) else "uuid" if _UUID_RE.match(text) else "text"


def _infer_property(name: str, value: Any) -> JSON:
    """Auto-schema: the property the real server derives from a value."""
    return _normalize_property(
        {
            "name": name,
            "dataType": [_infer_data_type(value)],
            "description": _auto_schema_description(),
        }
    )


def _checked_value(coll: StoredCollection, prop: JSON, value: Any) -> Any:
    """The value stored for an ``int`` / ``number`` property, or the real server's refusal."""
    data_type = prop["dataType"][0]
    if data_type not in ("int", "number"):
        return value
    where = f"property '{prop['name']}' on class '{coll.name}'"
    if data_type == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ObjectRejected(
                422, f"invalid number {where}: requires a float, the given value is '{value}'"
            )
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ObjectRejected(
            422, f"invalid integer {where}: requires an integer, the given value is '{value}'"
        )
    if value != int(value):
        raise ObjectRejected(
            422,
            f"invalid integer {where}: the JSON number '{value}' could not be converted to an int",
        )
    return int(value)


class WeaviateStore:
    """Collections, tenants and objects, shared by the REST and gRPC sides."""

    def __init__(self) -> None:
        #: held by every REST and gRPC handler (gRPC handlers run on grpcio's thread pool)
        self.lock = threading.RLock()
        self.collections: dict[str, StoredCollection] = {}
        self.backups: dict[tuple[str, str], JSON] = {}

    def clear(self) -> None:
        self.collections.clear()
        self.backups.clear()

    def get(self, name: str) -> Optional[StoredCollection]:
        return self.collections.get(capitalize(name))

    def require(self, name: str) -> StoredCollection:
        return self.collections[capitalize(name)]

    def auto_create(self, name: str) -> StoredCollection:
        """Auto-schema: the collection the real server creates for an object of an unknown one."""
        existing = self.get(name)
        if existing is not None:
            return existing
        return self.create_collection(
            {
                "class": name,
                "description": _auto_schema_description(),
                "vectorConfig": {"default": {}},
            }
        )

    def create_collection(self, config: JSON) -> StoredCollection:
        coll = StoredCollection(normalize_class(config))
        if not coll.multi_tenant:
            coll.shards[""] = {}
        self.collections[coll.name] = coll
        return coll

    @staticmethod
    def tenant_status(value: Any) -> str:
        status = str(value or "ACTIVE").upper()
        return {"HOT": "ACTIVE", "COLD": "INACTIVE", "FROZEN": "OFFLOADED"}.get(status, status)

    def set_tenants(self, name: str, tenants: list[JSON]) -> list[JSON]:
        """Add tenants, or change the activity status of existing ones."""
        coll = self.require(name)
        for tenant in tenants:
            coll.tenants[tenant["name"]] = self.tenant_status(tenant.get("activityStatus"))
            coll.shards.setdefault(tenant["name"], {})
        return [{"name": t["name"], "activityStatus": coll.tenants[t["name"]]} for t in tenants]

    def shard(self, coll: StoredCollection, tenant: str) -> dict[str, StoredObject]:
        return coll.shards.setdefault(tenant if coll.multi_tenant else "", {})

    @staticmethod
    def check_tenant(coll: StoredCollection, tenant: str) -> None:
        """Raise ``TenantRefused`` with the real server's message for a tenant mistake: a tenant
        on a collection without multi-tenancy; on one with it, no tenant, a tenant the collection
        does not have, or one that is not active (``INACTIVE``, ``OFFLOADED``) unless the
        collection activates tenants on use (``autoTenantActivation``)."""
        if not coll.multi_tenant:
            if tenant:
                raise TenantRefused(
                    f"class {coll.name} has multi-tenancy disabled, but request was with tenant"
                )
            return
        if not tenant:
            raise TenantRefused(
                f"class {coll.name} has multi-tenancy enabled, but request was without tenant"
            )
        if tenant not in coll.tenants:
            raise TenantRefused(f"tenant not found: {json.dumps(tenant, ensure_ascii=False)}")
        if coll.tenants[tenant] != "ACTIVE":
            if coll.config["multiTenancyConfig"].get("autoTenantActivation"):
                coll.tenants[tenant] = "ACTIVE"
            else:
                # the server formats this one with '%s' in single quotes, not %q
                raise TenantRefused(f"tenant not active: '{tenant}'")

    def put_object(
        self,
        collection: str,
        *,
        uuid: Optional[str],
        properties: JSON,
        vectors: dict[str, Any],
        tenant: str = "",
    ) -> StoredObject:
        """Insert or replace an object of a collection, created if unknown (auto-schema); a
        property not in the schema is added to it. Raises ``ObjectRejected`` for what the real
        server refuses, and then changes nothing."""
        coll = self.auto_create(collection)
        self.check_tenant(coll, tenant)
        shard = self.shard(coll, tenant)
        object_id = str(uuid_lib.UUID(uuid)) if uuid else str(uuid_lib.uuid4())
        props: JSON = {}
        added: list[JSON] = []
        for key, value in properties.items():
            prop = coll.prop(key)
            if prop is None:
                prop = _infer_property(key, value)
                added.append(prop)
            props[key] = _checked_value(coll, prop, value)
        for name, vector in vectors.items():
            expected = coll.dimensions.get(name)
            if expected is not None and len(vector) != expected:
                raise ObjectRejected(
                    500,
                    f"Validate vector index {name} for target vector {object_id}: new node has a "
                    f"vector with length {len(vector)}. Existing nodes have vectors with length "
                    f"{expected}: vector dimensions do not match the index dimensions",
                    f"put object: import into index {coll.name.lower()}: put local object: "
                    f'shard="{coll.shard_name}": store object in LSM store: ',
                )
        coll.config["properties"].extend(added)
        for name, vector in vectors.items():
            coll.dimensions.setdefault(name, len(vector))
        existing = shard.get(object_id)
        now = _now_ms()
        obj = StoredObject(
            id=object_id,
            collection=coll.name,
            tenant=tenant,
            properties=props,
            references={},
            vectors=vectors,
            created=existing.created if existing is not None else now,
            updated=now,
        )
        shard[object_id] = obj
        return obj

    def add_reference(
        self, collection: str, uuid: str, prop: str, beacon: str, tenant: str = ""
    ) -> None:
        coll = self.require(collection)
        obj = self.shard(coll, tenant)[uuid.lower()]
        definition = coll.prop(prop)
        assert definition is not None
        target = beacon[len(BEACON_PREFIX) :] if beacon.startswith(BEACON_PREFIX) else beacon
        obj.references.setdefault(prop, []).append((definition["dataType"][0], target.lower()))
        obj.updated = _now_ms()


def object_json(obj: StoredObject) -> JSON:
    out: JSON = {
        "class": obj.collection,
        "id": obj.id,
        "properties": copy.deepcopy(obj.properties),
        "creationTimeUnix": obj.created,
        "lastUpdateTimeUnix": obj.updated,
    }
    if obj.tenant:
        out["tenant"] = obj.tenant
    if obj.vectors:
        if set(obj.vectors) == {"default"}:
            out["vector"] = obj.vectors["default"]
        out["vectors"] = dict(obj.vectors)
    return out


# --------------------------------------------------------------------------------------------
# REST
# --------------------------------------------------------------------------------------------

Handler = Callable[[web.Request, "re.Match[str]", bytes], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    """The real server's error body: ``{"error": [{"message": ...}]}``."""
    return web.json_response({"error": [{"message": message}]}, status=status)


def _rejected(exc: ObjectRejected, validation_prefix: str) -> web.Response:
    """A REST answer for a refused object: a 422 has ``validation_prefix`` before the message,
    a 500 the storage path of the real server."""
    if isinstance(exc, TenantRefused):  # as a real 1.39 server says it for an object insert
        return _error(exc.status, f"determine shard: {exc}")
    prefix = validation_prefix if exc.status == 422 else exc.rest_prefix
    return _error(exc.status, f"{prefix}{exc}")


def _tenant_refused(
    coll: Optional[StoredCollection], tenant: str, *, head: bool = False
) -> Optional[web.Response]:
    """The 422 for a tenant mistake (no body for ``HEAD``)."""
    if coll is None:
        return None
    try:
        WeaviateStore.check_tenant(coll, tenant)
    except TenantRefused as exc:
        return web.Response(status=422) if head else _error(422, str(exc))
    return None


class _RestApi:
    def __init__(self, server: WeaviateStandIn) -> None:
        self.server = server
        self.store = server.store
        r = self._route
        self.routes: list[tuple[frozenset[str], re.Pattern[str], Handler]] = []
        r("GET", r"/v1/meta", self.meta)
        r("GET", r"/v1/\.well-known/(ready|live)", self.ok)
        r("GET POST", r"/v1/schema", self.schema)
        r("GET HEAD DELETE", r"/v1/schema/(?P<cls>[^/]+)", self.schema_one)
        r("POST PUT", r"/v1/schema/(?P<cls>[^/]+)/tenants", self.tenants)
        r("GET HEAD", r"/v1/schema/(?P<cls>[^/]+)/tenants/(?P<tenant>[^/]+)", self.tenant_one)
        r("POST", r"/v1/objects", self.insert)
        r("GET HEAD", r"/v1/objects/(?P<cls>[^/]+)/(?P<id>[^/]+)", self.object_one)
        r("PATCH PUT", r"/v1/objects/(?P<cls>[^/]+)/(?P<id>[^/]+)", self.object_write)
        r("DELETE", r"/v1/objects/(?P<cls>[^/]+)/(?P<id>[^/]+)", self.object_delete)
        r("POST", r"/v1/objects/(?P<cls>[^/]+)/(?P<id>[^/]+)/references/(?P<p>[^/]+)", self.ref)
        r("POST", r"/v1/backups/(?P<backend>[^/]+)", self.backup)
        r("GET", r"/v1/backups/(?P<backend>[^/]+)/(?P<id>[^/]+)", self.backup_status)
        r("GET", r"/v1/nodes(?:/(?P<cls>[^/]+))?", self.nodes)
        r("POST", r"/v1/graphql", self.graphql)

    def _route(self, methods: str, pattern: str, handler: Handler) -> None:
        self.routes.append((frozenset(methods.split()), re.compile(pattern + "$"), handler))

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        path = request.path
        # The request's delay and fault are taken before it is recorded: a test that acts once a
        # request has arrived (and then resets the faults) cannot race the request's own rules.
        faults = self.server.faults
        delay = faults.take_delay(path=path)
        fault = faults.take_http(request.method, path)
        self.server.rest_requests.append(
            RestRequest(
                method=request.method,
                path=path,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
                query=dict(request.query),
            )
        )
        if delay:
            await self.server._asleep(delay)
        if fault is not None:
            if fault.delay:
                await self.server._asleep(fault.delay)
            payload = fault.body or {"error": [{"message": f"injected HTTP {fault.status}"}]}
            return web.json_response(payload, status=fault.status)
        for methods, pattern, handler in self.routes:
            match = pattern.match(path)
            if match is not None and request.method in methods:
                with self.store.lock:  # handlers never await while holding it
                    return await handler(request, match, body)
        return web.json_response({"code": 404, "message": f"path {path} was not found"}, status=404)

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

    async def graphql(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        """GraphQL is not interpreted: every query answers with no data (the tracing tests read
        the request, and the real tier runs queries for real)."""
        return web.json_response({"data": {}})

    async def nodes(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        node: JSON = {
            "name": "standin-node-1",
            "status": "HEALTHY",
            "version": self.server.version,
            "gitHash": "standin",
        }
        return web.json_response({"nodes": [node]})

    # -- schema and tenants -----------------------------------------------------------------

    async def schema(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        if request.method == "POST":
            config = json.loads(body)
            if self.store.get(str(config["class"])) is not None:
                message = f"class name {capitalize(str(config['class']))} already exists"
                return web.json_response(
                    {"allowed": None, "error": [{"message": message}]}, status=422
                )
            return web.json_response(self.store.create_collection(config).config)
        return web.json_response(
            {"classes": [copy.deepcopy(c.config) for c in self.store.collections.values()]}
        )

    async def schema_one(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        name = capitalize(m.group("cls"))
        if request.method == "DELETE":
            self.store.collections.pop(name, None)
            return web.Response(status=200)
        coll = self.store.get(name)
        if coll is None:
            return web.Response(status=404)
        return web.json_response(coll.config)

    async def tenants(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        if self.store.get(m.group("cls")) is None:
            kind = "TYPE_ADD_TENANT" if request.method == "POST" else "TYPE_UPDATE_TENANT"
            return _error(422, f"updating schema: {kind}: class not found")
        return web.json_response(self.store.set_tenants(m.group("cls"), json.loads(body)))

    async def tenant_one(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        coll = self.store.get(m.group("cls"))
        if coll is None:
            message = "failed to execute query: could not get tenants: could not get tenants: "
            return _error(422, message + "class not found")
        tenant = m.group("tenant")
        if tenant not in coll.tenants:
            return web.Response(status=404)
        return web.json_response({"name": tenant, "activityStatus": coll.tenants[tenant]})

    # -- objects ----------------------------------------------------------------------------

    async def insert(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        payload = json.loads(body)
        try:
            obj = self._put(payload, str(payload["class"]), payload.get("id"))
        except ObjectRejected as exc:
            return _rejected(exc, "invalid object: ")
        return web.json_response(object_json(obj))

    def _put(self, payload: JSON, collection: str, uuid: Optional[str]) -> StoredObject:
        vector = payload.get("vector")
        return self.store.put_object(
            collection,
            uuid=uuid,
            properties=payload.get("properties") or {},
            vectors={"default": [float(v) for v in vector]} if vector else {},
            tenant=str(payload.get("tenant") or ""),
        )

    async def object_write(
        self, request: web.Request, m: re.Match[str], body: bytes
    ) -> web.Response:
        """``data.update`` (PATCH: merge, 204) and ``data.replace`` (PUT: 200 and the object);
        an unknown collection or object is a 404 with an empty body, as on the real server."""
        coll = self.store.get(m.group("cls"))
        tenant = request.query.get("tenant", "")
        refused = _tenant_refused(coll, tenant)
        if refused is not None:
            return refused
        existing = self.store.shard(coll, tenant).get(m.group("id").lower()) if coll else None
        if coll is None or existing is None:
            return web.Response(status=404)
        payload = json.loads(body)
        if request.method == "PATCH":
            payload = {
                **payload,
                "properties": {**existing.properties, **(payload.get("properties") or {})},
            }
            if "vector" not in payload and "default" in existing.vectors:
                payload["vector"] = existing.vectors["default"]
        try:
            obj = self._put(payload, coll.name, existing.id)
        except ObjectRejected as exc:
            prefix = "msg:bad request code:400 err:" if request.method == "PATCH" else ""
            return _rejected(exc, prefix or "invalid object: ")
        if request.method == "PATCH":
            return web.Response(status=204)
        return web.json_response(object_json(obj))

    async def object_delete(
        self, request: web.Request, m: re.Match[str], body: bytes
    ) -> web.Response:
        """204 whether the object was there or not, as the real server answers."""
        coll = self.store.get(m.group("cls"))
        if coll is None:
            message = "could not delete object from vector repo: delete from non-existing index"
            return _error(500, f"{message} for {capitalize(m.group('cls'))}")
        tenant = request.query.get("tenant", "")
        refused = _tenant_refused(coll, tenant)
        if refused is not None:
            return refused
        self.store.shard(coll, tenant).pop(m.group("id").lower(), None)
        return web.Response(status=204)

    async def object_one(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        coll = self.store.get(m.group("cls"))
        tenant = request.query.get("tenant", "")
        refused = _tenant_refused(coll, tenant, head=request.method == "HEAD")
        if refused is not None:
            return refused
        shard = self.store.shard(coll, tenant) if coll else {}
        obj = shard.get(m.group("id").lower())
        if obj is None:
            return web.Response(status=404)
        if request.method == "HEAD":
            return web.Response(status=204)
        return web.json_response(object_json(obj))

    async def ref(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        if self.store.get(m.group("cls")) is None:
            name = capitalize(m.group("cls"))
            message = f'msg:collection not found code:400 err:collection "{name}" not found'
            return _error(422, message + " in schema")
        beacon = str(json.loads(body)["beacon"])
        tenant = request.query.get("tenant", "")
        refused = _tenant_refused(self.store.get(m.group("cls")), tenant)
        if refused is not None:
            return refused
        self.store.add_reference(m.group("cls"), m.group("id"), m.group("p"), beacon, tenant)
        return web.Response(status=200)

    # -- backups ----------------------------------------------------------------------------

    async def backup(self, request: web.Request, m: re.Match[str], body: bytes) -> web.Response:
        """Create a backup: reported STARTED now, SUCCESS from the second status poll on."""
        backend = m.group("backend")
        payload = json.loads(body)
        backup_id = str(payload["id"]).lower()
        include = [capitalize(n) for n in payload.get("include") or []]
        exclude = {capitalize(n) for n in payload.get("exclude") or []}
        classes = [
            n for n in self.store.collections if (not include or n in include) and n not in exclude
        ]
        path = f"/var/lib/weaviate/backups/{backup_id}"
        self.store.backups[(backend, backup_id)] = {"id": backup_id, "path": path, "polls": 0}
        return web.json_response(
            {
                "backend": backend,
                "classes": classes,
                "id": backup_id,
                "path": path,
                "status": "STARTED",
            }
        )

    async def backup_status(
        self, request: web.Request, m: re.Match[str], body: bytes
    ) -> web.Response:
        backend = m.group("backend")
        record = self.store.backups[(backend, m.group("id").lower())]
        record["polls"] += 1
        return web.json_response(
            {
                "backend": backend,
                "id": record["id"],
                "path": record["path"],
                "status": "STARTED" if record["polls"] == 1 else "SUCCESS",
            }
        )


# --------------------------------------------------------------------------------------------
# the stand-in
# --------------------------------------------------------------------------------------------


class WeaviateStandIn:
    """REST (aiohttp) + gRPC (grpcio) Weaviate stand-in bound to 127.0.0.1 on free ports."""

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
        self._runner: Optional[web.AppRunner] = None
        self._grpc_server: Optional[grpc.Server] = None
        self._stopping = threading.Event()
        self._stopping_async: Optional[asyncio.Event] = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

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
        assert self._grpc_server is not None and self._runner is not None
        self._stopping.set()  # wakes handlers sleeping on an injected delay
        if self._stopping_async is not None:
            self._stopping_async.set()
        stopped = self._grpc_server.stop(None)
        await asyncio.get_running_loop().run_in_executor(None, stopped.wait, 5.0)
        await self._runner.cleanup()

    def reset(self) -> None:
        """Forget all data, faults and recorded requests."""
        with self.store.lock:
            self.store.clear()
        self.faults.clear()
        self.rest_requests.clear()
        self.grpc_requests.clear()

    async def _asleep(self, seconds: float) -> None:
        """Delay for REST handlers; ``stop()`` cuts it short."""
        assert self._stopping_async is not None
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
    latest client version. Extra keyword arguments go to ``weaviate.use_async_with_custom``
    (``additional_config``, ``headers``, ``auth_credentials``...).
    """
    import weaviate
    from weaviate.config import AdditionalConfig

    grpc_config_class: Any = None
    with contextlib.suppress(ImportError):  # clients before 4.20 take no channel options
        from weaviate.config import GrpcConfig as grpc_config_class

    kwargs.setdefault("skip_init_checks", True)
    config = kwargs.get("additional_config") or AdditionalConfig()
    if grpc_config_class is not None and config.grpc_config is None:
        # Each client its own gRPC subchannels. gRPC shares them between channels to the same
        # address, so a client to a port that a stopped stand-in had (the kernel gives ports
        # out again) inherited that connection's reconnect backoff, and its calls were refused
        # for seconds: a "server gone" scenario failed once in CI that way.
        options = [("grpc.use_local_subchannel_pool", 1)]
        grpc_config = grpc_config_class(channel_options=options)
        kwargs["additional_config"] = config.model_copy(update={"grpc_config": grpc_config})
    client = weaviate.use_async_with_custom(
        http_host=server.host,
        http_port=server.http_port,
        http_secure=False,
        grpc_host=server.host,
        grpc_port=server.grpc_port,
        grpc_secure=False,
        **kwargs,
    )
    await client.connect()
    return client
