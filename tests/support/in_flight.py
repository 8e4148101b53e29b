"""A call provably in flight, and the application ending it there (cancelled, timed out).

The stand-ins log every request they receive; ``Arrivals`` in place of such a log lets a test
*await* "the request has arrived" instead of sleeping for it, and ``cancel_when`` cancels the call
at that moment, ``time_out_when`` makes the application's ``asyncio`` deadline expire then. Neither
depends on how fast the machine is: a busy one only takes longer to get there.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable

#: Seconds a stand-in holds back an answer that must never come in time: longer than any timeout
#: of the suite, so only the client's own deadline or the application ends the call, however busy
#: the machine. The stand-ins cut it short when they stop (or the client hangs up).
HELD_BACK = 300.0


async def within(seconds: float, awaitable: Awaitable[Any]) -> Any:
    """``asyncio.timeout`` (Python 3.11+), else ``asyncio.wait_for``: the application's deadline."""
    timeout = getattr(asyncio, "timeout", None)
    if timeout is None:  # pragma: no cover - Python < 3.11
        return await asyncio.wait_for(awaitable, seconds)
    async with timeout(seconds):
        return await awaitable


async def time_out_when(event: asyncio.Event, awaitable: Awaitable[Any]) -> Any:
    """``within``, with the deadline expiring once ``event`` is set (the call is in flight).

    On Python 3.11+ this is ``asyncio.timeout`` itself, rescheduled to "now" when ``event`` is set;
    before, ``asyncio.wait_for``'s own outcome: the call cancelled, ``asyncio.TimeoutError``.
    """
    timeout = getattr(asyncio, "timeout", None)
    loop = asyncio.get_running_loop()
    if timeout is None:  # pragma: no cover - Python < 3.11
        try:
            return await cancel_when(event, awaitable)
        except asyncio.CancelledError as exc:  # as wait_for raises it
            raise asyncio.TimeoutError() from exc
    async with timeout(None) as deadline:

        async def expire() -> None:
            await event.wait()
            deadline.reschedule(loop.time())

        expiry = asyncio.ensure_future(expire())
        try:
            return await awaitable
        finally:
            expiry.cancel()


async def cancel_when(event: asyncio.Event, awaitable: Awaitable[Any]) -> Any:
    """Run ``awaitable`` as a task and cancel it once ``event`` is set (the call is in flight)."""
    task = asyncio.ensure_future(awaitable)
    waiter = asyncio.ensure_future(event.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    task.cancel()
    return await task


class Arrivals(list):  # type: ignore[type-arg]
    """A stand-in's request log that also wakes the test when a request arrives.

    The stand-ins append every request they receive to a list (``requests``, ``grpc_requests``,
    ``rest_requests``), possibly from another thread; swapping that list for this one lets a test
    *await* "the call is now in flight" instead of sleeping for it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, keep: Any = ()) -> None:
        super().__init__(keep)
        self._loop = loop
        self.arrived = asyncio.Event()

    def append(self, item: Any) -> None:
        super().append(item)
        try:
            self._loop.call_soon_threadsafe(self.arrived.set)
        except RuntimeError:  # the test's loop is closed: nobody is waiting any more
            pass

    def rearm(self) -> asyncio.Event:
        self.arrived = asyncio.Event()
        return self.arrived
