"""The real clients with only the network replaced by an in-process answer.

``InProcessNode`` is an elastic-transport node class answering ``GET /<index>/_doc/<id>``;
``InProcessStub`` stands in for the gRPC stub of a ``WeaviateAsyncClient`` connected to the real
stand-in, answering ``Search``. Every other part of a call runs for real (API methods, transport,
retries wrapper, our wrappers, the OpenTelemetry SDK), at a fraction of a loopback round trip: the
load and memory tests make thousands of calls. Both can hold each call at a ``Gate`` until *all*
calls have arrived, so all of them are provably in flight at once before any returns.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Optional

from elastic_transport import ApiResponseMeta, BaseAsyncNode, HttpHeaders
from elastic_transport._node import NodeApiResponse
from elasticsearch import AsyncElasticsearch
from weaviate.proto.v1 import search_get_pb2


class Gate:
    """Holds every call until ``expected`` calls are waiting, then lets them all through."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.waiting = 0
        self.peak = 0
        self.all_arrived = asyncio.Event()
        self.open = asyncio.Event()

    async def pass_through(self) -> None:
        self.waiting += 1
        self.peak = max(self.peak, self.waiting)
        if self.waiting >= self.expected:
            self.all_arrived.set()
        await self.open.wait()
        self.waiting -= 1

    async def release_when_all_arrived(self) -> None:
        """Open once every call is waiting (bounded by the test's own timeout, not by a clock)."""
        await self.all_arrived.wait()
        self.open.set()


class InProcessNode(BaseAsyncNode):  # type: ignore[misc]
    """An elastic-transport node answering ``GET /<index>/_doc/<id>`` in process."""

    gate: Optional[Gate] = None

    async def perform_request(
        self, method: str, target: str, body: Any = None, headers: Any = None, **_: Any
    ) -> Any:
        if self.gate is not None:
            await self.gate.pass_through()
        path = target.split("?", 1)[0].strip("/").split("/")
        payload = {"_index": path[0], "_id": path[-1], "found": True, "_source": {}}
        meta = ApiResponseMeta(
            status=200,
            http_version="1.1",
            headers=HttpHeaders(
                {"x-elastic-product": "Elasticsearch", "content-type": "application/json"}
            ),
            duration=0.0,
            node=self.config,
        )
        return NodeApiResponse(meta, json.dumps(payload).encode())

    async def close(self) -> None:
        return None


class InProcessStub:
    """The Weaviate gRPC stub, with ``Search`` answered in process; the rest is the real one."""

    def __init__(self, real: Any, gate: Optional[Gate]) -> None:
        self._real = real
        self.gate = gate

    async def Search(self, request: Any, metadata: Any = None, timeout: Any = None) -> Any:
        if self.gate is not None:
            await self.gate.pass_through()
        return search_get_pb2.SearchReply()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def in_process_elasticsearch() -> AsyncElasticsearch:
    """An ``AsyncElasticsearch`` whose every node is an ``InProcessNode``."""
    return AsyncElasticsearch("http://in-process:9200", node_class=InProcessNode)


def use_gate(es: AsyncElasticsearch, wv: Any, gate: Optional[Gate]) -> None:
    """Answer ``es`` (made by ``in_process_elasticsearch``) and ``wv``'s gRPC in process, held at
    ``gate`` (``None``: answered at once)."""
    for node in es.transport.node_pool.all():
        node.gate = gate
    stub = wv._connection._grpc_stub
    real = stub._real if isinstance(stub, InProcessStub) else stub
    wv._connection._grpc_stub = InProcessStub(real, gate)
