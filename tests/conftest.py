"""Shared test helpers and fixtures; the server and provider fixtures are in ``tests.servers.fixtures``."""

from __future__ import annotations

import sys
from typing import Any, Dict, Iterator, List

import pytest

pytest_plugins = ["tests.servers.fixtures"]


def finished(exporter: Any) -> List[Any]:
    return list(exporter.get_finished_spans())


def by_name(exporter: Any) -> Dict[str, Any]:
    return {span.name: span for span in exporter.get_finished_spans()}


def duration_points(reader: Any) -> List[Any]:
    data = reader.get_metrics_data()
    points: List[Any] = []
    if data is None:
        return points
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == "db.client.operation.duration":
                    points.extend(metric.data.data_points)
    return points


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


@pytest.fixture(params=["aiohttp", "httpxasync"])
def node_class(request: Any) -> str:
    return str(request.param)


@pytest.fixture
def audit(tracer_provider: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A ``SpanAudit`` on the test's provider: every span started, every ``end()`` call."""
    from tests.test_reliability_outcomes import SpanAudit

    return SpanAudit(tracer_provider, monkeypatch)


@pytest.fixture
def apm(apm_intake: Any) -> Iterator[Any]:
    """An ``ApmRecorder``: a real agent client (no compression) sending to the intake."""
    from tests.servers.apm_intake import close_apm_client, make_apm_client
    from tests.test_reliability_outcomes import ApmRecorder

    client = make_apm_client(
        apm_intake.url, span_compression_enabled=False, server_version=(8, 15, 0)
    )
    try:
        yield ApmRecorder(client, apm_intake)
    finally:
        close_apm_client(client)
