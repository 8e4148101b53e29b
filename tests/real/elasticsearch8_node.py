"""The newest Elasticsearch 8.x, beside the 9.x node: the same distribution and plugin, another version.

``elasticsearch_node.distribution(ES8_VERSION, "elasticsearch8")``: its own cache
(``cache/elasticsearch8``), state, log and pid file (``run/elasticsearch8*``) and keys
(``{"elasticsearch8": URL, "elasticsearch8_version": "8.19.x"}``), so both nodes run side by
side. It is there for elasticsearch-py 8.x (``.venv-es8``): a 9.x client sends
``compatible-with=9``, which an 8.x node refuses. ``tests/real/elasticsearch/README.md`` has the
details.
"""

from __future__ import annotations

from tests.real.elasticsearch_node import ES8_VERSION, distribution

DIST = distribution(ES8_VERSION, "elasticsearch8")


#: The functions ``servers.py`` calls on a server module.
home, build, start, running, stop = DIST.home, DIST.build, DIST.start, DIST.running, DIST.stop
