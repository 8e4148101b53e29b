"""The Weaviate client, without its waiting: retry backoff and polling sleeps skipped."""

from __future__ import annotations

import asyncio
from typing import Any


class FastAsyncio:
    """``asyncio`` for a client module whose ``sleep`` is skipped (not slept); the rest is real.

    ``monkeypatch.setattr(weaviate.retry, "asyncio", FastAsyncio())``: the gRPC retry backoff.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, delay: float, result: Any = None) -> Any:
        await asyncio.sleep(0)
        return result
