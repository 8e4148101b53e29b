"""Fixtures of the real tier: real Elasticsearch, OpenSearch and Weaviate, and Elastic's intake.

Where they come from (see ``tests/real/support.py``): ``ELASTICSEARCH_URL`` / ``WEAVIATE_URL`` +
``WEAVIATE_GRPC_PORT`` when set; else ``.real-servers/run/servers.json`` when its servers answer;
else the session builds and starts them itself and stops them when it ends. Under elasticsearch-py
8.x (``.venv-es8``) ``real_es`` is the 8.x node (``elasticsearch8`` in ``servers.json``), else the
9.x one; ``ELASTICSEARCH_URL`` overrides both. The servers are looked
for once, after collection, and only when a real-tier test is about to run (not for
``--collect-only``), outside any test's timeout (a first start can take a minute; a cold Go build ten).

A server that cannot be had skips the tests that need it with the reason and how to run them; with
``REAL_SERVERS_REQUIRED=1`` (CI) it fails them instead.

Every test names what it creates uniquely (``new_index()``, ``new_collection()``) and the fixtures
delete it afterwards with plain HTTP calls (``support.http``: no client, so no spans).
"""

from __future__ import annotations

import pathlib
import urllib.parse
from typing import Any, AsyncIterator, Callable, Iterator, List, Optional

import pytest

from tests.real import support

_HERE = pathlib.Path(__file__).resolve().parent
_servers: Optional[support.RealServers] = None


def _is_real(item: pytest.Item) -> bool:
    try:
        return pathlib.Path(str(item.path)).resolve().is_relative_to(_HERE)
    except (AttributeError, ValueError):  # pragma: no cover
        return False


def pytest_collection_finish(session: pytest.Session) -> None:
    global _servers
    if session.config.option.collectonly or _servers is not None:
        return
    if any(_is_real(item) for item in session.items):
        _servers = support.acquire()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _servers is not None:
        support.stop_started(_servers)


def _unavailable(name: str) -> None:
    assert _servers is not None
    reason = _servers.problems.get(name, f"no real {name}")
    if support.required():
        pytest.fail(f"REAL_SERVERS_REQUIRED=1 and {reason}", pytrace=False)
    pytest.skip(f"real {name} unavailable ({reason}); {support.HOW_TO_RUN}")


@pytest.fixture(scope="session")
def real_servers() -> support.RealServers:
    global _servers
    if _servers is None:  # collected some other way: look now
        _servers = support.acquire()
    return _servers


@pytest.fixture(scope="session")
def real_es(real_servers: support.RealServers) -> support.Elasticsearch:
    if real_servers.elasticsearch is None:
        _unavailable("elasticsearch")
    assert real_servers.elasticsearch is not None
    return real_servers.elasticsearch


@pytest.fixture(scope="session")
def real_weaviate(real_servers: support.RealServers) -> support.Weaviate:
    if real_servers.weaviate is None:
        _unavailable("weaviate")
    assert real_servers.weaviate is not None
    return real_servers.weaviate


@pytest.fixture(scope="session")
def real_apm_intake(real_servers: support.RealServers) -> support.ApmIntake:
    if real_servers.apm_intake is None:
        _unavailable("apm_intake")
    assert real_servers.apm_intake is not None
    return real_servers.apm_intake


@pytest.fixture
def apm(real_apm_intake: support.ApmIntake) -> Iterator[Any]:
    """The real tier's ``apm``: a real agent client sending to Elastic's intake code; ``spans()``
    returns the span documents APM Server would index (``tests.real.apm_docs.RealApmRecorder``).
    The fast tier's ``apm`` (the loopback imitation of the intake) is not used here."""
    from tests.real.apm_docs import RealApmRecorder

    recorder = RealApmRecorder(real_apm_intake.url)
    try:
        yield recorder
    finally:
        recorder.close()


@pytest.fixture(params=["agent", "otlp"])
def apm_path(request: Any, real_apm_intake: support.ApmIntake) -> Iterator[Any]:
    """Each way into Elastic in turn, sending to the real intake (``tests/real/apm_docs.py``):
    the agent with the ``apm`` backend, then the OpenTelemetry SDK's OTLP/HTTP exporter with the
    ``otel`` backend. ``apm_path.instrument()`` turns ours on for it."""
    from tests.real.apm_docs import AgentPath, OtlpPath

    path = (
        AgentPath(real_apm_intake.url)
        if request.param == "agent"
        else OtlpPath(real_apm_intake.url)
    )
    try:
        yield path
    finally:
        path.close()


@pytest.fixture(scope="session")
def real_os(real_servers: support.RealServers) -> support.OpenSearch:
    if real_servers.opensearch is None:
        _unavailable("opensearch")
    assert real_servers.opensearch is not None
    return real_servers.opensearch


# -- Elasticsearch --------------------------------------------------------------------------------
@pytest.fixture
def new_index(real_es: support.Elasticsearch) -> Iterator[Callable[..., str]]:
    """``new_index(label)``: a fresh index name; every index named so is deleted afterwards."""
    names: List[str] = []

    def make(label: str = "t") -> str:
        name = support.unique_index(label)
        names.append(name)
        return name

    yield make
    for name in names:
        support.http("DELETE", f"{real_es.url}/{name}?ignore_unavailable=true")


@pytest.fixture
def index(new_index: Callable[..., str], real_es: support.Elasticsearch) -> str:
    """A fresh index with a small mapping (``title`` text, ``genre`` keyword, ``n`` long)."""
    name = new_index("movies")
    support.http(
        "PUT",
        f"{real_es.url}/{name}",
        {
            "settings": {"number_of_shards": 1, "number_of_replicas": 0},
            "mappings": {
                "properties": {
                    "title": {"type": "text"},
                    "genre": {"type": "keyword"},
                    "n": {"type": "long"},
                }
            },
        },
    )
    return name


@pytest.fixture
async def es(real_es: support.Elasticsearch) -> AsyncIterator[Any]:
    from elasticsearch import AsyncElasticsearch

    client = AsyncElasticsearch(real_es.url)
    try:
        yield client
    finally:
        await client.close()


# -- Weaviate -------------------------------------------------------------------------------------
@pytest.fixture
def new_collection(real_weaviate: support.Weaviate) -> Iterator[Callable[..., str]]:
    """``new_collection(label)``: a fresh collection name; deleted afterwards (if it exists)."""
    names: List[str] = []

    def make(label: str = "T") -> str:
        name = support.unique_collection(label)
        names.append(name)
        return name

    yield make
    for name in names:
        support.http("DELETE", f"{real_weaviate.http_url}/v1/schema/{urllib.parse.quote(name)}")


@pytest.fixture
async def wv(real_weaviate: support.Weaviate) -> AsyncIterator[Any]:
    client = support.weaviate_client_for(real_weaviate)
    await client.connect()
    try:
        yield client
    finally:
        await client.close()
