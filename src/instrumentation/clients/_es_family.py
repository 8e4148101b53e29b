"""What the Elasticsearch and OpenSearch clients share (OpenSearch forked from Elasticsearch 7.10):
bulk bodies, error bodies, search answers (failed shards, ``took``, ``timed_out``), and the four
async helpers.

``clients/elasticsearch.py`` and ``clients/opensearch.py`` each read their own library's calls;
everything here works on what both send and receive alike.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Dict,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Tuple,
)

from instrumentation._engine import Engine, Reader
from instrumentation._guard import guard, report
from instrumentation._patching import Patch
from instrumentation._query import capture
from instrumentation._query_languages import read as read_query
from instrumentation._query_languages import statement_of
from instrumentation._record import Record, exception_type

#: Endpoints whose body is a query worth recording in ``db.query.text``.
SEARCH_ENDPOINTS = frozenset(
    {
        "search",
        "msearch",
        "count",
        "async_search.submit",
        "search_template",
        "msearch_template",
        "render_search_template",
        "terms_enum",
        "delete_by_query",
        "update_by_query",
    }
)
#: Endpoints whose body carries a statement in a query language: endpoint -> language. Their
#: statement is read by that language's tokenizer (``_query_languages``), not erased as JSON.
QUERY_LANGUAGE_ENDPOINTS = {
    "esql.query": "esql",
    "esql.async_query": "esql",
    "sql.query": "sql",
    "sql.translate": "sql",
    "sql.explain": "sql",
    "eql.search": "eql",
    "ppl.query": "ppl",
    "ppl.explain": "ppl",
}
#: Endpoints that read a statement without running it: named by the call, not the statement.
_NOT_RUN = frozenset({"sql.translate", "sql.explain", "ppl.explain"})
_BULK_ACTIONS = frozenset({"index", "create", "update", "delete"})


def path_value(value: Any) -> str:
    """A path part as the URL has it: several indices comma-joined."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return str(value)


# -- bulk bodies --------------------------------------------------------------------------------
#: An action line of a bulk body, as text: ``{"index": ...}`` and the like (sources are never parsed).
_ACTION_LINE = re.compile(r'\s*\{\s*"(index|create|update|delete)"\s*:')
_ACTION_LINE_BYTES = re.compile(rb'\s*\{\s*"(index|create|update|delete)"\s*:')


def _bulk_items(body: Any) -> Optional[List[Any]]:
    """The lines of a bulk body, whatever its shape: a list of dicts, of ``str``/``bytes`` lines (what
    the async helpers send), of NDJSON chunks, one NDJSON ``str``/``bytes``, or a mix."""
    if isinstance(body, (str, bytes, bytearray)):
        body = (body,)
    elif not isinstance(body, (list, tuple)):
        return None
    items: List[Any] = []
    for item in body:
        if isinstance(item, str) and "\n" in item:
            items.extend(line for line in item.splitlines() if line.strip())
            continue
        if isinstance(item, (bytes, bytearray)) and b"\n" in item:
            items.extend(line for line in item.splitlines() if line.strip())
            continue
        items.append(item)
    return items


def _action(item: Any) -> Optional[str]:
    """The action an item of a bulk body starts (``"index"``, ...), or ``None`` for a source."""
    if isinstance(item, dict):
        if len(item) == 1:
            kind = next(iter(item))
            return kind if kind in _BULK_ACTIONS else None
        return None
    if isinstance(item, str):
        match = _ACTION_LINE.match(item)
        return match.group(1) if match else None
    if isinstance(item, (bytes, bytearray)):
        found = _ACTION_LINE_BYTES.match(item)
        return found.group(1).decode() if found else None
    return None


def count_bulk_actions(body: Any) -> Optional[int]:
    """Bulk actions in a request body: every action but ``delete`` is followed by its source,
    which is skipped unread (a source that happens to look like an action is not counted)."""
    items = _bulk_items(body)
    if items is None:
        return None
    count = 0
    index = 0
    while index < len(items):
        kind = _action(items[index])
        index += 1
        if kind is not None:
            count += 1
            if kind != "delete":
                index += 1
    return count


