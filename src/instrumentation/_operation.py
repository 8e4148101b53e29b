"""What one traced client call *is*, independent of any backend.

A client module (``clients/elasticsearch.py``, ``clients/weaviate.py``) fills an ``Operation`` from
the library's request and response; each backend (``backends/otel.py``, ``backends/apm.py``) turns it
into telemetry. Neither side imports the other: this plain record is the whole interface.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Union

AttributeValue = Union[str, int, float, bool]


class Operation:
    """One logical database operation (one span per backend)."""

    __slots__ = (
        "attributes",
        "batch_size",
        "body",
        "collection",
        "detailed",
        "details",
        "error_type",
        "failed_count",
        "failed_count_key",
        "http_method",
        "leaf",
        "name",
        "namespace",
        "parameters",
        "query_text",
        "reason",
        "returned_rows",
        "rows_affected",
        "server_address",
        "server_port",
        "status_code",
        "system",
        "url",
    )

    def __init__(
        self,
        system: str,
        name: str,
        collection: Optional[str] = None,
        parameters: Optional[Dict[str, str]] = None,
    ) -> None:
        self.system = system
        self.name = name
        self.collection = collection
        #: ``db.operation.parameter.<key>`` values (Elasticsearch path parts such as ``id``).
        self.parameters = parameters
        #: The request body (or whatever the client module needs to read details from later).
        self.body: Any = None
        #: Fills the costly details (query text, batch size) from ``body``; backends call it through
        #: ``resolve`` only when they record, so an unsampled call never pays for it.
        self.details: Optional[Callable[[Operation, str, int], None]] = None
        #: Set by a backend that records more than the metric (a recording span, an APM span): the
        #: client's response reader then reads everything, not just what the metric needs.
        self.detailed = False
        self.query_text: Optional[str] = None
        self.batch_size: Optional[int] = None
        self.server_address: Optional[str] = None
        self.server_port: Optional[int] = None
        self.url: Optional[str] = None
        self.http_method: Optional[str] = None
        self.namespace: Optional[str] = None
        self.status_code: Optional[str] = None
        #: Set when the operation failed: ``error.type`` (status code, exception class, ...).
        self.error_type: Optional[str] = None
        #: The server's reason for the failure, as it said it (backends scrub it per capture mode):
        #: Elasticsearch's first root cause, Weaviate's error message or gRPC details.
        self.reason: Optional[str] = None
        #: Failed items of a partially failed batch, and the attribute that carries the count.
        self.failed_count: Optional[int] = None
        self.failed_count_key: Optional[str] = None
        self.returned_rows: Optional[int] = None
        self.rows_affected: Optional[int] = None
        #: Client-specific attributes (``elasticsearch.node.name``, ``weaviate.tenant``, ...).
        self.attributes: Optional[Dict[str, AttributeValue]] = None
        #: False for operations that contain other traced operations (helper calls such as
        #: ``async_bulk``): not a database call of their own (an INTERNAL span, no ``db.system``,
        #: no duration metric, no APM ``db`` span), and a backend must not silence what happens
        #: inside them.
        self.leaf = True

    @property
    def summary(self) -> str:
        """``db.query.summary`` and the span name: operation, then collection when there is one."""
        if self.collection:
            return f"{self.name} {self.collection}"
        return self.name

    def resolve(self, capture_query: str, max_length: int) -> None:
        """Run the client's ``details`` reader once (query text per capture mode, batch size)."""
        details = self.details
        if details is not None:
            self.details = None
            details(self, capture_query, max_length)

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        if self.attributes is None:
            self.attributes = {}
        self.attributes[key] = value

    def fail(self, error_type: str, reason: Optional[str] = None) -> None:
        """Mark the operation failed; the first cause recorded wins."""
        if self.error_type is None:
            self.error_type = error_type
            if reason:
                self.reason = reason

    def __repr__(self) -> str:
        return f"<Operation {self.system} {self.summary!r} error={self.error_type!r}>"


def exception_type(exc: BaseException) -> str:
    """``error.type`` for an exception with no better cause: its qualified class name."""
    return type(exc).__qualname__


Response = Any
