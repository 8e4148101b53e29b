"""Loopback Elastic APM Server (intake v2) for tests.

The real ``elasticapm`` agent sends to :class:`ApmIntake` over a real socket on 127.0.0.1, and tests
assert on the transactions, spans, errors and metricsets it received. :func:`make_apm_client` builds
an agent client that sends to it quickly and quietly.

Typical use, intake in the test's own event loop (the agent sends from its own thread)::

    async with ApmIntake() as intake:
        client = make_apm_client(intake.url)
        client.begin_transaction("request")
        ...
        client.end_transaction("GET /x", "HTTP 2xx")
        await intake.flush(client)          # everything queued so far has now arrived
        (transaction,) = intake.transactions
        await asyncio.to_thread(close_apm_client, client)

From synchronous code, run it with ``InThread(ApmIntake())`` and use :meth:`ApmIntake.flush_sync`
and :meth:`ApmIntake.wait_for_sync`.
"""

from __future__ import annotations

import asyncio
import gzip
import inspect
import json
import socket
import threading
import time
import zlib
from typing import TYPE_CHECKING, Any, Callable, Optional

from aiohttp import web

if TYPE_CHECKING:
    import elasticapm

__all__ = ["ApmIntake", "close_apm_client", "make_apm_client"]

#: The APM Server version :class:`ApmIntake` reports by default (``GET /``).
DEFAULT_SERVER_VERSION = "8.15.0"

_EVENTS_PATH = "/intake/v2/events"
_CONFIG_PATH = "/config/v1/agents"
_KINDS = ("metadata", "transaction", "span", "error", "metricset", "log")

Predicate = Callable[["ApmIntake"], bool]


class _BadBody(Exception):
    pass


# Older aiohttp servers always decompress request bodies themselves (no way to turn it off).
_CAN_SKIP_DECOMPRESS = "auto_decompress" in inspect.signature(web.RequestHandler).parameters


def _decode_body(raw: bytes, encoding: str) -> bytes:
    """Undo the request's Content-Encoding (gzip, deflate, or none)."""
    if not raw or encoding in ("", "identity") or not _CAN_SKIP_DECOMPRESS:
        # The agent's forced flush with nothing buffered is an *empty* body labelled gzip.
        return raw
    try:
        if encoding in ("gzip", "x-gzip"):
            return gzip.decompress(raw)
        if encoding == "deflate":
            try:
                return zlib.decompress(raw)  # zlib-wrapped, as RFC 9110 says
            except zlib.error:
                return zlib.decompress(raw, -zlib.MAX_WBITS)  # raw deflate, as some clients send
    except (OSError, EOFError, zlib.error) as exc:
        raise _BadBody(f"cannot decode {encoding} body: {exc}") from exc
    raise _BadBody(f"unsupported Content-Encoding {encoding!r}")


def _describe_predicate(predicate: Predicate) -> str:
    try:
        text = inspect.getsource(predicate).strip()
    except (OSError, TypeError):
        text = repr(predicate)
    return text if len(text) <= 200 else text[:197] + "..."


def _listing(events: list[dict[str, Any]], label: Callable[[dict[str, Any]], str]) -> str:
    if not events:
        return "0"
    shown = ", ".join(label(e) for e in events[:10])
    more = f", ... {len(events) - 10} more" if len(events) > 10 else ""
    return f"{len(events)} [{shown}{more}]"


def _transaction_label(t: dict[str, Any]) -> str:
    return f"{t.get('type')} {t.get('name')!r} sampled={t.get('sampled')}"


def _span_label(s: dict[str, Any]) -> str:
    return f"{s.get('type')}/{s.get('subtype')} {s.get('name')!r}"


