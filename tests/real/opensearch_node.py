"""A real single-node OpenSearch on 127.0.0.1, from the distribution OpenSearch publishes on Maven Central.

``build(cache)`` runs Maven on ``tests/real/opensearch/pom.xml``, which unpacks
``org.opensearch.distribution.integ-test-zip:opensearch``. That is the real server and its
``bin/opensearch`` with all the standard modules (reindex, painless, analysis-common, ...).
There is no code of ours. ``start(cache, run)`` runs the node in its own process group and
``stop(run)`` ends that group. ``tests/real/opensearch/README.md`` has the details.
"""

from __future__ import annotations

import pathlib
from typing import Any, Dict, Optional

from tests.real import _distribution

# The newest integ-test-zip on Maven Central (org.opensearch:opensearch has 3.9.0, its zip does not).
OPENSEARCH_VERSION = "3.8.0"

DIST = _distribution.Distribution(
    name="opensearch",
    version=OPENSEARCH_VERSION,
    project=pathlib.Path(__file__).resolve().parent / "opensearch",
    script="bin/opensearch",
    env_prefix="OPENSEARCH",
)


def home(cache: pathlib.Path) -> pathlib.Path:
    """The unpacked distribution (OPENSEARCH_HOME)."""
    return DIST.home(cache)


def build(cache: pathlib.Path) -> None:
    """Unpack the distribution under ``cache/opensearch``; idempotent."""
    _distribution.build(DIST, cache)


def start(cache: pathlib.Path, run: pathlib.Path, port: Optional[int] = None) -> Dict[str, Any]:
    """Start the node and return ``{"opensearch": URL, "opensearch_version": "3.x.y"}``."""
    return _distribution.start(DIST, cache, run, port)


def running(run: pathlib.Path) -> bool:
    return _distribution.running(DIST, run)


def stop(run: pathlib.Path) -> None:
    """Stop the node whose process group is in ``run/opensearch.pid``; a no-op without one."""
    _distribution.stop(DIST, run)
