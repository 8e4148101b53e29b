"""What one traced call *is*: the private record a client fills and backends read.

A client module (``clients/*.py``) fills a ``Record`` from the library's request and response, as
far as the engine tells it to (``detailed``: everything a recording span shows, or only what
the duration metric needs). Backends (``backends/*.py``) only read it. Neither side imports the
other, and neither writes anything the other reads back: no flags, no callbacks.

Hooks get a ``CallView``: a read-only window on the record, the one public name here.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, Mapping, Optional, Union

AttributeValue = Union[str, int, float, bool]


class Record:
    """One logical database call (one span per backend). Private: filled by one client.

    Every field but the call's identity has a class-level default, so building a record sets four
    attributes, not twenty-three (no ``__slots__``: a record is built for every traced call, and
    the defaults save about a third of that cost).
    """

    # -- what the call is: known before it is sent (samplers see it) --
    system: str
    name: str
    collection: Optional[str]
    #: ``db.operation.parameter.<key>`` values (Elasticsearch path parts such as ``id``).
    parameters: Optional[Dict[str, str]]
    #: False for a call that contains other traced calls (``async_bulk``): no database call of its
    #: own (an INTERNAL span, no ``db.system``, no duration point, an APM ``app`` span).
    leaf: bool = True
    # -- the request, read in detail only when something records it --
    #: The request payload the client reads its details from (query text, batch size).
    body: Any = None
    query_text: Optional[str] = None
    batch_size: Optional[int] = None
    #: ``db.query.summary`` and the span name read from a query language's statement (``SELECT
    #: movies``), set by a details reader once the span has started; ``None``: ``summary`` below.
    query_summary: Optional[str] = None
    http_method: Optional[str] = None
    url: Optional[str] = None
    server_address: Optional[str] = None
    server_port: Optional[int] = None
    #: Client-specific attributes (``elasticsearch.node.name``, ``weaviate.tenant``, the failed
    #: items of a partially failed batch, ...).
    attributes: Optional[Dict[str, AttributeValue]] = None
    # -- the outcome --
    status_code: Optional[str] = None
    namespace: Optional[str] = None
    #: Set when the call failed: ``error.type`` (status code, exception class, ...).
    error_type: Optional[str] = None
    #: The server's reason for the failure, as it said it (backends scrub it per capture mode).
    reason: Optional[str] = None
    #: The exception the library raises from this answer only after the call has returned
    #: (Weaviate REST calls whose caller judges the status): recorded as if raised inside.
    raised: Optional[BaseException] = None
    returned_rows: Optional[int] = None
    rows_affected: Optional[int] = None

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
        self.parameters = parameters

    @property
    def summary(self) -> str:
        """``db.query.summary`` and the span name: the statement's own summary when one was read,
        else the operation, then the collection when there is one."""
        if self.query_summary is not None:
            return self.query_summary
        if self.collection:
            return f"{self.name} {self.collection}"
        return self.name

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        if self.attributes is None:
            self.attributes = {}
        self.attributes[key] = value

    def settle_query(self) -> None:
        """Make ``query_text`` final now (a client whose text may still be pending overrides it)."""
        return None

    def fail(self, error_type: str, reason: Optional[str] = None) -> None:
        """Mark the call failed; the first cause recorded wins."""
        if self.error_type is None:
            self.error_type = error_type
            if reason:
                self.reason = reason

    def fail_by_status(self, status: Any, reason: Optional[str] = None) -> bool:
        """An HTTP status of 400 or more is the call's failure (``error.type`` the status); True
        when it was one."""
        if isinstance(status, int) and status >= 400:
            self.fail(str(status), reason)
            return True
        return False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _share_fields(cls)

    def __repr__(self) -> str:
        return f"<Record {self.system} {self.summary!r} error={self.error_type!r}>"


def _share_fields(cls: type) -> None:
    """Name every field of ``cls`` in the attribute keys its instances share, once, at import.

    From CPython 3.11 an instance keeps its attributes in a values array indexed by its class's
    shared keys, which take one name fewer with each instance made, none once about 30 exist. A
    field first set after that (30 calls in flight before the first answer, or 30 calls of other
    kinds before the first search sets ``returned_rows``) gives every later record that sets it a
    dict of its own, about 1,100 instructions a record, for the life of the process. Named here,
    every field stays in the shared keys. (3.9 and 3.10 share keys in one insertion order only,
    which records do not keep: left alone.)
    """
    if sys.version_info < (3, 11):
        return
    seed = object.__new__(cls)
    for klass in reversed(cls.__mro__):
        for name in getattr(klass, "__annotations__", {}):
            if not callable(getattr(cls, name, None)):
                setattr(seed, name, None)


_share_fields(Record)


def exception_type(exc: BaseException) -> str:
    """``error.type`` for an exception with no better cause: its qualified class name."""
    return type(exc).__qualname__


class CallView:
    """What a ``request_hook`` / ``response_hook`` sees of the call: read-only.

    ``request_hook(span, call)`` runs once the span has started with the request's details (query
    text, batch size, server); ``response_hook(span, call, response)`` runs before the span ends,
    with the outcome (``status_code``, ``error_type``, ``reason``) filled in.
    """

    __slots__ = ("_record",)

    def __init__(self, record: Record) -> None:
        self._record = record

    @property
    def system(self) -> str:
        """``db.system.name``: ``elasticsearch``, ``weaviate``."""
        return self._record.system

    @property
    def operation(self) -> str:
        """``db.operation.name``: ``search``, ``bulk``, ``hybrid``, ``helpers.async_bulk``."""
        return self._record.name

    @property
    def collection(self) -> Optional[str]:
        """``db.collection.name``: the index or collection, when the call has one."""
        return self._record.collection

    @property
    def summary(self) -> str:
        """The span name and ``db.query.summary``."""
        return self._record.summary

    @property
    def parameters(self) -> Mapping[str, str]:
        """Path parameters (``db.operation.parameter.<key>``)."""
        return dict(self._record.parameters or {})

    @property
    def query_text(self) -> Optional[str]:
        """``db.query.text`` as captured (per ``capture_query``)."""
        self._record.settle_query()
        return self._record.query_text

    @property
    def batch_size(self) -> Optional[int]:
        return self._record.batch_size

    @property
    def server_address(self) -> Optional[str]:
        return self._record.server_address

    @property
    def server_port(self) -> Optional[int]:
        return self._record.server_port

    @property
    def url(self) -> Optional[str]:
        """``url.full``, redacted (REST calls)."""
        return self._record.url

    @property
    def status_code(self) -> Optional[str]:
        """``db.response.status_code``: an HTTP status or a gRPC status name."""
        return self._record.status_code

    @property
    def error_type(self) -> Optional[str]:
        """``error.type`` when the call failed, else ``None``."""
        return self._record.error_type

    @property
    def reason(self) -> Optional[str]:
        """The server's reason for a failure, unscrubbed (the span's status has it scrubbed)."""
        return self._record.reason

    @property
    def attributes(self) -> Mapping[str, AttributeValue]:
        """Client-specific attributes (``weaviate.tenant``, ``elasticsearch.node.name``, ...)."""
        return dict(self._record.attributes or {})

    def __repr__(self) -> str:
        return f"<CallView {self.summary!r} error={self.error_type!r}>"
