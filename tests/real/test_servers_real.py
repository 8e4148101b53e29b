"""The real tier's nodes run from any checkout: one only its owner can enter, as root.

Elasticsearch and OpenSearch refuse to run as root, so as root their node runs as ``nobody``,
which cannot enter a checkout under ``mktemp -d`` or a container's ``/root``. The node must start
from there all the same (``_distribution._where``).
"""

from __future__ import annotations

import os
import pathlib
import shutil

import pytest

from tests.real import _distribution, opensearch_node, support


@pytest.mark.skipif(os.geteuid() != 0, reason="the node drops to nobody only when run as root")
@pytest.mark.timeout(400)
def test_opensearch_starts_from_a_checkout_only_root_can_enter(tmp_path: pathlib.Path) -> None:
    opensearch_node.build(support.CACHE)  # at once when built (the tier's servers were)
    built = opensearch_node.home(support.CACHE)
    checkout = tmp_path / "checkout"  # pytest's own tmp_path is 0700 already; make sure
    checkout.mkdir(mode=0o700)
    cache = checkout / ".real-servers" / "cache"
    home = cache / "opensearch" / "dist" / built.name
    home.parent.mkdir(parents=True)
    shutil.copytree(built, home, symlinks=True, copy_function=_distribution._link_or_copy)
    shutil.copy2(built.parent.parent / "build.stamp", home.parent.parent / "build.stamp")
    run = checkout / ".real-servers" / "run"
    assert not _distribution._reachable(home)
    try:
        info = opensearch_node.DIST.start(cache, run)
        assert support.http("GET", info["opensearch"] + "/")["version"]["number"] == (
            opensearch_node.OPENSEARCH_VERSION
        )
        assert opensearch_node.DIST.running(run)
    finally:
        opensearch_node.DIST.stop(run)
        shutil.rmtree(_distribution._shared_base(run.resolve()), ignore_errors=True)
    assert not opensearch_node.DIST.running(run)
