"""A small asyncio proxy on 127.0.0.1 in front of a real server, that injects faults on demand.

Real servers do not answer 500, 429 or 502, reset a connection or stall half-way through an answer
when a test asks them to; this proxy does, in front of the real server, so every other byte the
client sees is the real server's.

* ``mode="http"`` (Elasticsearch, Weaviate REST): HTTP/1.1 parsed request by request. Every request
  it forwards is recorded in ``requests`` (method, path, headers, body size), so a test can look at
  what went over the wire (trace-context headers, for one). ``faults.add(...)`` plans, for requests
  matching a path pattern (and method): an answer of a given status (500, 429, 502 ...) instead of
  the server's, a connection reset before any answer, a delay before forwarding, or the real answer
  cut off half-way (the connection reset mid-response).
* ``mode="tcp"`` (Weaviate gRPC, HTTP/2): bytes pumped both ways, unparsed. ``faults.add(...)``
  applies to new connections (reset or delay); ``reset_next_request()`` resets a connection when the
  client next sends on it; ``delay_answers(seconds)`` holds back what the server sends;
  ``reset_all()`` resets every open connection now.
* ``gone()``: the node is gone: the listening socket closes (new connections are refused) and every
  open connection is reset.

It is bounded: it listens on 127.0.0.1 only and refuses a non-loopback upstream, serves at most
``max_connections`` connections and requests of at most ``max_body`` bytes, and closes itself after
``lifetime`` seconds whatever happens. Use it as ``async with FaultProxy(host, port) as proxy:``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import struct
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Pattern, Set, Tuple

__all__ = ["Fault", "FaultPlan", "FaultProxy", "ProxiedRequest"]

_REASONS = {
    400: "Bad Request",
    404: "Not Found",
    408: "Request Timeout",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


@dataclass
class ProxiedRequest:
    """One HTTP request as the proxy received it (before any fault)."""

    method: str
    path: str  # the request target: path and query string
    headers: List[Tuple[str, str]]
    body_size: int
    fault: Optional[str] = None  # the fault applied, if any

    def header(self, name: str) -> Optional[str]:
        """The first header of that name (case-insensitive), or ``None``."""
        lower = name.lower()
        for key, value in self.headers:
            if key.lower() == lower:
                return value
        return None

    @property
    def header_map(self) -> Dict[str, str]:
        """Headers by lower-cased name (the last one wins)."""
        return {key.lower(): value for key, value in self.headers}


@dataclass
class Fault:
    """What to do with matching requests (HTTP) or new connections (TCP)."""

    path: Optional[Pattern[str]] = None
    method: Optional[str] = None
    status: Optional[int] = None  # answer this status instead of forwarding
    body: Optional[bytes] = None  # the answer's body (default: a small JSON error)
    headers: Tuple[Tuple[str, str], ...] = ()  # the answer's extra headers
    reset: bool = False  # reset the connection before answering
    delay: float = 0.0  # seconds to wait before going on (forwarding, answering ...)
    drop_mid_response: bool = False  # forward, then reset half-way through the real answer
    times: int = 1  # how many requests it applies to; -1: all
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times != -1 and self.hits >= self.times:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or self.path.search(path) is not None

    def describe(self) -> str:
        if self.status is not None:
            return f"status {self.status}"
        if self.reset:
            return "reset"
        if self.drop_mid_response:
            return "drop mid-response"
        return f"delay {self.delay}s"


class FaultPlan:
    def __init__(self) -> None:
        self._faults: List[Fault] = []

    def add(
        self,
        path: Optional[str] = None,
        *,
        method: Optional[str] = None,
        status: Optional[int] = None,
        body: Any = None,
        headers: Optional[Dict[str, str]] = None,
        reset: bool = False,
        delay: float = 0.0,
        drop_mid_response: bool = False,
        times: int = 1,
    ) -> Fault:
        """Plan a fault for requests whose target matches ``path`` (a regex; ``None``: any)."""
        if isinstance(body, str):
            body = body.encode()
        fault = Fault(
            path=re.compile(path) if path is not None else None,
            method=method,
            status=status,
            body=body,
            headers=tuple((headers or {}).items()),
            reset=reset,
            delay=delay,
            drop_mid_response=drop_mid_response,
            times=times,
        )
        self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Optional[Fault]:
        for fault in self._faults:
            if fault.matches(method, path):
                fault.hits += 1
                return fault
        return None

    def clear(self) -> None:
        self._faults.clear()


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0: the peer sees a TCP reset, not an orderly close."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.close()


class _TooBig(Exception):
    pass


class FaultProxy:
    """``async with FaultProxy("127.0.0.1", 9200) as proxy: ... proxy.url ...``"""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        mode: str = "http",
        lifetime: float = 300.0,
        max_connections: int = 256,
        max_body: int = 64 * 1024 * 1024,
    ) -> None:
        if mode not in ("http", "tcp"):
            raise ValueError("mode must be 'http' or 'tcp'")
        if not _is_loopback(upstream_host):
            raise ValueError(f"the fault proxy only fronts loopback servers, not {upstream_host!r}")
        self.upstream = (upstream_host, int(upstream_port))
        self.mode = mode
        self.lifetime = lifetime
        self.max_connections = max_connections
        self.max_body = max_body
        self.faults = FaultPlan()
        self.requests: List[ProxiedRequest] = []
        self.connections = 0  # accepted so far
        self.port = 0
        self._server: Optional[asyncio.AbstractServer] = None
        self._writers: Set[asyncio.StreamWriter] = set()
        self._tasks: Set[asyncio.Task[Any]] = set()
        self._expiry: Optional[asyncio.TimerHandle] = None
        self._arrived: Optional[asyncio.Event] = None
        # tcp mode
        self._reset_next = False
        self._answer_delay = 0.0

    # -- life -------------------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FaultProxy:
        loop = asyncio.get_running_loop()
        self._arrived = asyncio.Event()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port or 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._expiry = loop.call_later(self.lifetime, self._expire)
        return self

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _expire(self) -> None:
        task = asyncio.ensure_future(self.stop())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()

    async def stop(self) -> None:
        """Stop listening, reset every connection, wait for the handlers to end."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        self._close_listener()
        self.reset_all()
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 5)
            except (asyncio.TimeoutError, Exception):
                pass
            self._server = None

    async def gone(self) -> None:
        """The node is gone: no more connections accepted, the open ones reset."""
        self._close_listener()
        self.reset_all()
        await asyncio.sleep(0)

    def reset_all(self) -> None:
        for writer in list(self._writers):
            _reset(writer)
        self._writers.clear()

    # -- test helpers ---------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget recorded requests and planned faults."""
        self.requests.clear()
        self.faults.clear()
        self._reset_next = False
        self._answer_delay = 0.0
        if self._arrived is not None:
            self._arrived = asyncio.Event()

    @property
    def arrived(self) -> asyncio.Event:
        """Set when a request (HTTP) or client data (TCP) arrives: the call is in flight."""
        assert self._arrived is not None, "start() the proxy first"
        return self._arrived

    def rearm(self) -> asyncio.Event:
        self._arrived = asyncio.Event()
        return self._arrived

    def paths(self) -> List[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    def reset_next_request(self) -> None:
        """TCP mode: reset the connection the next time the client sends on it."""
        self._reset_next = True

    def delay_answers(self, seconds: float) -> None:
        """TCP mode: hold back what the server sends by ``seconds`` (0: no more delay)."""
        self._answer_delay = seconds

    # -- connections ----------------------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if self.connections >= self.max_connections:
            _reset(writer)
            return
        self.connections += 1
        self._tasks.add(task)
        self._writers.add(writer)
        upstream_writer: Optional[asyncio.StreamWriter] = None
        try:
            if self.mode == "tcp":
                fault = self.faults.take("CONNECT", "")
                if fault is not None and fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault is not None and fault.reset:
                    _reset(writer)
                    return
            up_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            self._writers.add(upstream_writer)
            if self.mode == "tcp":
                await self._pump_tcp(reader, writer, up_reader, upstream_writer)
            else:
                await self._serve_http(reader, writer, up_reader, upstream_writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        except _TooBig:
            _reset(writer)
        except asyncio.CancelledError:
            # stop() cancels the handlers: end normally (Python 3.11's start_server callback
            # calls task.exception(), which raises for a cancelled task and logs an error).
            _reset(writer)
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    self._writers.discard(w)
                    if not w.is_closing():
                        w.close()
            self._tasks.discard(task)

    # -- TCP ------------------------------------------------------------------------------------
    async def _pump_tcp(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        async def client_to_server() -> None:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if self._arrived is not None:
                    self._arrived.set()
                if self._reset_next:
                    self._reset_next = False
                    _reset(writer)
                    _reset(up_writer)
                    return
                up_writer.write(data)
                await up_writer.drain()
            up_writer.close()

        async def server_to_client() -> None:
            while True:
                data = await up_reader.read(65536)
                if not data:
                    break
                if self._answer_delay:
                    await asyncio.sleep(self._answer_delay)
                writer.write(data)
                await writer.drain()
            writer.close()

        pumps = [
            asyncio.ensure_future(client_to_server()),
            asyncio.ensure_future(server_to_client()),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

    # -- HTTP -----------------------------------------------------------------------------------
    async def _read_body(self, reader: asyncio.StreamReader, headers: Dict[str, str]) -> bytes:
        """The body as it was framed (chunked bodies are kept chunked, byte for byte)."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raw = bytearray()
            while True:
                size_line = await reader.readuntil(b"\r\n")
                raw += size_line
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if len(raw) + size > self.max_body:
                    raise _TooBig()
                if size == 0:
                    while True:  # trailers, then the empty line
                        line = await reader.readuntil(b"\r\n")
                        raw += line
                        if line == b"\r\n":
                            return bytes(raw)
                raw += await reader.readexactly(size + 2)
        length = int(headers.get("content-length", "0") or 0)
        if length > self.max_body:
            raise _TooBig()
        return await reader.readexactly(length) if length else b""

    @staticmethod
    def _parse_head(head: bytes) -> Tuple[str, List[Tuple[str, str]], Dict[str, str]]:
        lines = head.decode("latin-1").split("\r\n")
        pairs: List[Tuple[str, str]] = []
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            pairs.append((name.strip(), value.strip()))
        return lines[0], pairs, {k.lower(): v for k, v in pairs}

    async def _serve_http(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return  # the client closed its keep-alive connection
            request_line, pairs, headers = self._parse_head(head)
            method, _, rest = request_line.partition(" ")
            target = rest.rsplit(" ", 1)[0]
            body = await self._read_body(reader, headers)
            record = ProxiedRequest(method, target, pairs, len(body))
            fault = self.faults.take(method, target)
            if fault is not None:
                record.fault = fault.describe()
            self.requests.append(record)
            if self._arrived is not None:
                self._arrived.set()
            if fault is not None and fault.delay:
                await asyncio.sleep(fault.delay)
            if fault is not None and fault.reset:
                _reset(writer)
                return
            if fault is not None and fault.status is not None:
                writer.write(self._answer(fault, method))
                await writer.drain()
                continue
            up_writer.write(head + body)
            await up_writer.drain()
            response_head = await up_reader.readuntil(b"\r\n\r\n")
            status_line, _, response_headers = self._parse_head(response_head)
            status = int(status_line.split(" ", 2)[1])
            if fault is not None and fault.drop_mid_response:
                response_body = await self._read_response_body(
                    up_reader, response_headers, method, status
                )
                writer.write(response_head + response_body[: max(1, len(response_body) // 2)])
                await writer.drain()
                _reset(writer)
                return
            writer.write(response_head)
            await self._copy_response_body(up_reader, writer, response_headers, method, status)
            await writer.drain()
            if response_headers.get("connection", "").lower() == "close":
                return

    def _answer(self, fault: Fault, method: str) -> bytes:
        status = fault.status or 500
        body = fault.body
        if body is None:
            body = (
                b'{"error":{"type":"proxy_fault","reason":"injected by the fault proxy"},"status":'
                + str(status).encode()
                + b"}"
            )
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
        extra = {name.lower() for name, _ in fault.headers}
        if "content-type" not in extra:
            head.append("Content-Type: application/json")
        head.extend(f"{name}: {value}" for name, value in fault.headers)
        head.append(f"Content-Length: {len(body)}")
        payload = b"" if method == "HEAD" else body
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload

    @staticmethod
    def _has_body(method: str, status: int) -> bool:
        return not (method == "HEAD" or 100 <= status < 200 or status in (204, 304))

    async def _read_response_body(
        self, reader: asyncio.StreamReader, headers: Dict[str, str], method: str, status: int
    ) -> bytes:
        if not self._has_body(method, status):
            return b""
        if "chunked" in headers.get("transfer-encoding", "").lower() or "content-length" in headers:
            return await self._read_body(reader, headers)
        return await reader.read(self.max_body)  # until the server closes

    async def _copy_response_body(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        headers: Dict[str, str],
        method: str,
        status: int,
    ) -> None:
        if not self._has_body(method, status):
            return
        if "chunked" in headers.get("transfer-encoding", "").lower() or "content-length" in headers:
            writer.write(await self._read_body(reader, headers))
            return
        while True:  # no framing: the body ends when the server closes
            data = await reader.read(65536)
            if not data:
                return
            writer.write(data)
            await writer.drain()
