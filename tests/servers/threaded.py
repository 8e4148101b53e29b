"""Run an async stand-in server on its own event loop in a background thread.

Tests that drive a subprocess (``opentelemetry-instrument``), the demo and the benchmarks need a
server that keeps answering while the calling thread blocks; this gives any stand-in with
``async start()`` / ``async stop()`` that life, and stops it again on exit.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Generic, Protocol, TypeVar


class _StandIn(Protocol):
    async def start(self) -> Any: ...

    async def stop(self) -> Any: ...


S = TypeVar("S", bound=_StandIn)


class InThread(Generic[S]):
    """Context manager: ``with InThread(ElasticsearchStandIn()) as es: es.url``."""

    def __init__(self, server: S) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="stand-in", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self) -> S:
        self._thread.start()
        self.call(self.server.start())
        return self.server

    def __exit__(self, *exc: object) -> None:
        try:
            self.call(self.server.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()
