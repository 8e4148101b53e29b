"""A real single-node OpenSearch on 127.0.0.1, from the distribution OpenSearch publishes on Maven Central.

``build(cache)`` runs Maven on ``tests/real/opensearch/pom.xml``, which unpacks
``org.opensearch.distribution.integ-test-zip:opensearch``. That is the real server and its
``bin/opensearch`` with all the standard modules (reindex, painless, analysis-common, ...).
There is no code of ours. ``start(cache, run)`` runs the node in its own process group and
``stop(run)`` ends that group. ``tests/real/opensearch/README.md`` has the details.
"""

from __future__ import annotations

import pathlib

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


#: The functions ``servers.py`` calls on a server module.
home, build, start, running, stop = DIST.home, DIST.build, DIST.start, DIST.running, DIST.stop
