"""Build, start and stop a search-server distribution unpacked from Maven Central.

This is shared by ``elasticsearch_node`` and ``opensearch_node``. Both servers publish the
distribution their own REST tests run against as ``*.distribution.integ-test-zip``, a zip with
the real launcher script. Each ``tests/real/<name>/pom.xml`` unpacks it into
``cache/<name>/dist/``. The node runs from there with its state under ``run/<name>/``.

Both servers refuse to run as root; as root the node runs as ``nobody``, which must be able to
enter every directory down to the distribution and the state. A checkout in a directory only its
owner can enter (``mktemp -d``, a container's ``/root``) is out of its reach: there the node runs
from hard links of the distribution, with its state, under the system's temporary directory
(``_where``).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

START_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0
# A JDK 21+ for Maven and for the node (Elasticsearch 9 and OpenSearch 3 need Java 21+).
JDK_CANDIDATES = ("/usr/lib/jvm/temurin-25-jdk-amd64",)
# Both servers refuse to run as root; as root, the node runs as this uid/gid instead.
UNPRIVILEGED = 65534  # nobody / nogroup


@dataclass(frozen=True)
class Distribution:
    name: str  # names the pid/log/state files under run/ and the keys start() returns
    version: str
    project: pathlib.Path  # the directory holding pom.xml (and any Java source)
    script: str  # the launcher, relative to the unpacked home
    env_prefix: str  # ES -> ES_JAVA_HOME, ES_PATH_CONF, ES_TMPDIR, ES_JAVA_OPTS
    settings: Dict[str, str] = field(default_factory=dict)  # added to the common ones
    # After Maven: install(out, home) adds our own pieces to the unpacked distribution.
    install: Optional[Callable[[pathlib.Path, pathlib.Path], None]] = None
    installed_marker: str = ""  # a path under home that install() creates
    digest_extra: str = ""  # anything else that should trigger a rebuild when it changes
    maven_args: Tuple[str, ...] = ()  # extra -D options for the project's pom.xml
    # The zip's top directory is <artifact>-<version>; the artifact is the name unless given
    # (elasticsearch8 unpacks elasticsearch-8.x.y).
    artifact: str = ""

    def out(self, cache: pathlib.Path) -> pathlib.Path:
        return pathlib.Path(cache).resolve() / self.name

    def home(self, cache: pathlib.Path) -> pathlib.Path:
        """The unpacked distribution (its ``*_HOME``)."""
        return self.out(cache) / "dist" / f"{self.artifact or self.name}-{self.version}"

    # What ``servers.py`` and ``support.py`` call on a server module: a node module binds these.
    def build(self, cache: pathlib.Path) -> None:
        """Unpack the distribution (and install our pieces) under ``cache/<name>``; idempotent."""
        build(self, cache)

    def start(
        self, cache: pathlib.Path, run: pathlib.Path, port: Optional[int] = None
    ) -> Dict[str, Any]:
        """Start the node; ``{"<name>": URL, "<name>_version": "x.y.z"}``."""
        return start(self, cache, run, port)

    def running(self, run: pathlib.Path) -> bool:
        return running(self, run)

    def stop(self, run: pathlib.Path) -> None:
        """Stop the node whose process group is in ``run/<name>.pid``; a no-op without one."""
        stop(self, run)


def java_home(variable: str = "REAL_JAVA_HOME") -> str:
    """A JDK of version 21 or newer: ``$variable``, the Temurin JDK, or ``$JAVA_HOME``."""
    candidates = [os.environ.get(variable, ""), *JDK_CANDIDATES, os.environ.get("JAVA_HOME", "")]
    for candidate in candidates:
        if (
            candidate
            and (pathlib.Path(candidate) / "bin" / "javac").exists()
            and _java_major(candidate) >= 21
        ):
            return candidate
    raise RuntimeError(f"no JDK 21+ found (tried {[c for c in candidates if c]}); set {variable}")


def _java_major(home: str) -> int:
    try:
        for line in (pathlib.Path(home) / "release").read_text().splitlines():
            if line.startswith("JAVA_VERSION="):
                return int(line.split("=", 1)[1].strip('"').split(".")[0])
    except (OSError, ValueError):
        pass
    return 0


def _digest(dist: Distribution) -> str:
    digest = hashlib.sha256(
        f"{dist.name} {dist.version} {dist.digest_extra} {dist.maven_args}".encode()
    )
    for path in sorted(
        [dist.project / "pom.xml", *(dist.project / "src").rglob("*.java")]
    ):  # src/ may be absent
        digest.update(str(path.relative_to(dist.project)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build(dist: Distribution, cache: pathlib.Path) -> None:
    """Run Maven on the project into ``cache/<name>``, then ``dist.install``; idempotent.

    A stamp holds the digest of the inputs (pom.xml, Java source, version). When it matches
    and the outputs are there, nothing runs.
    """
    out = dist.out(cache)
    stamp = out / "build.stamp"
    digest = _digest(dist)
    home = dist.home(cache)
    if (
        stamp.exists()
        and stamp.read_text().strip() == digest
        and (home / dist.script).exists()
        and (not dist.installed_marker or (home / dist.installed_marker).exists())
    ):
        return
    out.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    env = dict(os.environ, JAVA_HOME=java_home())
    cmd = [
        "mvn",
        "-q",
        "-B",
        "-f",
        str(dist.project / "pom.xml"),
        "package",
        f"-Dreal.out={out}",
        f"-Ddist.version={dist.version}",
        *dist.maven_args,
    ]
    result = subprocess.run(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-4000:]}"
        )
    if dist.install is not None:
        dist.install(out, home)
    stamp.write_text(digest + "\n")


def http_json(url: str, timeout: float = 2.0) -> Dict[str, Any]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode())


def _log_tail(log: pathlib.Path, lines: int = 60) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _settings(dist: Distribution, state: pathlib.Path, port: Optional[int]) -> List[str]:
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
        "cluster.routing.allocation.disk.threshold_enabled": "false",
        # The node's clock read live, not the copy its thread pool refreshes every 200 ms: a
        # search's ``timeout`` is checked against that clock, so a 1 ms budget runs out only
        # when the search spans a refresh. Live, a search that takes a few milliseconds over
        # many documents runs out of it every time (the timed_out tests ask for that).
        "thread_pool.estimated_time_interval": "0",
        **dist.settings,
    }
    args: List[str] = []
    for key, value in settings.items():
        args += ["-E", f"{key}={value}"]
    return args


def _reachable(path: pathlib.Path, uid: int = UNPRIVILEGED, gid: int = UNPRIVILEGED) -> bool:
    """Whether ``uid`` can walk down to ``path``: every directory on the way lets it search."""
    for directory in [*reversed(path.parents), path]:
        try:
            st = directory.stat()
        except OSError:
            return False
        if st.st_uid == uid:
            allowed = st.st_mode & stat.S_IXUSR
        elif st.st_gid == gid:
            allowed = st.st_mode & stat.S_IXGRP
        else:
            allowed = st.st_mode & stat.S_IXOTH
        if not allowed:
            return False
    return True


def _shared_base(run: pathlib.Path) -> pathlib.Path:
    """Where a node run as the unprivileged user keeps what it must read and write, when the
    checkout is in a directory that user cannot enter (``mktemp -d``, a container's ``/root``):
    under the system's temporary directory, one per ``run`` directory, owned by root, 0755."""
    key = hashlib.sha256(str(run).encode()).hexdigest()[:12]
    base = pathlib.Path(tempfile.gettempdir()).resolve() / f"real-servers-{key}"
    try:
        base.mkdir(mode=0o755)
    except FileExistsError:
        pass
    st = os.lstat(base)  # never follow a link someone else left at that name
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise RuntimeError(f"{base} is not a directory of ours; remove it")
    os.chmod(base, 0o755)
    return base


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)  # same file system: no copy, the cache's files themselves
    except OSError:
        shutil.copy2(source, target)


