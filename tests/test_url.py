"""``url.full`` is redacted the same way for every client: credentials and query strings out,
IPv6 brackets kept."""

from __future__ import annotations

import json
from typing import Any

import pytest
import weaviate
import weaviate.classes as wvc
from elasticsearch import AsyncElasticsearch
from elasticsearch import ConnectionError as EsConnectionError
from weaviate.collections.classes.config import ConsistencyLevel

from instrumentation._url import redact_url
from tests.support.telemetry import finished


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:9200/movies/_search", "http://127.0.0.1:9200/movies/_search"),
        ("http://u:p@127.0.0.1:9200/x?q=secret", "http://127.0.0.1:9200/x"),
        ("https://u:p@[::1]:8080/x", "https://[::1]:8080/x"),
        ("http://[2001:db8::1]/v1/objects?tenant=t#frag", "http://[2001:db8::1]/v1/objects"),
        ("http://user:p%40ss@search.example.com:443/", "http://search.example.com:443/"),
        ("http://search.example.com", "http://search.example.com"),
        ("http://apikey@search.example.com/a@b", "http://search.example.com/a@b"),
    ],
)
def test_redact_url_keeps_host_brackets_and_port_and_drops_credentials_and_query(
    url: str, expected: str
) -> None:
    assert redact_url(url) == expected


async def test_elasticsearch_url_full_over_ipv6_keeps_brackets_and_drops_query_and_credentials(
    instrumented: Any, span_exporter: Any, unused_tcp_port: int
) -> None:
    instrumented()
    url = f"http://elastic:secret-password@[::1]:{unused_tcp_port}"
    async with AsyncElasticsearch(url, max_retries=0) as es:
        with pytest.raises(EsConnectionError):
            await es.search(index="movies", q="secret-term")
    [span] = finished(span_exporter)
    assert span.attributes["url.full"] == f"http://[::1]:{unused_tcp_port}/movies/_search"
    assert span.attributes["server.address"] == "::1"
    text = json.dumps(span.to_json())
    assert "secret-password" not in text and "secret-term" not in text


async def test_weaviate_url_full_drops_the_query_string(
    instrumented: Any, weaviate_client: weaviate.WeaviateAsyncClient, span_exporter: Any
) -> None:
    movies = await weaviate_client.collections.create(
        "Movie", properties=[wvc.config.Property(name="t", data_type=wvc.config.DataType.TEXT)]
    )
    instrumented()
    await movies.with_consistency_level(ConsistencyLevel.QUORUM).data.insert({"t": "a"})
    [span] = finished(span_exporter)
    assert span.name == "insert Movie"
    assert span.attributes["weaviate.consistency.level"] == "QUORUM"
    assert span.attributes["url.full"].endswith("/v1/objects")
    assert "?" not in span.attributes["url.full"]