def read_details(op: Record, capture_query: str, max_length: int) -> None:
    """Costly request details, read only when a backend records them in detail."""
    if op.body is None:
        return
    if op.name == "bulk":
        op.batch_size = count_bulk_actions(op.body)
    elif op.name in SEARCH_ENDPOINTS:
        op.query_text = capture(op.body, capture_query, max_length)
    else:
        language = QUERY_LANGUAGE_ENDPOINTS.get(op.name)
        if language is not None:
            read_statement(op, language, capture_query, max_length)


def read_statement(op: Record, language: str, capture_query: str, max_length: int) -> None:
    """A query-language call's statement: its text, and the collection and summary it names
    (``db.collection.name`` only when the call named none; ``eql.search`` names its index)."""
    statement = read_query(language, statement_of(op.body), capture_query, max_length)
    if statement is None:
        return
    op.query_text, collection, summary = statement
    if op.collection is None and collection is not None:
        op.collection = collection
        if op.name in _NOT_RUN:
            op.query_summary = f"{op.name} {op.collection}"
    if summary is not None and op.name not in _NOT_RUN:
        op.query_summary = summary


# -- error bodies -------------------------------------------------------------------------------
def error_reason(error: Any) -> Optional[str]:
    """``type: reason`` of an error object (its first root cause when it has one)."""
    if isinstance(error, str):
        return error or None
    if not isinstance(error, dict):
        return None
    causes = error.get("root_cause")
    if isinstance(causes, list) and causes and isinstance(causes[0], dict):
        error = causes[0]
    kind = error.get("type")
    why = error.get("reason")
    if why:
        return f"{kind}: {why}" if kind else str(why)
    return str(kind) if kind else None


def body_reason(body: Any) -> Optional[str]:
    """What the server said went wrong, from an error answer's body."""
    if isinstance(body, dict):
        if "error" in body:
            return error_reason(body["error"])
        if body.get("found") is False:
            return "document not found"
        return None
    return body if isinstance(body, str) and body else None


def read_bulk_failures(op: Record, body: Mapping[str, Any], failed_key: str) -> None:
    """A bulk answer with ``errors: true``: the failed items' count, the first one's type and
    reason; the call is a failure."""
    failed = 0
    first: Optional[str] = None
    reason: Optional[str] = None
    for item in body.get("items") or ():
        result = next(iter(item.values()), None) if isinstance(item, dict) else None
        if isinstance(result, dict) and result.get("error") is not None:
            failed += 1
            if first is None:
                error = result["error"]
                first = str(error.get("type", "_OTHER")) if isinstance(error, dict) else "_OTHER"
                reason = error_reason(error)
    op.set_attribute(failed_key, failed)
    if reason is not None and failed > 1:
        reason = f"{failed} bulk items failed; first: {reason}"
    op.fail(first or "_OTHER", reason)


# -- search answers: shards, the server's time ------------------------------------------------
#: Endpoints whose answer is one search's: ``took``, ``timed_out``, ``_shards`` (with the shards'
#: failures) and ``hits``. A shard that failed behind the HTTP 200 makes the call a failure.
SEARCH_ANSWERS = frozenset({"search", "count", "scroll", "search_template"})
#: Endpoints whose answer is a list of search answers (``responses``), each of which may fail.
MULTI_SEARCHES = frozenset({"msearch", "msearch_template"})


class AnswerKeys(NamedTuple):
    """One system's attribute names for what a search answer says of itself."""

    #: ``took``: the server's own time for the search, in milliseconds.
    took: str
    #: ``timed_out: true``: the ``timeout`` the caller asked for ran out (partial hits, no error).
    timed_out: str
    #: ``msearch`` searches that failed (an item error, or a shard failure inside the item).
    failed_searches: str


def answer_keys(system: str) -> AnswerKeys:
    return AnswerKeys(f"{system}.took", f"{system}.timed_out", f"{system}.msearch.failed_searches")


def shard_failure(shards: Dict[str, Any], detailed: bool) -> Tuple[str, Optional[str]]:
    """``error.type`` and (``detailed``) the description of a ``_shards`` with failed shards: how
    many of how many failed, and the first failure's ``type: reason``."""
    failures = shards.get("failures")
    first = failures[0] if isinstance(failures, list) and failures else None
    cause = first.get("reason") if isinstance(first, dict) else None
    kind = cause.get("type") if isinstance(cause, dict) else None
    if not detailed:
        return str(kind or "_OTHER"), None
    described = f"{shards.get('failed')} of {shards.get('total')} shards failed"
    why = error_reason(cause)
    return str(kind or "_OTHER"), f"{described}: {why}" if why else described


