"""Elasticsearch answered in-process, for instruction counts that do not depend on timing.

Over loopback to the stand-in in another process (as in the timed phase), when the answer reaches
the client depends on how the two processes are scheduled: sometimes the event loop finds the
whole answer at once, sometimes it wakes up once more for the rest. Under callgrind that moved the
count of identical runs by several thousand instructions a call on a busy machine.

``ReplayServer`` is a minimal HTTP/1.1 server on 127.0.0.1 in the client's own event loop: the
client still makes real connections and requests (aiohttp, elastic-transport and everything above
them run as usual), but each answer is written at once, in one piece, while the client waits in
the same thread, so the client's path is the same every call. The answers are the stand-in's own:
the first request of each kind (request line and body) is forwarded to the stand-in and its raw
answer kept; every later identical request gets those bytes back. The forwarding happens in the
warm-up, never in a counted block.

What the server itself does per request (find the end of the request, look up the answer, one
``transport.write``) is counted with the client: a few thousand instructions a call, the same in
every configuration, so it cancels out of every difference.
"""

from __future__ import annotations

import asyncio
from typing import Dict, Optional, Tuple
from urllib.parse import urlsplit


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    marker = lower.find(b"\r\ncontent-length:")
    if marker >= 0:
        end = lower.index(b"\r\n", marker + 2)
        length = int(lower[marker + len(b"\r\ncontent-length:") : end])
        return head + await reader.readexactly(length)
    if b"\r\ntransfer-encoding: chunked" in lower:
        return head + await reader.readuntil(b"\r\n0\r\n\r\n")
    raise ValueError(f"stand-in answer without a length: {head[:200]!r}")


class _Protocol(asyncio.Protocol):
    def __init__(self, server: ReplayServer) -> None:
        self.server = server
        self.buffer = b""
        self.transport: Optional[asyncio.Transport] = None
        self.forwarding = False
        self.pending: Optional[asyncio.Future[None]] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.forwarding:
            self._answer()

    def _answer(self) -> None:
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            lower = head.lower()
            marker = lower.find(b"\r\ncontent-length:")
            length = 0
            if marker >= 0:
                line_end = lower.find(b"\r\n", marker + 2)
                length = int(lower[marker + 17 : line_end if line_end >= 0 else len(lower)])
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            request, self.buffer = self.buffer[:total], self.buffer[total:]
            key = (head[: head.find(b"\r\n")], request[end + 4 :])
            answer = self.server.answers.get(key)
            self.server.requests += 1
            if answer is None:
                self.forwarding = True
                self.pending = asyncio.ensure_future(self._forward(key, request))
                return
            assert self.transport is not None
            self.transport.write(answer)

    async def _forward(self, key: Tuple[bytes, bytes], request: bytes) -> None:
        try:
            self.server.answers[key] = await self.server.fetch(request)
            assert self.transport is not None
            self.transport.write(self.server.answers[key])
        finally:
            self.forwarding = False
        self._answer()


class ReplayServer:
    """``url = await ReplayServer(stand_in_url).start()``: answers like the stand-in, in-process."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream: Tuple[str, int] = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.answers: Dict[Tuple[bytes, bytes], bytes] = {}
        self.requests = 0
        self.forwarded = 0
        self._server: Optional[asyncio.AbstractServer] = None

    async def fetch(self, request: bytes) -> bytes:
        """The stand-in's raw answer to ``request``, on a connection of its own."""
        self.forwarded += 1
        reader, writer = await asyncio.open_connection(*self.upstream)
        try:
            writer.write(request)
            await writer.drain()
            return await _read_response(reader)
        finally:
            writer.close()

    async def start(self) -> str:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Protocol(self), "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
