"""Loopback Elastic APM Server (intake v2) for the tests, the example app and the benchmarks.

The real ``elasticapm`` agent sends to :class:`ApmIntake` over a real socket on 127.0.0.1, and tests
assert on the transactions, spans and errors it received. :func:`make_apm_client` builds an agent
client that sends to it quickly and quietly.

Typical use, with the intake on its own thread (``InThread``, as the ``apm_intake`` fixture runs it)::

    client = make_apm_client(intake.url)
    client.begin_transaction("request")
    ...
    client.end_transaction("GET /x", "HTTP 2xx")
    await intake.flush(client)          # everything queued so far has now arrived
    (transaction,) = intake.transactions
    close_apm_client(client)

From synchronous code, use :meth:`ApmIntake.flush_sync`.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Optional

from aiohttp import web

if TYPE_CHECKING:
    import elasticapm

__all__ = ["ApmIntake", "close_apm_client", "make_apm_client"]

#: The APM Server version :class:`ApmIntake` reports (``GET /``).
DEFAULT_SERVER_VERSION = "8.15.0"

Predicate = Callable[["ApmIntake"], bool]


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ApmIntake:
    """A loopback APM Server: ``GET /`` (server info) and ``POST /intake/v2/events``.

    Every NDJSON line of an intake request is stored, by kind, in :attr:`metadata`,
    :attr:`transactions`, :attr:`spans`, :attr:`errors`, :attr:`metricsets` and :attr:`logs` (the
    agent sends one ``metadata`` line at the start of every request); :attr:`requests` counts the
    HTTP requests.
    """

    def __init__(self) -> None:
        self.host: str = "127.0.0.1"
        self.port: int = 0
        self.metadata: list[dict[str, Any]] = []
        self.transactions: list[dict[str, Any]] = []
        self.spans: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.metricsets: list[dict[str, Any]] = []
        self.logs: list[dict[str, Any]] = []
        self.requests = 0
        self._forced_flushes = 0
        self._cond = threading.Condition()  # guards all of the above; notified per intake request
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._runner: Optional[web.AppRunner] = None

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: pass it as the agent's ``server_url``."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/", self._server_info)
        app.router.add_post("/intake/v2/events", self._intake)
        # Decode bodies ourselves: the agent's forced flush with nothing queued is an *empty*
        # body labelled gzip, which aiohttp would refuse to decompress.
        runner = web.AppRunner(app, access_log=None, auto_decompress=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

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
            ):
                events.clear()
            self.requests = 0

    def spans_of(self, transaction: dict[str, Any]) -> list[dict[str, Any]]:
        """The spans whose ``transaction_id`` is this transaction's ``id``, in arrival order."""
        with self._cond:
            return [s for s in self.spans if s.get("transaction_id") == transaction.get("id")]

    def describe(self) -> str:
        """What was received, for assertion and timeout messages."""
        with self._cond:
            return (
                f"{self.requests} request(s); transactions: "
                f"{[t.get('name') for t in self.transactions]}; spans: "
                f"{[s.get('name') for s in self.spans]}; errors: {len(self.errors)}"
            )

    # -- waiting ------------------------------------------------------------------------------

    async def wait_for(self, predicate: Predicate, timeout: float = 10.0) -> None:
        """Return as soon as ``predicate(self)`` is true, else raise :class:`TimeoutError`.

        The predicate is checked now and again after every intake request (no polling); it runs
        under the intake's lock. Works from any event loop, the server's own or another one.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            with self._cond:
                if predicate(self):
                    return
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(f"ApmIntake: not within {timeout:g}s: {self.describe()}")
                waiter: asyncio.Future[None] = loop.create_future()
                self._async_waiters.append((loop, waiter))
            try:
                await asyncio.wait({waiter}, timeout=remaining)
            finally:
                with self._cond:
                    if (loop, waiter) in self._async_waiters:
                        self._async_waiters.remove((loop, waiter))

    async def flush(self, client: elasticapm.Client, timeout: float = 10.0) -> None:
        """Make the agent send everything it has queued, and wait until it has arrived here.

        This queues a *forced* flush on the agent's transport without blocking (the agent's own
        ``client._transport.flush()`` blocks the calling thread, and gives up after
        ``api_request_time``, 50 ms here). A forced flush always reaches a 127.0.0.1 server as a
        request with ``?flushed=true``, empty if nothing was queued, and the agent sends from a
        single thread in order; so once it is here, so is everything queued before it.
        """
        with self._cond:
            seen = self._forced_flushes
        client._transport.queue(None, None, flush=True)
        await self.wait_for(lambda intake: intake._forced_flushes > seen, timeout)

    def flush_sync(self, client: elasticapm.Client, timeout: float = 10.0) -> None:
        """:meth:`flush` for a thread other than the server's (e.g. when run via ``InThread``)."""
        with self._cond:
            seen = self._forced_flushes
        client._transport.queue(None, None, flush=True)
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._forced_flushes <= seen:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"ApmIntake: no flush within {timeout:g}s")
                self._cond.wait(remaining)

    # -- HTTP handlers ------------------------------------------------------------------------

    async def _server_info(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "build_date": "2024-08-05T00:00:00Z",
                "build_sha": "0" * 40,
                "publish_ready": True,
                "version": DEFAULT_SERVER_VERSION,
            }
        )

    async def _intake(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if raw and request.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        events = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
        stores = {
            "metadata": self.metadata,
            "transaction": self.transactions,
            "span": self.spans,
            "error": self.errors,
            "metricset": self.metricsets,
            "log": self.logs,
        }
        with self._cond:
            for event in events:
                ((kind, payload),) = event.items()
                stores[kind].append(payload)
            self.requests += 1
            if request.query.get("flushed") == "true":
                self._forced_flushes += 1
            self._cond.notify_all()
            waiters, self._async_waiters = self._async_waiters, []
        for loop, waiter in waiters:
            loop.call_soon_threadsafe(_wake, waiter)
        return web.Response(status=202)


def make_apm_client(intake_url: str, **config: Any) -> elasticapm.Client:
    """A real ``elasticapm.Client`` that sends to ``intake_url`` quickly and quietly.

    Defaults (each overridable through ``**config``): service_name "test-service",
    api_request_time "50ms" (background flush interval; also how long the agent's own ``flush()``
    and ``close()`` wait), metrics off, central config off, no cloud metadata lookup, no log record
    factory, ``instrument=False``. With ``instrument=True`` this calls ``elasticapm.instrument()``
    like the framework integrations do; that patches libraries process-wide (undo with
    ``elasticapm.uninstrument()``). The bare Client never instruments anything by itself.

    The new client becomes the agent's process-wide client (``elasticapm.get_client()``); release it
    with :func:`close_apm_client`.
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