def _error_label(e: dict[str, Any]) -> str:
    message = (e.get("exception") or {}).get("message") or (e.get("log") or {}).get("message")
    return repr(message)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ApmIntake:
    """A loopback APM Server: ``GET /`` (server info), ``POST /intake/v2/events``, central config.

    Every NDJSON line of an intake request is stored, by kind, in :attr:`metadata`,
    :attr:`transactions`, :attr:`spans`, :attr:`errors`, :attr:`metricsets` and :attr:`logs` (the
    agent sends one ``metadata`` line at the start of every request). :attr:`requests` has one
    entry per HTTP request; :attr:`rejected` the reasons of requests answered 400.

    :attr:`server_version` is what ``GET /`` reports. The agent asks once, from its sending
    thread, racing the test; to make version-dependent behaviour deterministic (e.g. unsampled
    transactions are sent only to servers < 8.0), also give the client ``server_version=(7, 17,
    0)``: it then skips the question.
    """

    def __init__(self) -> None:
        self.host: str = "127.0.0.1"
        self.port: int = 0
        self.server_version: str = DEFAULT_SERVER_VERSION
        self.metadata: list[dict[str, Any]] = []
        self.transactions: list[dict[str, Any]] = []
        self.spans: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.metricsets: list[dict[str, Any]] = []
        self.logs: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.rejected: list[str] = []
        self._forced_flushes = 0
        self._cond = threading.Condition()  # guards all of the above; notified per intake request
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._runner: Optional[web.AppRunner] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: pass it as the agent's ``server_url``."""
        if not self.port:
            raise RuntimeError("ApmIntake is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("ApmIntake is already started")
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/", self._server_info)
        app.router.add_post(_EVENTS_PATH, self._intake)
        app.router.add_route("GET", _CONFIG_PATH, self._agent_config)
        app.router.add_route("POST", _CONFIG_PATH, self._agent_config)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        # Decode bodies ourselves: we want to see (and test) what the agent really sends.
        handler_args: dict[str, Any] = {"auto_decompress": False} if _CAN_SKIP_DECOMPRESS else {}
        runner = web.AppRunner(app, access_log=None, **handler_args)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((self.host, 0))
            site = web.SockSite(runner, sock)
            await site.start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner = runner
        self._loop = asyncio.get_running_loop()
        self.port = sock.getsockname()[1]

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self._loop = None

    async def __aenter__(self) -> ApmIntake:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- inspection ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything received so far (the server keeps running)."""
        with self._cond:
            for events in (
                self.metadata,
                self.transactions,
                self.spans,
                self.errors,
                self.metricsets,
                self.logs,
                self.requests,
                self.rejected,
            ):
                events.clear()

    def spans_of(self, transaction: dict[str, Any]) -> list[dict[str, Any]]:
        """The spans whose ``transaction_id`` is this transaction's ``id``, in arrival order."""
        with self._cond:
            return [s for s in self.spans if s.get("transaction_id") == transaction.get("id")]

    def describe(self) -> str:
        """A one-paragraph summary of what was received, for assertion and timeout messages."""
        with self._cond:
            last = self.requests[-1] if self.requests else None
            requests = f"{len(self.requests)} request(s)"
            if last:
                requests += f" (last: {last['method']} {last['path_qs']} -> {last['status']})"
            parts = [
                requests,
                f"metadata: {len(self.metadata)}",
                "transactions: " + _listing(self.transactions, _transaction_label),
                "spans: " + _listing(self.spans, _span_label),
                "errors: " + _listing(self.errors, _error_label),
                f"metricsets: {len(self.metricsets)}",
                f"logs: {len(self.logs)}",
            ]
            if self.rejected:
                parts.append(f"rejected: {self.rejected[-3:]}")
            return "; ".join(parts)

    # -- waiting ------------------------------------------------------------------------------

    async def wait_for(self, predicate: Predicate, timeout: float = 10.0) -> None:
        """Return as soon as ``predicate(self)`` is true, else raise :class:`TimeoutError`.

        The predicate is checked now and again after every intake request (no polling); it runs
        under the intake's lock, so it sees a consistent state. Works from any event loop: the
        server's own, or another one when the server runs in a thread (``InThread``).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            with self._cond:
                if predicate(self):
                    return
                waiter: asyncio.Future[None] = loop.create_future()
                self._async_waiters.append((loop, waiter))
            remaining = deadline - loop.time()
            try:
                if remaining > 0:
                    await asyncio.wait({waiter}, timeout=remaining)
            finally:
                with self._cond:
                    if (loop, waiter) in self._async_waiters:
                        self._async_waiters.remove((loop, waiter))
                waiter.cancel()
            if not waiter.done() or waiter.cancelled():
                # timed out: one last look, then give up
                with self._cond:
                    if predicate(self):
                        return
                raise TimeoutError(self._timeout_message(predicate, timeout))

    def wait_for_sync(self, predicate: Predicate, timeout: float = 10.0) -> None:
        """:meth:`wait_for` from a thread other than the server's (e.g. when run via InThread)."""
        self._refuse_on_server_loop("wait_for_sync")
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self._timeout_message(predicate, timeout))
                self._cond.wait(remaining)

    async def flush(self, client: elasticapm.Client, timeout: float = 10.0) -> None:
        """Make the agent send everything it has queued, and wait until it has arrived here.

        This queues a *forced* flush on the agent's transport without blocking (the agent's own
        ``client._transport.flush()`` blocks the calling thread, which deadlocks when this server
        runs on the same event loop, and gives up after ``api_request_time``, 50 ms here). A
        forced flush always reaches a 127.0.0.1 server as a request with ``?flushed=true``, empty
        if nothing was queued, and the agent sends from a single thread in order; so once it is
        here, so is everything queued before it.
        """
        with self._cond:
            seen = self._forced_flushes
        client._transport.queue(None, None, flush=True)
        await self.wait_for(lambda intake: intake._forced_flushes > seen, timeout)

    def flush_sync(self, client: elasticapm.Client, timeout: float = 10.0) -> None:
        """:meth:`flush` for a thread other than the server's (e.g. when run via ``InThread``)."""
        self._refuse_on_server_loop("flush_sync")
        with self._cond:
            seen = self._forced_flushes
        client._transport.queue(None, None, flush=True)
        self.wait_for_sync(lambda intake: intake._forced_flushes > seen, timeout)

    def _refuse_on_server_loop(self, what: str) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return
        if running is self._loop:
            raise RuntimeError(
                f"ApmIntake.{what}() would block the event loop the intake runs on; "
                f"await the async variant instead"
            )

    def _timeout_message(self, predicate: Predicate, timeout: float) -> str:
        return (
            f"ApmIntake: condition not met within {timeout:g}s: {_describe_predicate(predicate)}\n"
            f"received: {self.describe()}"
        )

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()
            waiters, self._async_waiters = self._async_waiters, []
        for loop, waiter in waiters:
            try:
                loop.call_soon_threadsafe(_wake, waiter)
            except RuntimeError:  # that loop is closed; nobody is waiting any more
                pass

    # -- HTTP handlers ------------------------------------------------------------------------

    def _record(self, request: web.Request, status: int, events: int = 0) -> None:
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "path_qs": request.path_qs,
                "query": dict(request.query),
                "content_encoding": request.headers.get("Content-Encoding", ""),
                "content_type": request.headers.get("Content-Type", ""),
                "user_agent": request.headers.get("User-Agent", ""),
                "status": status,
                "events": events,
            }
        )

    async def _server_info(self, request: web.Request) -> web.Response:
        with self._cond:
            self._record(request, 200)
        return web.json_response(
            {
                "build_date": "2024-08-05T00:00:00Z",
                "build_sha": "0" * 40,
                "publish_ready": True,
                "version": self.server_version,
            }
        )

    async def _agent_config(self, request: web.Request) -> web.Response:
        await request.read()
        with self._cond:
            self._record(request, 200)
        # "no central config for this service": the agent keeps its local configuration.
        return web.json_response(
            {}, headers={"Cache-Control": "max-age=300, must-revalidate", "Etag": '"standin"'}
        )

    async def _not_found(self, request: web.Request) -> web.Response:
        with self._cond:
            self._record(request, 404)
        return web.json_response({"error": "404 page not found"}, status=404)

    async def _intake(self, request: web.Request) -> web.Response:
        raw = await request.read()
        encoding = request.headers.get("Content-Encoding", "").strip().lower()
        parsed: list[tuple[str, dict[str, Any]]] = []
        problems: list[str] = []
        try:
            lines = _decode_body(raw, encoding).decode("utf-8").splitlines()
        except (_BadBody, UnicodeDecodeError) as exc:
            lines, problems = [], [str(exc)]
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                problems.append(f"line {number}: invalid JSON: {exc}")
                continue
            if not (isinstance(obj, dict) and len(obj) == 1):
                problems.append(f"line {number}: expected an object with exactly one key")
                continue
            ((kind, payload),) = obj.items()
            if kind not in _KINDS or not isinstance(payload, dict):
                problems.append(f"line {number}: did not recognize object type {kind!r}")
                continue
            if not parsed and kind != "metadata":
                problems.append(f"line {number}: the first event must be metadata, got {kind!r}")
                break
            parsed.append((kind, payload))
        status = 400 if problems else 202
        with self._cond:
            for kind, payload in parsed:
                self._store(kind).append(payload)
            self._record(request, status, len(parsed))
            self.rejected.extend(problems)
            if request.query.get("flushed") == "true":
                self._forced_flushes += 1
        self._notify()
        if problems:
            return web.json_response(
                {"accepted": len(parsed), "errors": [{"message": p} for p in problems]},
                status=400,
            )
        return web.Response(status=202)

    def _store(self, kind: str) -> list[dict[str, Any]]:
        return {
            "metadata": self.metadata,
            "transaction": self.transactions,
            "span": self.spans,
            "error": self.errors,
            "metricset": self.metricsets,
            "log": self.logs,
        }[kind]


