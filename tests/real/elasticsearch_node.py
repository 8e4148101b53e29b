"""A real single-node Elasticsearch on 127.0.0.1, from artifacts Elastic publishes on Maven Central.

``build(cache)`` runs Maven on ``tests/real/elasticsearch/pom.xml``. That unpacks the
``org.elasticsearch.distribution.integ-test-zip:elasticsearch`` distribution (the real server
with its real ``bin/elasticsearch``) and compiles ``RootPlugin``, the one class of ours. The
plugin answers ``GET /`` and ``HEAD /``, which that distribution leaves to the ``rest-root``
module it lacks, and is then installed into the unpacked distribution's ``plugins/``.
``start(cache, run)`` runs the node in its own process group and ``stop(run)`` ends that group.
``tests/real/elasticsearch/README.md`` lists what the node has and lacks.
"""

from __future__ import annotations

import pathlib
import shutil
from typing import Any, Dict, Optional

from tests.real import _distribution

ES_VERSION = "9.5.3"
PLUGIN_NAME = "real-test-root"

_DESCRIPTOR = """\
description=GET / and HEAD / for the integ-test-zip distribution (tests/real/elasticsearch)
version={version}
name={name}
classname=realtest.es.RootPlugin
java.version=21
elasticsearch.version={version}
"""


def _install_root_plugin(out: pathlib.Path, home: pathlib.Path) -> None:
    plugin_dir = home / "plugins" / PLUGIN_NAME
    if plugin_dir.exists():
        shutil.rmtree(plugin_dir)
    plugin_dir.mkdir(parents=True)
    shutil.copy2(out / "target" / "real-es-root.jar", plugin_dir / "real-es-root.jar")
    (plugin_dir / "plugin-descriptor.properties").write_text(
        _DESCRIPTOR.format(version=ES_VERSION, name=PLUGIN_NAME)
    )


DIST = _distribution.Distribution(
    name="elasticsearch",
    version=ES_VERSION,
    project=pathlib.Path(__file__).resolve().parent / "elasticsearch",
    script="bin/elasticsearch",
    env_prefix="ES",
    # x-pack-security is in the zip; off, as on a node without a license to enable it.
    settings={"xpack.security.enabled": "false"},
    install=_install_root_plugin,
    installed_marker=f"plugins/{PLUGIN_NAME}/plugin-descriptor.properties",
    digest_extra=_DESCRIPTOR,
)


def home(cache: pathlib.Path) -> pathlib.Path:
    """The unpacked distribution (ES_HOME)."""
    return DIST.home(cache)


def build(cache: pathlib.Path) -> None:
    """Unpack the distribution and build and install the root plugin under ``cache/elasticsearch``."""
    _distribution.build(DIST, cache)


def start(cache: pathlib.Path, run: pathlib.Path, port: Optional[int] = None) -> Dict[str, Any]:
    """Start the node and return ``{"elasticsearch": URL, "elasticsearch_version": "9.x.y"}``."""
    return _distribution.start(DIST, cache, run, port)


def running(run: pathlib.Path) -> bool:
    return _distribution.running(DIST, run)


def stop(run: pathlib.Path) -> None:
    """Stop the node whose process group is in ``run/elasticsearch.pid``; a no-op without one."""
    _distribution.stop(DIST, run)
