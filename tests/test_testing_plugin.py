"""``instrumentation.testing``: opt-in fixtures for a user's own tests, nothing without the opt-in.

Each check runs pytest in a subprocess on a throwaway project, as a user's suite would run: only
installed plugins are loaded, none of this repository's ``conftest.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, List

import pytest

#: Each test runs pytest twice, in processes of their own (each limited to 120 s).
pytestmark = pytest.mark.timeout(300)

OUR_FIXTURES = (
    "search_span_exporter",
    "search_metric_reader",
    "search_tracer_provider",
    "search_meter_provider",
    "search_instrumented",
)
#: The suite's own fixture names: a user's session must never see them either.
SUITE_FIXTURES = (
    "span_exporter",
    "metric_reader",
    "tracer_provider",
    "meter_provider",
    "instrumented",
    "elasticsearch_server",
    "weaviate_server",
    "apm_intake",
)

USER_TEST = """
import os

import pytest
from elasticsearch import AsyncElasticsearch


@pytest.mark.asyncio
async def test_my_search_is_traced(search_instrumented, search_span_exporter, search_metric_reader):
    search_instrumented(capture_query="raw")
    async with AsyncElasticsearch(os.environ["USER_ES_URL"]) as es:
        await es.index(index="movies", id="1", document={"title": "Alien"}, refresh=True)
        await es.search(index="movies", query={"match": {"title": "alien"}})
    spans = search_span_exporter.get_finished_spans()
    assert [s.name for s in spans] == ["index movies", "search movies"]
    assert spans[1].attributes["db.query.text"] == '{"query":{"match":{"title":"alien"}}}'
    metrics = search_metric_reader.get_metrics_data()
    names = [
        m.name for r in metrics.resource_metrics for s in r.scope_metrics for m in s.metrics
    ]
    assert "db.client.operation.duration" in names


def test_providers_are_the_sdk_ones_around_the_reader_and_exporter(
    search_tracer_provider, search_meter_provider
):
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    assert isinstance(search_tracer_provider, TracerProvider)
    assert isinstance(search_meter_provider, MeterProvider)
"""


def _pytest(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=project,
        env={**os.environ, "PYTHONPATH": "", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _project(tmp_path: Path, conftest: str) -> Path:
    (tmp_path / "conftest.py").write_text(conftest)
    (tmp_path / "test_user.py").write_text(USER_TEST)
    return tmp_path


def _fixture_names(output: str) -> List[str]:
    return [line.split()[0] for line in output.splitlines() if line and not line[0].isspace()]


def test_opted_in_fixtures_trace_a_real_call_against_the_imitation(
    tmp_path: Path, elasticsearch_server: Any
) -> None:
    project = _project(tmp_path, 'pytest_plugins = ["instrumentation.testing"]\n')
    run = _pytest(project, "-q", USER_ES_URL=elasticsearch_server.url)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout

    listed = _fixture_names(_pytest(project, "--fixtures").stdout)
    assert set(OUR_FIXTURES) <= set(listed)
    assert not set(SUITE_FIXTURES) & set(listed)


def test_without_the_opt_in_none_of_our_fixtures_exist(tmp_path: Path) -> None:
    project = _project(tmp_path, "")
    listing = _pytest(project, "--fixtures")
    assert listing.returncode == 0, listing.stdout + listing.stderr
    listed = _fixture_names(listing.stdout)
    assert "tmp_path" in listed  # the listing itself works
    assert not (set(OUR_FIXTURES) | set(SUITE_FIXTURES)) & set(listed)

    run = _pytest(project, "-q", USER_ES_URL="http://127.0.0.1:9")
    assert run.returncode != 0
    assert "fixture 'search_instrumented' not found" in run.stdout
