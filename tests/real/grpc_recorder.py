"""A gRPC pass-through on 127.0.0.1 that records each call's method and metadata.

The fault proxy pumps gRPC's HTTP/2 bytes unparsed, so it cannot say which metadata a call sent.
This one is a gRPC server of its own (``grpc.aio``, one generic handler for every method): each
call it receives is recorded (method, metadata) and forwarded, bytes as they are, with its
metadata, to the real server; the real server's answer or status goes back unchanged. The
bidirectional ``BatchStream`` is forwarded message by message both ways. Use it as ``async with GrpcRecorder(host, port) as
recorder:`` and point the client's gRPC port at ``recorder.port``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncIterator, Dict, List, Optional, Tuple

import grpc
import grpc.aio

__all__ = ["GrpcCall", "GrpcRecorder"]

#: Metadata gRPC itself sets on each hop: not forwarded (the channel sets its own).
_HOP_KEYS = ("user-agent", "grpc-", ":")


@dataclass
class GrpcCall:
    method: str  # "/weaviate.v1.Weaviate/Search", "/grpc.health.v1.Health/Check"
    metadata: Dict[str, str]


class GrpcRecorder:
    def __init__(self, host: str, port: int) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"loopback upstreams only, not {host}")
        self.upstream = f"{host}:{port}"
        self.calls: List[GrpcCall] = []
        self.port = 0
        self._server: Optional[grpc.aio.Server] = None
        self._channel: Optional[grpc.aio.Channel] = None

    async def __aenter__(self) -> GrpcRecorder:
        self._channel = grpc.aio.insecure_channel(self.upstream)
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((_Forward(self),))
        self.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._server = server
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.stop(grace=None)
        if self._channel is not None:
            await self._channel.close()

    def _record(self, method: str, context: Any) -> Tuple[Tuple[str, str], ...]:
        """Record the call; the metadata to forward."""
        received: Tuple[Tuple[str, str], ...] = tuple(context.invocation_metadata() or ())
        self.calls.append(GrpcCall(method, {key: value for key, value in received}))
        return tuple((k, v) for k, v in received if not k.startswith(_HOP_KEYS))

    async def forward_stream(
        self, method: str, requests: AsyncIterator[bytes], context: Any
    ) -> AsyncIterator[bytes]:
        forwarded = self._record(method, context)
        assert self._channel is not None
        call = self._channel.stream_stream(method)(
            requests, metadata=forwarded, timeout=context.time_remaining()
        )
        try:
            async for reply in call:
                yield reply
        except grpc.aio.AioRpcError as error:
            await context.abort(error.code(), error.details() or "")

    async def forward(self, method: str, request: bytes, context: Any) -> bytes:
        forwarded = self._record(method, context)
        assert self._channel is not None
        remaining = context.time_remaining()
        try:
            answer: bytes = await self._channel.unary_unary(method)(
                request, metadata=forwarded, timeout=remaining
            )
        except grpc.aio.AioRpcError as error:
            await context.abort(error.code(), error.details() or "")
        return answer


class _Forward(grpc.GenericRpcHandler):
    def __init__(self, recorder: GrpcRecorder) -> None:
        self.recorder = recorder

    def service(self, handler_call_details: Any) -> Optional[grpc.RpcMethodHandler]:
        method = handler_call_details.method
        if method.endswith("/BatchStream"):

            async def stream(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
                async for reply in self.recorder.forward_stream(method, requests, context):
                    yield reply

            return grpc.stream_stream_rpc_method_handler(stream)

        async def unary(request: bytes, context: Any) -> bytes:
            return await self.recorder.forward(method, request, context)

        return grpc.unary_unary_rpc_method_handler(unary)