def _runtime_home(home: pathlib.Path, base: pathlib.Path, name: str) -> pathlib.Path:
    """The distribution where the unprivileged user can read it: hard links (else copies) of
    ``home`` under ``base``, remade when the build stamp beside ``home`` changes."""
    target = base / name / "dist" / home.name
    stamp_file = home.parent.parent / "build.stamp"
    stamp = stamp_file.read_text() if stamp_file.exists() else ""
    mirrored = target.parent / "mirror.stamp"
    if target.exists() and mirrored.exists() and mirrored.read_text() == stamp:
        return target
    if target.parent.exists():
        shutil.rmtree(target.parent)
    target.parent.mkdir(parents=True, mode=0o755)
    os.chmod(target.parent.parent, 0o755)
    shutil.copytree(home, target, symlinks=True, copy_function=_link_or_copy)
    mirrored.write_text(stamp)
    return target


def _where(
    dist: Distribution, home: pathlib.Path, run: pathlib.Path, as_root: bool
) -> Tuple[pathlib.Path, pathlib.Path]:
    """The home the node runs from and its state directory.

    As root the node runs as the unprivileged user, which must be able to reach both. When the
    checkout is in a directory it cannot enter, both move under ``_shared_base(run)``. The state
    directory is written to ``run/<name>.state``, so ``stop`` finds the node by it.
    """
    state = run / dist.name
    if as_root and not (_reachable(home) and _reachable(run)):
        base = _shared_base(run)
        home = _runtime_home(home, base, dist.name)
        state = base / dist.name / "state"
    (run / f"{dist.name}.state").write_text(f"{state}\n")
    return home, state


