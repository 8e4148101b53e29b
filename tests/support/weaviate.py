"""The Weaviate client, without its waiting: retry backoff and polling sleeps skipped; and what
the installed client can do."""

from __future__ import annotations

import asyncio
import importlib.metadata
from typing import Any

import pytest

#: The installed weaviate-client as (major, minor).
CLIENT_VERSION = tuple(int(p) for p in importlib.metadata.version("weaviate-client").split(".")[:2])

#: The async batch stream (``collection.batch.stream()``) and the client's ``X-Weaviate-Client``
#: header came with weaviate-client 4.20, which needs Python 3.10: the clients of Python 3.9 have
#: neither.
needs_batch_stream = pytest.mark.skipif(
    CLIENT_VERSION < (4, 20), reason="the async batch stream came with weaviate-client 4.20"
)


class FastAsyncio:
    """``asyncio`` for a client module whose ``sleep`` is skipped (not slept); the rest is real.

    ``monkeypatch.setattr(weaviate.retry, "asyncio", FastAsyncio())``: the gRPC retry backoff.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, delay: float, result: Any = None) -> Any:
        await asyncio.sleep(0)
        return result


def missing_in_this_client(message: str) -> bool:
    """A warning of ``instrument()`` that a patch target is missing, for one this client predates:
    ``grpc_batch_stream`` (the batch stream's) is not in clients before 4.20."""
    return CLIENT_VERSION < (4, 20) and message.startswith(
        "cannot instrument weaviate.connect.v4.ConnectionAsync.grpc_batch_stream "
    )
