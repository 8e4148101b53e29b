"""A small async client of our own: the library side of the fourth client the engine is tested with.

``ToyClient`` reads and searches documents of the Elasticsearch imitation over aiohttp (a real
socket). Every call passes through ``ToyClient._request``; ``tests.support.toy_instrumentation`` is
its instrumentation, written as a client module of the package is.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import aiohttp


class ToyError(Exception):
    """An answer with an HTTP status of 400 or more."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body


class ToyClient:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._session: Optional[aiohttp.ClientSession] = None

    async def get(self, index: str, id: str) -> Dict[str, Any]:
        return await self._request("GET", f"/{index}/_doc/{id}")

    async def search(self, index: str, query: Dict[str, Any]) -> Dict[str, Any]:
        return await self._request("POST", f"/{index}/_search", {"query": query})

    async def _request(
        self, method: str, path: str, body: Optional[Dict[str, Any]] = None
    ) -> Dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.request(method, self.url + path, json=body) as response:
            answer: Dict[str, Any] = await response.json(content_type=None)
            if response.status >= 400:
                raise ToyError(response.status, answer)
            return answer

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
