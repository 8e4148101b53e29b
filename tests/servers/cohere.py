"""A loopback Cohere-compatible endpoint for the real Weaviate's ``text2vec-cohere`` and
``generative-cohere`` modules.

Weaviate calls the URL a request names in its ``X-Cohere-Baseurl`` header (else Cohere's own):
``POST /v2/embed`` to vectorize objects and ``near_text`` queries, ``POST /v2/chat`` for each
generation of a ``generate.*`` call. The request and answer shapes are the ones Weaviate 1.39's
module clients send and read (``usecases/modulecomponents/clients/cohere/cohere.go``,
``modules/generative-cohere/clients/cohere.go``):

* embed: ``{"texts": [...], "model", "input_type", "embedding_types": ["float"], "truncate"}`` ->
  ``{"id", "embeddings": {"float": [[...], ...]}, "meta": {"billed_units": {"input_tokens"}}}``;
  the vectors count the words of each text in ``DIMENSIONS`` buckets (a word's bucket is fixed),
  so texts that share words are near each other.
* chat: ``{"model", "messages": [{"role": "user", "content": [{"type": "text", "text"}]}], ...}``
  -> ``{"id", "finish_reason": "COMPLETE", "message": {"role": "assistant", "content": [{"type":
  "text", "text"}]}, "usage": {"billed_units": {...}, "tokens": {...}}}``, where the billed input
  tokens are the prompt's words and the tokens the model saw are ``TEMPLATE_TOKENS`` more (as
  Cohere's own answers count the chat template too); the output is the answer's words.

Every request is kept in ``requests`` (path, body, headers) for the tests to check what Weaviate
sent (the model, the API key it was given). An ``{"error": ...}`` queued with ``fail_next`` is
answered once, with its status, as Cohere answers an error.
"""

from __future__ import annotations

import hashlib
import math
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from aiohttp import web

DIMENSIONS = 16
#: The tokens of Cohere's chat template that the answer's ``tokens.input_tokens`` counts beside
#: the prompt's own (``billed_units.input_tokens``).
TEMPLATE_TOKENS = 7


@dataclass
class CohereRequest:
    path: str
    body: Dict[str, Any]
    headers: Dict[str, str]


def words(text: str) -> List[str]:
    return text.lower().replace(".", " ").replace(",", " ").replace(":", " ").split()


def embed(text: str) -> List[float]:
    """The vector of ``text``: its words counted per bucket, normalised."""
    vector = [0.0] * DIMENSIONS
    for word in words(text):
        vector[hashlib.sha256(word.encode()).digest()[0] % DIMENSIONS] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def answer(prompt: str) -> str:
    """The generated text for a prompt: short, and naming how long the prompt was."""
    return f"Loopback Cohere read {len(words(prompt))} words."


def usage(prompt: str, text: str) -> Tuple[int, int]:
    """(input, output) tokens the chat answer reports in ``tokens``."""
    return len(words(prompt)) + TEMPLATE_TOKENS, len(words(text))


class CohereStandIn:
    """``with InThread(CohereStandIn()) as cohere: cohere.url``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.requests: List[CohereRequest] = []
        self._failures: List[Tuple[int, str]] = []
        self._lock = threading.Lock()
        self._runner: Optional[web.AppRunner] = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def fail_next(self, status: int, message: str) -> None:
        """Answer the next request with ``status`` and Cohere's error body."""
        with self._lock:
            self._failures.append((status, message))

    def chats(self) -> List[CohereRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == "/v2/chat"]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v2/embed", self._embed)
        app.router.add_post("/v2/chat", self._chat)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _take(self, request: web.Request) -> Tuple[Dict[str, Any], Optional[web.Response]]:
        body = await request.json()
        with self._lock:
            self.requests.append(CohereRequest(request.path, body, dict(request.headers)))
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            return body, web.json_response({"message": failure[1]}, status=failure[0])
        return body, None

    async def _embed(self, request: web.Request) -> web.Response:
        body, failed = await self._take(request)
        if failed is not None:
            return failed
        texts = [str(t) for t in body.get("texts") or []]
        return web.json_response(
            {
                "id": str(uuid.uuid4()),
                "embeddings": {"float": [embed(t) for t in texts]},
                "texts": texts,
                "meta": {"billed_units": {"input_tokens": sum(len(words(t)) for t in texts)}},
            }
        )

    async def _chat(self, request: web.Request) -> web.Response:
        body, failed = await self._take(request)
        if failed is not None:
            return failed
        prompt = " ".join(
            str(part.get("text", ""))
            for message in body.get("messages") or []
            for part in message.get("content") or []
            if part.get("type") == "text"
        )
        text = answer(prompt)
        tokens_in, tokens_out = usage(prompt, text)
        return web.json_response(
            {
                "id": str(uuid.uuid4()),
                "finish_reason": "COMPLETE",
                "message": {"role": "assistant", "content": [{"type": "text", "text": text}]},
                "usage": {
                    "billed_units": {
                        "input_tokens": tokens_in - TEMPLATE_TOKENS,
                        "output_tokens": tokens_out,
                    },
                    "tokens": {"input_tokens": tokens_in, "output_tokens": tokens_out},
                },
            }
        )
