"""Query capture: literals never survive sanitising, output is bounded, nothing ever raises."""

from __future__ import annotations

import json

from instrumentation._query import capture


def test_sanitize_keeps_structure_and_replaces_every_literal() -> None:
    body = {
        "query": {
            "bool": {"must": [{"match": {"title": "matrix"}}, {"range": {"year": {"gte": 1999}}}]}
        }
    }
    text = capture(body, "sanitize", 1000)
    assert text is not None
    assert json.loads(text) == {
        "query": {"bool": {"must": [{"match": {"title": "?"}}, {"range": {"year": {"gte": "?"}}}]}}
    }


def test_vectors_never_recorded_in_any_mode() -> None:
    body = {"knn": {"field": "v", "query_vector": [0.125] * 384, "k": 10}, "ids": [0.5] * 32}
    for mode in ("sanitize", "raw"):
        text = capture(body, mode, 100_000)
        assert text is not None and "0.125" not in text and "0.5" not in text


def test_raw_keeps_literals() -> None:
    text = capture({"query": {"match": {"title": "matrix"}}}, "raw", 1000)
    assert text == '{"query":{"match":{"title":"matrix"}}}'


def test_omit_records_nothing() -> None:
    assert capture({"query": {"match_all": {}}}, "omit", 1000) is None


def test_bytes_and_ndjson_bodies_are_read() -> None:
    ndjson = b'{"index":"movies"}\n{"query":{"match":{"title":"secret"}}}\n'
    text = capture(ndjson, "sanitize", 1000)
    assert text is not None and "secret" not in text and "query" in text


def test_non_json_text_sanitises_to_placeholder_and_raw_is_bounded() -> None:
    assert capture("title:secret AND year:1999", "sanitize", 100) == "?"
    raw = capture("x" * 5000, "raw", 100)
    assert raw is not None and len(raw) == 100


def test_cyclic_huge_and_odd_bodies_never_raise_and_stay_bounded() -> None:
    cyclic: dict = {"a": {}}
    cyclic["a"]["self"] = cyclic
    huge = {"q": [{f"k{i}": "v"} for i in range(100_000)]}
    odd = {"when": object(), 1: {2: b"x"}, "set": {1, 2}}
    for body in (cyclic, huge, odd):
        for mode in ("sanitize", "raw"):
            text = capture(body, mode, 256)
            assert text is not None and len(text) <= 256
