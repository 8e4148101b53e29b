"""What Elastic's intake code made of a traced run: the documents APM Server would index.

The real tier's APM intake (``tests/real/apm_intake``, apm-data behind a loopback port) takes both
ways an application reaches Elastic: the agent's intake v2 and OTLP/HTTP. ``GET /_docs`` hands back
the documents, per trace. Two recorders drive the two paths the same way:

* :class:`AgentPath`: a real ``elasticapm`` client sending to the intake, the ``apm`` backend on;
  ``transaction()`` is the application's request, ``await docs()`` flushes the agent (a forced
  flush: the intake answers ``/_docs`` once it has handled it) and returns that trace's documents.
* :class:`OtlpPath`: an OpenTelemetry SDK ``TracerProvider`` exporting OTLP/HTTP protobuf to the
  intake (``SimpleSpanProcessor``: each span is in the intake when it has ended), the ``otel``
  backend on; ``transaction()`` is a SERVER span, as a web framework's instrumentation starts.

Documents are classified as APM Server does by what they carry: ``error``, else a ``span`` with a
name, else a ``transaction`` with a name (a transaction document also has ``span.id``; an agent's
span document also has ``transaction.id``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.parse
import urllib.request
from typing import Any, Dict, Iterator, List, Optional

import instrumentation

Doc = Dict[str, Any]


def fetch(url: str, trace_id: str, flushes: int = 0) -> Dict[str, Any]:
    """``GET /_docs``: the documents of ``trace_id``, once ``flushes`` agent flushes are in."""
    query = urllib.parse.urlencode({"trace_id": trace_id, "flushes": flushes})
    with urllib.request.urlopen(f"{url}/_docs?{query}", timeout=15) as response:
        return dict(json.loads(response.read()))


def kind(doc: Doc) -> str:
    if "error" in doc:
        return "error"
    if "name" in doc.get("span", {}):
        return "span"
    if "name" in doc.get("transaction", {}):
        return "transaction"
    return "other"


class Docs(List[Doc]):
    """One trace's documents, with the lookups the tests need."""

    def of(self, which: str) -> List[Doc]:
        return [doc for doc in self if kind(doc) == which]

    @property
    def transaction(self) -> Doc:
        (transaction,) = self.of("transaction")
        return transaction

    def span(self, name: str) -> Doc:
        (span,) = [doc for doc in self.of("span") if doc["span"]["name"] == name]
        return span

    def errors_of(self, span: Doc) -> List[Doc]:
        return [doc for doc in self.of("error") if doc["parent"]["id"] == span["span"]["id"]]

    def outcomes(self) -> List[tuple[str, str]]:
        """(span name, outcome) of every span document, sorted."""
        return sorted((doc["span"]["name"], doc["event"]["outcome"]) for doc in self.of("span"))


class AgentPath:
    """The Elastic APM agent with our ``apm`` backend, sending intake v2 to the real intake."""

    name = "agent"

    def __init__(self, url: str, **config: Any) -> None:
        from tests.servers.apm_intake import make_apm_client

        config.setdefault("span_compression_enabled", False)
        config.setdefault("server_version", (9, 2, 0))
        self.url = url
        self.client = make_apm_client(url, service_name="search-api", **config)
        self.trace_id: Optional[str] = None

    def instrument(self, **options: Any) -> None:
        instrumentation.uninstrument()
        instrumentation.instrument(backends=["apm"], **options)

    @contextlib.contextmanager
    def transaction(self, name: str = "GET /search") -> Iterator[None]:
        transaction = self.client.begin_transaction("request")
        self.trace_id = transaction.trace_parent.trace_id
        try:
            yield
        finally:
            self.client.end_transaction(name, "HTTP 2xx")

    def capture_exception(self) -> None:
        """What the application (or its framework integration) does with the exception being
        handled (call it in the ``except`` block)."""
        self.client.capture_exception()

    async def docs(self) -> Docs:
        assert self.trace_id is not None
        seen = await asyncio.to_thread(fetch, self.url, "-")
        self.client._transport.queue(None, None, flush=True)
        found = await asyncio.to_thread(fetch, self.url, self.trace_id, seen["flushes"] + 1)
        assert found["flushes"] > seen["flushes"], "the agent's flush did not reach the intake"
        return Docs(found["docs"])

    def close(self) -> None:
        from tests.servers.apm_intake import close_apm_client

        instrumentation.uninstrument()
        close_apm_client(self.client)


class OtlpPath:
    """The OpenTelemetry SDK exporting OTLP/HTTP (protobuf) to the real intake, ``otel`` backend."""

    name = "otlp"

    def __init__(self, url: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        self.url = url
        self.provider = TracerProvider(resource=Resource.create({"service.name": "search-api"}))
        exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", timeout=10)
        self.provider.add_span_processor(SimpleSpanProcessor(exporter))
        self.trace_id: Optional[str] = None

    def instrument(self, **options: Any) -> None:
        instrumentation.uninstrument()
        instrumentation.instrument(backends=["otel"], tracer_provider=self.provider, **options)

    @contextlib.contextmanager
    def transaction(self, name: str = "GET /search") -> Iterator[None]:
        from opentelemetry.trace import SpanKind

        tracer = self.provider.get_tracer("tests.real.apm_docs")
        with tracer.start_as_current_span(name, kind=SpanKind.SERVER) as root:
            self.trace_id = format(root.get_span_context().trace_id, "032x")
            yield

    def capture_exception(self) -> None:
        """Nothing to do: the failed call's span carries the ``exception`` event, which the intake
        turns into the error."""

    async def docs(self) -> Docs:
        assert self.trace_id is not None
        assert self.provider.force_flush(10_000)
        return Docs((await asyncio.to_thread(fetch, self.url, self.trace_id))["docs"])

    def close(self) -> None:
        instrumentation.uninstrument()
        self.provider.shutdown()


class RealApmRecorder:
    """The real tier's ``apm`` fixture: ``ApmRecorder``'s interface (``transaction()``,
    ``await spans()``) on the real intake. ``spans()`` returns the span *documents* of the last
    transaction (``doc["span"]["name"]``, ``doc["event"]["outcome"]``, ...), checking that none
    arrived twice."""

    def __init__(self, url: str) -> None:
        self.path = AgentPath(url)
        self.client = self.path.client

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self.path.transaction("GET /reliability"):
            yield

    async def spans(self) -> List[Doc]:
        spans = (await self.path.docs()).of("span")
        ids = [doc["span"]["id"] for doc in spans]
        assert len(ids) == len(set(ids)), f"an APM span was indexed twice: {spans}"
        return spans

    def close(self) -> None:
        self.path.close()