def _state_dir(dist: Distribution, run: pathlib.Path) -> pathlib.Path:
    try:
        return pathlib.Path((run / f"{dist.name}.state").read_text().strip())
    except OSError:
        return run / dist.name


def _prepare_state(home: pathlib.Path, state: pathlib.Path, as_root: bool) -> None:
    """A fresh config copy, data, logs and tmp dir; owned by the unprivileged user when root."""
    if state.exists():
        shutil.rmtree(state)
    state.mkdir(parents=True)
    shutil.copytree(home / "config", state / "config")
    # OpenSearch's jvm.options writes gc logs, error files and heap dumps relative to its home,
    # where the node (unprivileged when we are root) cannot write, and which must stay pristine.
    jvm_options = state / "config" / "jvm.options"
    text = jvm_options.read_text()
    for relative, absolute in (
        ("file=logs/", f"file={state}/logs/"),
        ("-Xloggc:logs/", f"-Xloggc:{state}/logs/"),
        ("ErrorFile=logs/", f"ErrorFile={state}/logs/"),
        ("HeapDumpPath=data\n", f"HeapDumpPath={state}/data\n"),
    ):
        text = text.replace(relative, absolute)
    jvm_options.write_text(text)
    for name in ("data", "logs", "tmp"):
        (state / name).mkdir()
    if as_root:
        for path in [state, *state.rglob("*")]:
            os.chown(path, UNPRIVILEGED, UNPRIVILEGED)


