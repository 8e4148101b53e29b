"""The common search answer is read in line by each client's ``read_response`` (no call, for its
cost); every answer must come out as the general reader, ``read_search_answer``, reads it: the
same hits returned, ``took``, ``timed_out``, failure and reason, recorded or sampled out, for the
common answer and for each way an answer can leave it.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Dict, List, Optional, Tuple

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig, ObjectApiResponse

from instrumentation._record import Record
from instrumentation.clients import elasticsearch, opensearch
from instrumentation.clients._es_family import read_search_answer


class _Mapping(dict):  # type: ignore[type-arg]
    """A mapping that is not exactly a ``dict`` (the readers check the exact type)."""


def _search(**changes: Any) -> Dict[str, Any]:
    answer: Dict[str, Any] = {
        "took": 3,
        "timed_out": False,
        "_shards": {"total": 2, "successful": 2, "skipped": 0, "failed": 0},
        "hits": {"total": {"value": 2, "relation": "eq"}, "hits": [{"_id": "1"}, {"_id": "2"}]},
    }
    for key, value in changes.items():
        if value is None:
            del answer[key]
        else:
            answer[key] = value
    return answer


_FAILED_SHARDS = {
    "total": 3,
    "successful": 2,
    "failed": 1,
    "failures": [{"reason": {"type": "query_shard_exception", "reason": "For input string"}}],
}

ANSWERS: List[Tuple[str, Any]] = [
    ("common", _search()),
    ("as JSON decodes it", json.loads(json.dumps(_search()))),
    ("timed out", _search(timed_out=True)),
    ("timed_out missing", _search(timed_out=None)),
    ("timed_out not a bool", _search(timed_out=0)),
    ("failed shards", _search(_shards=_FAILED_SHARDS)),
    ("failed shards, timed out", _search(_shards=_FAILED_SHARDS, timed_out=True)),
    ("_shards missing", _search(_shards=None)),
    ("_shards a list", _search(_shards=[1])),
    ("_shards not exactly a dict, failed", _search(_shards=_Mapping(_FAILED_SHARDS))),
    ("took missing", _search(took=None)),
    ("took a float", _search(took=3.5)),
    ("took a string", _search(took="3")),
    ("hits missing", _search(hits=None)),
    ("hits a list", _search(hits=[1, 2])),
    ("hits not exactly a dict", _search(hits=_Mapping(hits=[{"_id": "1"}]))),
    ("hits.hits missing", _search(hits={"total": {"value": 0}})),
    ("hits.hits not a list", _search(hits={"hits": {"_id": "1"}})),
    ("a count's", {"count": 7, "_shards": {"total": 1, "successful": 1, "failed": 0}}),
    ("a count's, failed shards", {"count": 7, "_shards": _FAILED_SHARDS}),
    ("empty", {}),
    ("not a dict", "not a dict"),
    ("None", None),
]

_META = ApiResponseMeta(
    status=200,
    http_version="1.1",
    headers=HttpHeaders({"content-type": "application/json"}),
    duration=0.0,
    node=NodeConfig("http", "127.0.0.1", 9200),
)


def _outcome(op: Record) -> Tuple[Any, ...]:
    return (op.returned_rows, op.attributes, op.error_type, op.reason)


def _expected(
    system: str, name: str, answer: Any, detailed: bool, attributes: Optional[Dict[str, Any]]
) -> Tuple[Any, ...]:
    op = Record(system, name)
    op.attributes = copy.deepcopy(attributes)
    if type(answer) is dict:
        keys = elasticsearch.ANSWER_KEYS if system == "elasticsearch" else opensearch.ANSWER_KEYS
        read_search_answer(op, copy.deepcopy(answer), detailed, keys)
    return _outcome(op)


@pytest.mark.parametrize(
    "attributes", [None, {"other": "kept"}], ids=["no-attributes", "attributes"]
)
@pytest.mark.parametrize("detailed", [True, False], ids=["recording", "sampled-out"])
@pytest.mark.parametrize("name", ["search", "count", "scroll", "search_template"])
@pytest.mark.parametrize("case,answer", ANSWERS, ids=[case for case, _ in ANSWERS])
def test_opensearch_reads_every_answer_as_the_general_reader(
    case: str, answer: Any, name: str, detailed: bool, attributes: Optional[Dict[str, Any]]
) -> None:
    op = Record("opensearch", name)
    op.attributes = copy.deepcopy(attributes)
    opensearch.read_response(op, copy.deepcopy(answer), detailed)
    assert _outcome(op) == _expected("opensearch", name, answer, detailed, attributes)


@pytest.mark.parametrize(
    "attributes", [None, {"other": "kept"}], ids=["no-attributes", "attributes"]
)
@pytest.mark.parametrize("detailed", [True, False], ids=["recording", "sampled-out"])
@pytest.mark.parametrize("name", ["search", "count", "scroll", "search_template"])
@pytest.mark.parametrize("case,answer", ANSWERS, ids=[case for case, _ in ANSWERS])
def test_elasticsearch_reads_every_answer_as_the_general_reader(
    case: str, answer: Any, name: str, detailed: bool, attributes: Optional[Dict[str, Any]]
) -> None:
    op = elasticsearch.ApiRecord("elasticsearch", name)
    op.server_address = "127.0.0.1"
    op.attributes = copy.deepcopy(attributes)
    response = ObjectApiResponse(body=copy.deepcopy(answer), meta=_META)
    elasticsearch.read_response(op, response, detailed)
    assert _outcome(op) == _expected("elasticsearch", name, answer, detailed, attributes)
    if detailed:
        assert op.status_code == "200"  # the response's details are read on every path
