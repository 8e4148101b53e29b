"""A real single-node Elasticsearch on 127.0.0.1, from artifacts Elastic publishes on Maven Central.

``build(cache)`` runs Maven on ``tests/real/elasticsearch/pom.xml``: it unpacks the
``org.elasticsearch.distribution.integ-test-zip:elasticsearch`` distribution (the real server and
its real ``bin/elasticsearch``) and compiles ``RootPlugin``, the one class of ours, which answers
``GET /`` and ``HEAD /`` (that distribution leaves them to the ``rest-root`` module it lacks);
the plugin is then installed into the unpacked distribution's ``plugins/``.
``start(cache, run)`` runs the node in its own process group, ``stop(run)`` ends that group.
See ``tests/real/elasticsearch/README.md`` for what the node has and lacks.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any, Dict, List, Optional

ES_VERSION = "9.5.3"
HERE = pathlib.Path(__file__).resolve().parent
PROJECT = HERE / "elasticsearch"
PLUGIN_NAME = "real-test-root"
START_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0
# A JDK for Maven (the plugin targets Java 21) and for the node (9.x needs Java 21+).
JDK_CANDIDATES = ("/usr/lib/jvm/temurin-25-jdk-amd64",)
# Elasticsearch refuses to run as root; as root, the node runs as this uid/gid instead.
UNPRIVILEGED = 65534  # nobody / nogroup

_DESCRIPTOR = """\
description=GET / and HEAD / for the integ-test-zip distribution (tests/real/elasticsearch)
version={version}
name={name}
classname=realtest.es.RootPlugin
java.version=21
elasticsearch.version={version}
"""


def home(cache: pathlib.Path) -> pathlib.Path:
    """The unpacked distribution (ES_HOME)."""
    return pathlib.Path(cache) / "elasticsearch" / "dist" / f"elasticsearch-{ES_VERSION}"


def _inputs_digest() -> str:
    digest = hashlib.sha256(ES_VERSION.encode())
    digest.update(_DESCRIPTOR.encode())
    for path in sorted([PROJECT / "pom.xml", *(PROJECT / "src").rglob("*.java")]):
        digest.update(str(path.relative_to(PROJECT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _java_home() -> str:
    """A JDK of version 21 or newer: $REAL_ES_JAVA_HOME, the Temurin JDK, or $JAVA_HOME."""
    candidates = [
        os.environ.get("REAL_ES_JAVA_HOME", ""),
        *JDK_CANDIDATES,
        os.environ.get("JAVA_HOME", ""),
    ]
    for candidate in candidates:
        if (
            candidate
            and (pathlib.Path(candidate) / "bin" / "javac").exists()
            and _java_major(candidate) >= 21
        ):
            return candidate
    raise RuntimeError(
        f"no JDK 21+ found (tried {[c for c in candidates if c]}); set REAL_ES_JAVA_HOME"
    )


def _java_major(java_home: str) -> int:
    release = pathlib.Path(java_home) / "release"
    try:
        for line in release.read_text().splitlines():
            if line.startswith("JAVA_VERSION="):
                return int(line.split("=", 1)[1].strip('"').split(".")[0])
    except (OSError, ValueError):
        pass
    return 0


def build(cache: pathlib.Path) -> None:
    """Unpack the distribution and build + install the root plugin under ``cache/elasticsearch``.

    Idempotent: a stamp holds the digest of the inputs (pom.xml, the Java source, the version);
    when it matches and the outputs are there, nothing runs.
    """
    out = pathlib.Path(cache).resolve() / "elasticsearch"
    stamp = out / "build.stamp"
    digest = _inputs_digest()
    es_home = home(cache)
    plugin_dir = es_home / "plugins" / PLUGIN_NAME
    if (
        stamp.exists()
        and stamp.read_text().strip() == digest
        and (es_home / "bin" / "elasticsearch").exists()
        and (plugin_dir / "plugin-descriptor.properties").exists()
    ):
        return
    out.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    java_home = _java_home()
    env = dict(os.environ, JAVA_HOME=java_home)
    cmd = [
        "mvn",
        "-q",
        "-B",
        "-f",
        str(PROJECT / "pom.xml"),
        "package",
        f"-Dreal.out={out}",
        f"-Des.version={ES_VERSION}",
    ]
    result = subprocess.run(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-4000:]}"
        )
    if plugin_dir.exists():
        shutil.rmtree(plugin_dir)
    plugin_dir.mkdir(parents=True)
    shutil.copy2(out / "target" / "real-es-root.jar", plugin_dir / "real-es-root.jar")
    (plugin_dir / "plugin-descriptor.properties").write_text(
        _DESCRIPTOR.format(version=ES_VERSION, name=PLUGIN_NAME)
    )
    stamp.write_text(digest + "\n")


def _http(url: str, timeout: float = 2.0) -> Dict[str, Any]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode())


def _log_tail(log: pathlib.Path, lines: int = 60) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _settings(state: pathlib.Path, port: Optional[int]) -> List[str]:
    settings = {
        "cluster.name": "real-test",
        "node.name": "real-test-node",
        "discovery.type": "single-node",
        "network.host": "127.0.0.1",
        "http.host": "127.0.0.1",
        "http.port": str(port or 0),
        "transport.host": "127.0.0.1",
        "transport.port": "0",
        "path.data": str(state / "data"),
        "path.logs": str(state / "logs"),
        # Writes logs/http.ports, how we learn the bound port when http.port is 0.
        "node.portsfile": "true",
        "xpack.security.enabled": "false",
        "cluster.routing.allocation.disk.threshold_enabled": "false",
    }
    args: List[str] = []
    for key, value in settings.items():
        args += ["-E", f"{key}={value}"]
    return args


def _prepare_state(es_home: pathlib.Path, state: pathlib.Path, as_root: bool) -> None:
    """A fresh config copy, data, logs and tmp dir; owned by the unprivileged user when root."""
    if state.exists():
        shutil.rmtree(state)
    state.mkdir(parents=True)
    shutil.copytree(es_home / "config", state / "config")
    for name in ("data", "logs", "tmp"):
        (state / name).mkdir()
    if as_root:
        for path in [state, *state.rglob("*")]:
            os.chown(path, UNPRIVILEGED, UNPRIVILEGED)


def start(cache: pathlib.Path, run: pathlib.Path, port: Optional[int] = None) -> Dict[str, Any]:
    """Start the node in the background; return its URL and version once it answers.

    State (config copy, data, logs) is recreated under ``run/elasticsearch/``; the node's
    stdout/stderr go to ``run/elasticsearch.log`` and its pid (= process group id) to
    ``run/elasticsearch.pid``. ``port`` 0/None lets the node pick a free HTTP port.
    """
    run = pathlib.Path(run).resolve()
    es_home = home(cache).resolve()
    if not (es_home / "bin" / "elasticsearch").exists():
        raise RuntimeError(f"{es_home} is missing: run build() first")
    run.mkdir(parents=True, exist_ok=True)
    stop(run)
    state = run / "elasticsearch"
    as_root = os.geteuid() == 0
    _prepare_state(es_home, state, as_root)
    log = run / "elasticsearch.log"
    env = dict(os.environ)
    for name in ("JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "ES_HOME", "JAVA_HOME"):
        env.pop(name, None)
    env.update(
        ES_JAVA_HOME=_java_home(),
        ES_PATH_CONF=str(state / "config"),
        ES_TMPDIR=str(state / "tmp"),
        ES_JAVA_OPTS=os.environ.get("REAL_ES_JAVA_OPTS", "-Xms512m -Xmx512m"),
    )
    extra: Dict[str, Any] = {}
    if as_root:
        extra = {"user": UNPRIVILEGED, "group": UNPRIVILEGED, "extra_groups": []}
    began = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(es_home / "bin" / "elasticsearch"), *_settings(state, port)],
            cwd=str(state),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **extra,
        )
    (run / "elasticsearch.pid").write_text(f"{proc.pid}\n")
    ports_file = state / "logs" / "http.ports"
    url: Optional[str] = None
    deadline = began + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            (run / "elasticsearch.pid").unlink(missing_ok=True)
            raise RuntimeError(
                f"elasticsearch exited with {proc.returncode} while starting; {log}:\n{_log_tail(log)}"
            )
        if time.monotonic() > deadline:
            stop(run)
            raise RuntimeError(
                f"elasticsearch did not answer within {START_TIMEOUT:.0f}s; {log}:\n{_log_tail(log)}"
            )
        if url is None:
            lines = ports_file.read_text().split() if ports_file.exists() else []
            if lines:
                url = f"http://{lines[0]}"
        if url is not None:
            try:
                root = _http(url + "/")
                health = _http(url + "/_cluster/health?wait_for_status=green&timeout=1s")
                if health.get("status") == "green":
                    break
            except (OSError, ValueError, urllib.error.URLError):
                pass
        time.sleep(0.25)
    info = {"elasticsearch": url, "elasticsearch_version": root["version"]["number"]}
    (run / "elasticsearch.json").write_text(
        json.dumps({**info, "start_seconds": round(time.monotonic() - began, 2)}) + "\n"
    )
    return info


def _alive(pid: int) -> bool:
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child, now reaped
            return False
    except ChildProcessError:
        pass
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _group_members(pgid: int) -> List[int]:
    members = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def _is_ours(pgid: int, run: pathlib.Path) -> bool:
    """The group still runs our node: some member's command line names this run's state dir."""
    marker = str(pathlib.Path(run).resolve() / "elasticsearch").encode()
    for pid in _group_members(pgid):
        try:
            if marker in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes():
                return True
            if marker in pathlib.Path(f"/proc/{pid}/environ").read_bytes():
                return True
        except OSError:
            continue
    return False


def running(run: pathlib.Path) -> bool:
    """Whether the process group in ``run/elasticsearch.pid`` is alive and is our node."""
    pid_file = pathlib.Path(run) / "elasticsearch.pid"
    try:
        pgid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return False
    return bool(_group_members(pgid)) and _is_ours(pgid, run)


def stop(run: pathlib.Path) -> None:
    """SIGTERM the process group in ``run/elasticsearch.pid``, SIGKILL it after a bounded wait.

    No-op without a pid file; a group that is no longer our node (reused pid) is left alone.
    """
    pid_file = pathlib.Path(run) / "elasticsearch.pid"
    try:
        pgid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        pid_file.unlink(missing_ok=True)
        return
    if _group_members(pgid) and _is_ours(pgid, run):
        for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                _alive(pgid)  # reaps the leader if it is our child
                if not _group_members(pgid):
                    break
                time.sleep(0.1)
            if not _group_members(pgid):
                break
    pid_file.unlink(missing_ok=True)