def start(
    dist: Distribution, cache: pathlib.Path, run: pathlib.Path, port: Optional[int] = None
) -> Dict[str, Any]:
    """Start the node in the background and return its URL and version once it answers.

    State (config copy, data, logs, tmp) is recreated under ``run/<name>/`` (as root, when the
    unprivileged user cannot reach the checkout: under ``_shared_base``, see ``_where``). The node's
    stdout and stderr go to ``run/<name>.log`` and its pid (= process group id) to
    ``run/<name>.pid``. With ``port`` 0 or None, the node picks a free HTTP port.
    """
    run = pathlib.Path(run).resolve()
    home = dist.home(cache)
    if not (home / dist.script).exists():
        raise RuntimeError(f"{home} is missing: run build() first")
    run.mkdir(parents=True, exist_ok=True)
    stop(dist, run)
    as_root = os.geteuid() == 0
    home, state = _where(dist, home, run, as_root)
    _prepare_state(home, state, as_root)
    log = run / f"{dist.name}.log"
    pid_file = run / f"{dist.name}.pid"
    prefix = dist.env_prefix
    env = dict(os.environ)
    for name in ("JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "JAVA_HOME"):
        env.pop(name, None)
    for suffix in ("HOME", "JAVA_HOME", "PATH_CONF", "TMPDIR", "JAVA_OPTS"):
        env.pop(f"{prefix}_{suffix}", None)
    env.update(
        {
            f"{prefix}_JAVA_HOME": java_home(),
            f"{prefix}_PATH_CONF": str(state / "config"),
            f"{prefix}_TMPDIR": str(state / "tmp"),
            f"{prefix}_JAVA_OPTS": os.environ.get("REAL_JAVA_OPTS", "-Xms512m -Xmx512m"),
        }
    )
    extra: Dict[str, Any] = {}
    if as_root:
        extra = {"user": UNPRIVILEGED, "group": UNPRIVILEGED, "extra_groups": []}
    began = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(home / dist.script), *_settings(dist, state, port)],
            cwd=str(state),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **extra,
        )
    pid_file.write_text(f"{proc.pid}\n")
    ports_file = state / "logs" / "http.ports"
    url: Optional[str] = None
    deadline = began + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            pid_file.unlink(missing_ok=True)
            raise RuntimeError(
                f"{dist.name} exited with {proc.returncode} while starting; {log}:\n{_log_tail(log)}"
            )
        if time.monotonic() > deadline:
            stop(dist, run)
            raise RuntimeError(
                f"{dist.name} did not answer within {START_TIMEOUT:.0f}s; {log}:\n{_log_tail(log)}"
            )
        if url is None:
            lines = ports_file.read_text().split() if ports_file.exists() else []
            if lines:
                url = f"http://{lines[0]}"
        if url is not None:
            try:
                root = http_json(url + "/")
                health = http_json(url + "/_cluster/health?wait_for_status=green&timeout=1s")
                if health.get("status") == "green":
                    break
            except (OSError, ValueError, urllib.error.URLError):
                pass
        time.sleep(0.25)
    info = {dist.name: url, f"{dist.name}_version": root["version"]["number"]}
    (run / f"{dist.name}.json").write_text(
        json.dumps({**info, "start_seconds": round(time.monotonic() - began, 2)}) + "\n"
    )
    return info


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)  # our own child (start and stop in one process)
    except ChildProcessError:
        pass


def _group_members(pgid: int) -> List[int]:
    """Live (non-zombie) processes in the process group."""
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


def _is_ours(dist: Distribution, pgid: int, run: pathlib.Path) -> bool:
    """Some member's command line or environment names this run's state directory."""
    marker = str(_state_dir(dist, pathlib.Path(run).resolve())).encode()
    for pid in _group_members(pgid):
        for part in ("cmdline", "environ"):
            try:
                if marker in pathlib.Path(f"/proc/{pid}/{part}").read_bytes():
                    return True
            except OSError:
                continue
    return False


def _pgid(dist: Distribution, run: pathlib.Path) -> Optional[int]:
    try:
        return int((pathlib.Path(run) / f"{dist.name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def running(dist: Distribution, run: pathlib.Path) -> bool:
    """Whether the process group in ``run/<name>.pid`` is alive and is our node."""
    pgid = _pgid(dist, run)
    return pgid is not None and bool(_group_members(pgid)) and _is_ours(dist, pgid, run)


def stop(dist: Distribution, run: pathlib.Path) -> None:
    """SIGTERM the process group in ``run/<name>.pid``, then SIGKILL it after a bounded wait.

    This is a no-op without a pid file. A group that is no longer our node (a reused pid) is
    left alone.
    """
    pid_file = pathlib.Path(run) / f"{dist.name}.pid"
    pgid = _pgid(dist, run)
    if pgid is not None and _group_members(pgid) and _is_ours(dist, pgid, run):
        for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                _reap(pgid)
                if not _group_members(pgid):
                    break
                time.sleep(0.1)
            if not _group_members(pgid):
                break
        _reap(pgid)
    pid_file.unlink(missing_ok=True)