def read_search_answer(op: Record, body: Dict[str, Any], detailed: bool, keys: AnswerKeys) -> None:
    """A search's answer, read when a span records it (``detailed``) or when ``_shards.failed``
    says shards failed (the outcome: the metric needs it either way). The hits returned, ``took``
    and ``timed_out: true`` are span details.

    Each client's ``read_response`` reads the common answer (no shard failed, ``timed_out:
    false``, nothing recorded in ``attributes`` yet) in line, as this would, for its cost; this
    reads every other (``tests/clients/test_search_answer_in_line.py`` holds the two equal)."""
    shards = body.get("_shards")
    if type(shards) is dict and shards.get("failed"):
        op.fail(*shard_failure(shards, detailed))
    if not detailed:
        return
    hits = body.get("hits")  # not in a count's answer
    if type(hits) is dict:
        found = hits.get("hits")
        if type(found) is list:
            op.returned_rows = len(found)
    took = body.get("took")
    if type(took) is int:
        attributes = op.attributes
        if attributes is None:
            op.attributes = attributes = {}
        attributes[keys.took] = took
        if body.get("timed_out") is True:
            attributes[keys.timed_out] = True


def read_multi_search(op: Record, body: Dict[str, Any], detailed: bool, keys: AnswerKeys) -> None:
    """An ``msearch`` answer: each item is a search's answer or an error. Items that failed (an
    error, or failed shards) make the call a failure, as bulk items do: their count, the first
    one's type and reason. ``took`` (the whole request's) and ``timed_out`` (any item's) as for a
    search."""
    responses = body.get("responses")
    if type(responses) is not list:
        return
    failed = 0
    first: Optional[str] = None
    reason: Optional[str] = None
    timed_out = False
    for item in responses:
        if type(item) is not dict:
            continue
        error = item.get("error")
        if error is not None:
            failed += 1
            if first is None:
                first = str(error.get("type", "_OTHER")) if isinstance(error, dict) else "_OTHER"
                reason = error_reason(error) if detailed else None
            continue
        shards = item.get("_shards")
        if type(shards) is dict and shards.get("failed"):
            failed += 1
            if first is None:
                first, reason = shard_failure(shards, detailed)
        if item.get("timed_out") is True:
            timed_out = True
    if failed:
        op.set_attribute(keys.failed_searches, failed)
        if reason is not None:
            reason = f"{failed} of {len(responses)} searches failed; first: {reason}"
        op.fail(first or "_OTHER", reason)
    if detailed:
        took = body.get("took")
        if type(took) is int:
            op.set_attribute(keys.took, took)
        if timed_out:
            op.set_attribute(keys.timed_out, True)


def read_rows(op: Record, body: Any) -> None:
    """Hits returned and documents changed, from a successful answer's body (detail only)."""
    if not isinstance(body, dict):
        return
    hits = body.get("hits")
    if isinstance(hits, dict):
        found = hits.get("hits")
        if isinstance(found, list):
            op.returned_rows = len(found)
    deleted = body.get("deleted")
    updated = body.get("updated")
    if isinstance(deleted, int) or isinstance(updated, int):
        op.rows_affected = (deleted if isinstance(deleted, int) else 0) + (
            updated if isinstance(updated, int) else 0
        )


# -- the async helpers --------------------------------------------------------------------------
class _CountInto:
    """A nested helper's iteration, counted into the outer helper's record, not traced."""

    __slots__ = ("_counter", "_inner", "_op")

    def __init__(self, inner: Any, op: Record, counter: Callable[[Record, Any], None]) -> None:
        self._inner = inner
        self._op = op
        self._counter = counter

    def __aiter__(self) -> _CountInto:
        return self

    async def __anext__(self) -> Any:
        item = await self._inner.__anext__()
        with guard:
            self._counter(self._op, item)
        return item

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


#: Per library, the helper call in flight in this task (one variable, whatever the engine).
_helper_calls: Dict[str, ContextVar[Optional[Record]]] = {}


