"""The newest Elasticsearch 8.x, beside the 9.x node: the same distribution and plugin, another version.

``elasticsearch_node.distribution(ES8_VERSION, "elasticsearch8")``: its own cache
(``cache/elasticsearch8``), state, log and pid file (``run/elasticsearch8*``) and keys
(``{"elasticsearch8": URL, "elasticsearch8_version": "8.19.x"}``), so both nodes run side by
side. It is there for elasticsearch-py 8.x (``.venv-es8``): a 9.x client sends
``compatible-with=9``, which an 8.x node refuses. ``tests/real/elasticsearch/README.md`` has the
details.
"""

from __future__ import annotations

import pathlib
from typing import Any, Dict, Optional

from tests.real import _distribution
from tests.real.elasticsearch_node import ES8_VERSION, distribution

DIST = distribution(ES8_VERSION, "elasticsearch8")


def home(cache: pathlib.Path) -> pathlib.Path:
    """The unpacked distribution (ES_HOME)."""
    return DIST.home(cache)


def build(cache: pathlib.Path) -> None:
    """Unpack the 8.x distribution and build and install the root plugin under ``cache/elasticsearch8``."""
    _distribution.build(DIST, cache)


def start(cache: pathlib.Path, run: pathlib.Path, port: Optional[int] = None) -> Dict[str, Any]:
    """Start the node and return ``{"elasticsearch8": URL, "elasticsearch8_version": "8.x.y"}``."""
    return _distribution.start(DIST, cache, run, port)


def running(run: pathlib.Path) -> bool:
    return _distribution.running(DIST, run)


def stop(run: pathlib.Path) -> None:
    """Stop the node whose process group is in ``run/elasticsearch8.pid``; a no-op without one."""
    _distribution.stop(DIST, run)
