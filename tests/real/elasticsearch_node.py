"""A real single-node Elasticsearch on 127.0.0.1, from artifacts Elastic publishes on Maven Central.

``build(cache)`` runs Maven on ``tests/real/elasticsearch/pom.xml``. That unpacks the
``org.elasticsearch.distribution.integ-test-zip:elasticsearch`` distribution (the real server
with its real ``bin/elasticsearch``) and compiles ``RootPlugin``, the one plugin of ours. The
plugin answers ``GET /`` and ``HEAD /``, which that distribution leaves to the ``rest-root``
module it lacks, and is then installed into the unpacked distribution's ``plugins/``.
``start(cache, run)`` runs the node in its own process group and ``stop(run)`` ends that group.
``distribution(version, name)`` gives the same for another version under another name: the
8.x node of ``elasticsearch8_node`` is ``distribution(ES8_VERSION, "elasticsearch8")``.
``tests/real/elasticsearch/README.md`` lists what the node has and lacks.
"""

from __future__ import annotations

import pathlib
import shutil

from tests.real import _distribution

ES_VERSION = "9.5.3"
# The newest 8.x integ-test-zip on Maven Central (versions:display-dependency-updates, 2026-12).
ES8_VERSION = "8.19.21"
PLUGIN_NAME = "real-test-root"

_DESCRIPTOR = """\
description=GET / and HEAD / for the integ-test-zip distribution (tests/real/elasticsearch)
version={version}
name={name}
classname=realtest.es.RootPlugin
java.version={java}
elasticsearch.version={version}
"""


def distribution(version: str, name: str) -> _distribution.Distribution:
    """The distribution of ``version`` (8.x or 9.x) with our root plugin, run as ``name``.

    ``name`` names its cache directory, its state, log and pid files under ``run/`` and the keys
    ``start()`` returns, so two versions can run side by side. The plugin is compiled from
    ``src/main/java`` plus ``src/es<major>/java`` (the plugin API of ``getRestHandlers`` differs),
    for Java 21 on 9.x and Java 17 on 8.x (the release each was built for).
    """
    major = int(version.split(".")[0])
    java = "17" if major == 8 else "21"
    descriptor = _DESCRIPTOR.format(version=version, name=PLUGIN_NAME, java=java)

    def install(out: pathlib.Path, home: pathlib.Path) -> None:
        plugin_dir = home / "plugins" / PLUGIN_NAME
        if plugin_dir.exists():
            shutil.rmtree(plugin_dir)
        plugin_dir.mkdir(parents=True)
        shutil.copy2(out / "target" / "real-es-root.jar", plugin_dir / "real-es-root.jar")
        (plugin_dir / "plugin-descriptor.properties").write_text(descriptor)

    return _distribution.Distribution(
        name=name,
        version=version,
        project=pathlib.Path(__file__).resolve().parent / "elasticsearch",
        script="bin/elasticsearch",
        env_prefix="ES",
        # x-pack-security is in the zip; off, as on a node without a license to enable it.
        settings={"xpack.security.enabled": "false"},
        install=install,
        installed_marker=f"plugins/{PLUGIN_NAME}/plugin-descriptor.properties",
        digest_extra=descriptor,
        maven_args=()
        if major == 9
        else (f"-Des.major={major}", f"-Dmaven.compiler.release={java}"),
        artifact="elasticsearch",
    )


DIST = distribution(ES_VERSION, "elasticsearch")


#: The functions ``servers.py`` calls on a server module.
home, build, start, running, stop = DIST.home, DIST.build, DIST.start, DIST.running, DIST.stop
