"""The suite's fixtures and hooks; the servers and SDK providers are in ``tests.servers.fixtures``.

Helpers the tests share are in ``tests.support``; nothing is imported from here.

* ``es``, ``opensearch``: an ``AsyncElasticsearch``, an ``AsyncOpenSearch`` on the stand-in, with
  an empty ``movies`` index.
* ``weaviate_client``: a ``WeaviateAsyncClient`` connected to the stand-in.
* ``node_class``: both elastic-transport node classes (a test that takes it runs once for each).
* ``make_agent`` / ``agent``: real Elastic APM agent clients sending to the loopback intake;
  ``apm``: one of them as an ``ApmRecorder``.
* ``audit``: a ``SpanAudit`` of the test's tracer provider.
"""

from __future__ import annotations

import sys
from typing import Any, AsyncIterator, Callable, Iterator, List

import pytest

pytest_plugins = ["tests.servers.fixtures"]


@pytest.fixture(autouse=True)
def _fresh_internal_failure_log() -> None:
    """Internal failures are logged once per cause per process; each test starts afresh."""
    from instrumentation import _guard

    _guard._seen.clear()


@pytest.fixture(autouse=True)
def _no_agent_instrumentation_left_behind() -> Iterator[None]:
    """Undo ``elasticapm.instrument()`` and close the agent's client after every test.

    The agent patches process-wide (``grpc.server`` among others, whose interceptor then needs a
    live client): a test that leaves it on (the example app's ``ElasticAPM`` middleware calls it)
    would break every stand-in gRPC server started by a later test.
    """
    yield
    if "elasticapm" not in sys.modules:
        return
    import elasticapm

    from tests.servers.apm_intake import close_apm_client

    elasticapm.uninstrument()
    client = elasticapm.get_client()
    if client is not None:
        close_apm_client(client)


# -- the clients ----------------------------------------------------------------------------------
@pytest.fixture(params=["aiohttp", "httpxasync"])
def node_class(request: Any) -> str:
    """Each elastic-transport node class in turn: ``es`` follows it when a test takes both."""
    return str(request.param)


@pytest.fixture
async def es(elasticsearch_server: Any, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """An ``AsyncElasticsearch`` on the stand-in with an empty ``movies`` index, made before
    ``instrument()`` (so no span). On the client's default node class, or on each node class in
    turn when the test takes ``node_class`` too."""
    from elasticsearch import AsyncElasticsearch

    options = {}
    if "node_class" in request.fixturenames:
        options["node_class"] = request.getfixturevalue("node_class")
    client = AsyncElasticsearch(elasticsearch_server.url, **options)
    await client.indices.create(index="movies")  # before instrument(): no span
    yield client
    await client.close()


@pytest.fixture
async def opensearch(elasticsearch_server: Any) -> AsyncIterator[Any]:
    """An ``AsyncOpenSearch`` on the stand-in (OpenSearch speaks the same REST API for everything
    the tests reach) with an empty ``movies`` index, made before ``instrument()`` (so no span)."""
    from opensearchpy import AsyncOpenSearch

    client = AsyncOpenSearch([elasticsearch_server.url])
    await client.indices.create(index="movies")  # before instrument(): no span
    yield client
    await client.close()


@pytest.fixture
async def weaviate_client(weaviate_server: Any) -> AsyncIterator[Any]:
    """A ``WeaviateAsyncClient`` connected to the stand-in (before ``instrument()``: no span)."""
    from tests.servers.weaviate_rest import connect_async_client

    client = await connect_async_client(weaviate_server)
    try:
        yield client
    finally:
        await client.close()


# -- Elastic APM ----------------------------------------------------------------------------------
@pytest.fixture
def make_agent(apm_intake: Any) -> Iterator[Callable[..., Any]]:
    """``make_agent(**config)``: an agent client sending to the intake; closed after the test,
    after ``uninstrument()``.

    Span compression is off unless asked for (tests count spans); ``server_version`` is given so the
    agent does not ask ``GET /`` in the background (8.x: unsampled transactions are not sent).
    """
    import instrumentation
    from tests.servers.apm_intake import close_apm_client, make_apm_client

    clients: List[Any] = []

    def make(**config: Any) -> Any:
        config.setdefault("span_compression_enabled", False)
        config.setdefault("server_version", (8, 15, 0))
        client = make_apm_client(apm_intake.url, **config)
        clients.append(client)
        return client

    yield make
    instrumentation.uninstrument()
    for client in clients:
        close_apm_client(client)


@pytest.fixture
def agent(make_agent: Callable[..., Any]) -> Any:
    """An agent client sending to the intake (see ``make_agent``)."""
    return make_agent()


@pytest.fixture
def apm(agent: Any, apm_intake: Any) -> Any:
    """An ``ApmRecorder``: a real agent client (no compression) sending to the intake."""
    from tests.support.apm import ApmRecorder

    return ApmRecorder(agent, apm_intake)


@pytest.fixture
def audit(tracer_provider: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A ``SpanAudit`` on the test's provider: every span started, every ``end()`` call."""
    from tests.support.audit import SpanAudit

    return SpanAudit(tracer_provider, monkeypatch)