def make_apm_client(intake_url: str, **config: Any) -> elasticapm.Client:
    """A real ``elasticapm.Client`` that sends to ``intake_url`` quickly and quietly.

    Defaults (each overridable through ``**config``): service_name "test-service",
    api_request_time "50ms" (background flush interval; also how long the agent's own ``flush()``
    and ``close()`` wait), metrics off, central config off, no cloud metadata lookup, no log record
    factory, ``instrument=False``. With ``instrument=True`` this calls ``elasticapm.instrument()``
    like the framework integrations do; that patches libraries process-wide (undo with
    ``elasticapm.uninstrument()``). The bare Client never instruments anything by itself.

    ``ELASTIC_APM_*`` environment variables take precedence over these arguments in the agent;
    a client that would not send to ``intake_url`` is closed and refused with ``RuntimeError``.

    Flushing deterministically: ``await intake.flush(client)`` / ``intake.flush_sync(client)``.
    ``client._transport.flush()`` also works, but only from a thread other than the intake's
    loop, and raises ``ValueError("flush timed out")`` after ``api_request_time``.

    The new client becomes the agent's process-wide client (``elasticapm.get_client()``); release it
    with :func:`close_apm_client` (``await asyncio.to_thread(close_apm_client, client)`` when the
    intake runs on the calling event loop, since closing flushes and waits for the server).
    """
    import elasticapm

    settings: dict[str, Any] = {
        "service_name": "test-service",
        "server_url": intake_url,
        "api_request_time": "50ms",
        "metrics_interval": "0ms",
        "central_config": False,
        "cloud_provider": "none",
        "disable_log_record_factory": True,
        "instrument": False,
    }
    settings.update(config)
    client = elasticapm.Client(**settings)
    problems = []
    if str(client.config.server_url).rstrip("/") != str(settings["server_url"]).rstrip("/"):
        problems.append(
            f"server_url is {client.config.server_url!r}, not {settings['server_url']!r}"
            " (ELASTIC_APM_SERVER_URL set?)"
        )
    if not client.config.enabled or client.config.disable_send:
        problems.append("the agent is disabled (ELASTIC_APM_ENABLED / ELASTIC_APM_DISABLE_SEND?)")
    if problems:
        close_apm_client(client)
        raise RuntimeError("make_apm_client: " + "; ".join(problems))
    if client.config.instrument:
        elasticapm.instrument()
    return client


def close_apm_client(client: elasticapm.Client) -> None:
    """Close ``client`` (sends what is still queued, stops its thread) and unset the global client.

    Also clears the agent's current transaction and spans in the calling context, so a test that
    failed half-way does not leak an active transaction into the next one. Does not undo
    ``elasticapm.instrument()``.
    """
    import elasticapm.base
    from elasticapm.traces import execution_context

    try:
        client.close()  # also sets elasticapm.base.CLIENT_SINGLETON = None
    finally:
        elasticapm.base.CLIENT_SINGLETON = None
        execution_context.set_transaction(None)
        execution_context.unset_span(clear_all=True)