class Helpers:
    """``async_bulk``, ``async_streaming_bulk``, ``async_scan`` and ``async_reindex`` of one
    library: one INTERNAL parent span each (``helpers.<name> [index]``) with document totals under
    ``<system>.helpers.*``. A helper called by another (``async_bulk`` → ``async_streaming_bulk``)
    adds its counts to the outer one instead of starting a span."""

    def __init__(self, system: str, engine: Engine) -> None:
        self.system = system
        self.engine = engine
        self.documents = f"{system}.helpers.documents"
        self.failed_documents = f"{system}.helpers.failed_documents"
        #: The helper call in flight in this task (a nested helper counts into it).
        self.current = _helper_calls.setdefault(
            system, ContextVar(f"{system}_helper", default=None)
        )
        self._reader = Reader(response=self._result, error=self._error)
        #: The wrappers, closed over ``engine``.
        self.async_bulk = self._coroutine("helpers.async_bulk")
        self.async_reindex = self._coroutine("helpers.async_reindex")
        self.async_streaming_bulk = self._generator(
            "helpers.async_streaming_bulk", self.count_bulk_item
        )
        self.async_scan = self._generator("helpers.async_scan", self.count_document)

    def rows(self, module: str) -> Tuple[Patch, ...]:
        """The patch rows for the helpers as ``module`` defines or re-exports them."""
        return (
            Patch(module, "async_bulk", self.async_bulk),
            Patch(module, "async_streaming_bulk", self.async_streaming_bulk),
            Patch(module, "async_scan", self.async_scan),
            Patch(module, "async_reindex", self.async_reindex),
        )

    # -- reading ---------------------------------------------------------------------------------
    def record(self, name: str, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Record:
        """A helper call's record: its index (``source_index`` for ``async_reindex``)."""
        if name == "helpers.async_reindex":
            index = args[1] if len(args) > 1 else kwargs.get("source_index")
        else:
            index = kwargs.get("index")
        op = Record(self.system, name, path_value(index) if index is not None else None)
        op.leaf = False
        op.attributes = {self.documents: 0, self.failed_documents: 0}
        return op

    def count_bulk_item(self, op: Record, item: Any) -> None:
        attributes = op.attributes
        if attributes is None:
            return
        attributes[self.documents] = int(attributes.get(self.documents, 0)) + 1
        if isinstance(item, tuple) and len(item) == 2 and not item[0]:
            failed = int(attributes.get(self.failed_documents, 0)) + 1
            attributes[self.failed_documents] = failed
            result = next(iter(item[1].values()), None) if isinstance(item[1], dict) else None
            error = result.get("error") if isinstance(result, dict) else None
            op.fail(
                str(error.get("type", "_OTHER")) if isinstance(error, dict) else "_OTHER",
                error_reason(error),
            )

    def count_document(self, op: Record, item: Any) -> None:
        if op.attributes is not None:
            op.attributes[self.documents] = int(op.attributes.get(self.documents, 0)) + 1

    @staticmethod
    def _result(op: Record, result: Any, detailed: bool) -> None:
        return None

    def _error(self, op: Record, exc: BaseException, detailed: bool) -> None:
        errors = getattr(exc, "errors", None)
        if isinstance(errors, list) and op.attributes is not None:
            failed = max(int(op.attributes.get(self.failed_documents, 0)), len(errors))
            op.attributes[self.failed_documents] = failed
        op.error_type = op.reason = None  # the helper's own exception is the outcome
        op.fail(exception_type(exc))

    # -- wrappers --------------------------------------------------------------------------------
    def _coroutine(self, name: str) -> Callable[..., Any]:
        def read(instance: Any, args: Any, kwargs: Any) -> Record:
            return self.record(name, args, kwargs)

        return self.engine.wrapper(read, self._reader, self.current)

    def _generator(self, name: str, counter: Callable[[Record, Any], None]) -> Callable[..., Any]:
        current = self.current
        reader = self._reader._replace(item=counter)
        nested_counts = counter == self.count_bulk_item
        engine = self.engine

        def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> AsyncIterator[Any]:
            generator = wrapped(*args, **kwargs)
            if not engine.wants():
                return generator  # type: ignore[no-any-return]
            try:
                outer = current.get()
                if outer is None:
                    return engine.iterate(self.record(name, args, kwargs), reader, generator)
                # Bulk inside async_bulk/async_reindex counts into it; a nested scan does not.
                if nested_counts:
                    return _CountInto(generator, outer, counter)
            except Exception as exc:
                report(exc)
            return generator  # type: ignore[no-any-return]

        return wrapper
