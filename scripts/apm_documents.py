"""Generate (and check) the documents ``docs/apm.md`` shows: what Elastic's intake makes of our calls.

One Elasticsearch search and one Weaviate query, in a request, through each way into Elastic: the
Elastic APM agent with the ``apm`` backend (intake v2) and the OpenTelemetry SDK exporting the
``otel`` backend's spans over OTLP/HTTP, both with the default configuration, to the real tier's
intake (``tests/real/apm_intake``: apm-data, the code APM Server 9.x runs). The span documents it
would index are shown with what identifies a run normalised (ids, times, ports, names) and the
fields Kibana does not read for a dependency left out (host, process, agent, stack trace).

Needs the real servers: ``make real-servers`` first (or ELASTICSEARCH_URL, WEAVIATE_URL +
WEAVIATE_GRPC_PORT, APM_INTAKE_URL).

    python scripts/apm_documents.py           # print the rendered block
    python scripts/apm_documents.py --write   # rewrite the block in docs/apm.md
    python scripts/apm_documents.py --check   # exit 1 when the page is stale

``tests/real/test_apm_page_real.py`` renders it with the real tier's servers and compares.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.parse
import uuid
from pathlib import Path
from typing import Any, Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PAGE = ROOT / "docs" / "apm.md"
MARKERS = ("<!-- apm:documents -->", "<!-- /apm:documents -->")

#: Where the servers' random ports are shown as their usual ones.
SHOWN_PORTS = {"elasticsearch": 9200, "weaviate_grpc": 50051}
#: Top-level fields of a document left out of the page (not what a dependency is made of).
LEFT_OUT = ("@timestamp", "timestamp", "agent", "host", "process", "data_stream")


def _normalise(doc: Dict[str, Any], names: Dict[str, str], ports: Dict[int, int]) -> Any:
    doc = json.loads(json.dumps(doc))
    for key in LEFT_OUT:
        doc.pop(key, None)
    doc["event"] = {"outcome": doc["event"]["outcome"]}
    service = doc["service"]
    doc["service"] = {
        "name": service["name"],
        **({"target": service["target"]} if "target" in service else {}),
    }
    span = doc["span"]
    span.pop("stacktrace", None)
    span.pop("representative_count", None)
    span["id"] = "<span id>"
    doc["parent"]["id"] = "<transaction id>"
    doc["trace"]["id"] = "<trace id>"
    if "transaction" in doc:
        doc["transaction"]["id"] = "<transaction id>"
    for labels in (doc.get("numeric_labels", {}), doc.get("labels", {})):
        for key in labels:
            if key.endswith("took"):  # the server's own milliseconds: not the same twice
                labels[key] = "<took>"
    destination = doc.get("destination", {})
    if "port" in destination:
        destination["port"] = ports.get(destination["port"], destination["port"])
    text = json.dumps(doc, sort_keys=True)
    for real, shown in names.items():
        text = text.replace(real, shown)
    for real_port, shown_port in ports.items():
        text = text.replace(f":{real_port}/", f":{shown_port}/")
    return json.loads(text)


async def _run(path: Any, es_url: str, weaviate: Any, index: str, collection: str) -> Any:
    from elasticsearch import AsyncElasticsearch
    from tests.real import support

    es = AsyncElasticsearch(es_url)
    wv = support.weaviate_client_for(weaviate)
    await wv.connect()
    try:
        movies = wv.collections.get(collection)
        path.instrument()
        with path.transaction():
            await es.search(index=index, query={"match": {"title": "matrix"}}, size=3)
            await movies.query.near_vector([0.1, 0.2], limit=2)
        return await path.docs()
    finally:
        await es.close()
        await wv.close()


def render(servers: Any) -> str:
    """The block the page shows, from one run against ``servers`` (a ``support.RealServers``)."""
    from tests.real import support
    from tests.real.apm_docs import AgentPath, OtlpPath

    es, weaviate, intake = servers.elasticsearch, servers.weaviate, servers.apm_intake
    index = f"movies-{uuid.uuid4().hex[:10]}"
    collection = f"Movie{uuid.uuid4().hex[:10]}"
    support.http("PUT", f"{es.url}/{index}", {"settings": {"number_of_replicas": 0}})
    schema = {"class": collection, "vectorizer": "none", "properties": [
        {"name": "title", "dataType": ["text"]}
    ]}  # fmt: skip
    # Set up over plain HTTP (no client, so no span): one object with a vector.
    support.http("POST", f"{weaviate.http_url}/v1/schema", schema)
    movie = {"class": collection, "properties": {"title": "The Matrix"}, "vector": [0.1, 0.2]}
    support.http("POST", f"{weaviate.http_url}/v1/objects", movie)
    names = {index: "movies", collection: "Movie"}
    ports = {
        es.port: SHOWN_PORTS["elasticsearch"],
        weaviate.grpc_port: SHOWN_PORTS["weaviate_grpc"],
    }
    parts: List[str] = []
    try:
        for title, make in (
            ("The Elastic APM agent (intake v2)", AgentPath),
            ("OpenTelemetry, OTLP/HTTP (default configuration)", OtlpPath),
        ):
            path = make(intake.url)
            try:
                docs = asyncio.run(_run(path, es.url, weaviate, index, collection))
            finally:
                path.close()
            for shown_name, real_name in (
                ("search movies", f"search {index}"),
                ("near_vector Movie", f"near_vector {collection}"),
            ):
                doc = _normalise(docs.span(real_name), names, ports)
                parts.append(f"**{title}**, `{shown_name}`:\n")
                parts.append(f"```json\n{json.dumps(doc, indent=2, sort_keys=True)}\n```\n")
    finally:
        support.http("DELETE", f"{es.url}/{index}?ignore_unavailable=true")
        support.http("DELETE", f"{weaviate.http_url}/v1/schema/{urllib.parse.quote(collection)}")
    return "\n".join(parts)


def page_block(text: str) -> Tuple[int, int]:
    start = text.index(MARKERS[0]) + len(MARKERS[0]) + 1
    return start, text.index(MARKERS[1])


def main() -> int:
    from tests.real import support

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    servers = support.acquire(start=False)
    missing = [
        n for n in ("elasticsearch", "weaviate", "apm_intake") if getattr(servers, n) is None
    ]
    if missing:
        print(f"no real {', '.join(missing)}: {support.HOW_TO_RUN}", file=sys.stderr)
        return 2
    block = render(servers)
    text = PAGE.read_text()
    start, end = page_block(text)
    if args.write:
        PAGE.write_text(text[:start] + block + text[end:])
    elif args.check:
        if text[start:end] != block:
            print("docs/apm.md is stale: python scripts/apm_documents.py --write", file=sys.stderr)
            return 1
    else:
        print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
