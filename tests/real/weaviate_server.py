"""A real Weaviate server on 127.0.0.1, built from its published Go module.

No Docker here: the server is ``github.com/weaviate/weaviate/cmd/weaviate-server``
compiled with ``go install`` at the version pinned in ``WEAVIATE_VERSION`` (see
``tests/real/weaviate/README.md`` for why that version). The orchestrator
``tests/real/servers.py`` calls the three functions below::

    build(cache)       # idempotent; ~10 min cold on 2 cores, instant when built
    info = start(cache, run)
    stop(run)

The server runs with ``backup-filesystem``, ``generative-dummy`` (it answers without any
network) and the Cohere modules ``text2vec-cohere`` and ``generative-cohere`` (``MODULES``).
With generative modules on, a collection needs one of its own to generate (Weaviate 1.39 takes a
lone one as everybody's default, and refuses to choose among several). The Cohere ones call Cohere only for a
collection configured with them, and only where a request names the API key
(``X-Cohere-Api-Key``; the server has none of its own): the tests point them at a loopback
Cohere-compatible endpoint (``tests/servers/cohere.py``) with the ``X-Cohere-Baseurl`` header.
The other API-based modules stay off. Its REST, gossip and
raft listeners are bound to 127.0.0.1; Weaviate hard-codes ``":%d"`` for its
client gRPC port and its cluster data port, so those two listen on all
interfaces (on random free ports). Telemetry, the Go profiling listener and the
API-based (network) modules are switched off.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from typing import Any, Dict, List, Optional, Tuple

# The newest 1.x release whose whole dependency graph the Go module proxy serves
# here (v1.39.4 .. v1.39.7 need github.com/weaviate/sroar v0.0.17 / v0.0.18,
# which the proxy refuses; v1.40.x is refused itself). See the README.
WEAVIATE_VERSION = "1.39.3"
GO_PACKAGE = "github.com/weaviate/weaviate/cmd/weaviate-server"

READY_TIMEOUT_S = 120.0
POLL_INTERVAL_S = 0.25
STOP_TIMEOUT_S = 20.0

_HOST = "127.0.0.1"
#: Compiled into the server; ENABLE_MODULES selects them.
MODULES = ("backup-filesystem", "text2vec-cohere", "generative-cohere", "generative-dummy")
# Popen objects of the servers this process started: stop() reaps them; the ones still
# running when this process exits (the server outlives `servers.py start`) are dropped
# quietly: `import weaviate` turns ResourceWarning on ("subprocess N is still running").
_children: Dict[int, subprocess.Popen] = {}  # type: ignore[type-arg]


@atexit.register
def _forget_children() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        _children.clear()


_BINARY_NAME = "weaviate-server"


def binary_path(cache: pathlib.Path) -> pathlib.Path:
    return pathlib.Path(cache) / "weaviate" / "bin" / _BINARY_NAME


def _stamp_path(cache: pathlib.Path) -> pathlib.Path:
    return binary_path(cache).with_name(_BINARY_NAME + ".version")


def _is_built(cache: pathlib.Path) -> bool:
    binary, stamp = binary_path(cache), _stamp_path(cache)
    try:
        return (
            binary.is_file()
            and os.access(binary, os.X_OK)
            and stamp.read_text().strip() == WEAVIATE_VERSION
        )
    except OSError:
        return False


def _go() -> str:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not os.path.exists(go):
        raise RuntimeError("weaviate: no Go toolchain found (PATH or /usr/local/go/bin/go)")
    return go


def build(cache: pathlib.Path) -> None:
    """Build ``cache/weaviate/bin/weaviate-server`` at ``WEAVIATE_VERSION`` if missing.

    Uses the default Go caches (``go env GOMODCACHE`` / ``GOCACHE``), so a rebuild
    after the first one takes seconds. Safe to call concurrently (file lock) and
    repeatedly (returns at once when the binary of the pinned version exists).
    """
    if _is_built(cache):
        return
    bindir = binary_path(cache).parent
    bindir.mkdir(parents=True, exist_ok=True)
    with open(bindir.parent / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_built(cache):
            return
        # go install into a scratch GOBIN, then rename: never a half-written binary.
        gobin = pathlib.Path(tempfile.mkdtemp(prefix="gobin-", dir=bindir.parent))
        try:
            env = dict(os.environ, GOBIN=str(gobin))
            # `go install pkg@version` ignores any go.mod around it; run it outside the repo anyway.
            proc = subprocess.run(
                [_go(), "install", f"{GO_PACKAGE}@v{WEAVIATE_VERSION}"],
                cwd=str(gobin),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            if proc.returncode != 0:
                tail = "\n".join(proc.stdout.splitlines()[-30:])
                raise RuntimeError(
                    f"weaviate: go install {GO_PACKAGE}@v{WEAVIATE_VERSION} failed "
                    f"(exit {proc.returncode}):\n{tail}"
                )
            os.replace(gobin / _BINARY_NAME, binary_path(cache))
            _stamp_path(cache).write_text(WEAVIATE_VERSION + "\n")
        finally:
            shutil.rmtree(gobin, ignore_errors=True)


def _free_ports(count: int) -> List[int]:
    """Ports free on every IPv4 address (bound, never listened on, all held at once)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("0.0.0.0", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _http_get(url: str, timeout: float = 2.0) -> Tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((_HOST, port), timeout=0.5):
        return True
    return False


def _log_tail(log: pathlib.Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"(no log: {e})"


def _server_env(run: pathlib.Path, ports: Dict[str, int]) -> Dict[str, str]:
    # A clean environment: nothing from the caller's (OTEL_*, proxies, ...) leaks in.
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TZ", "TMPDIR") if k in os.environ}
    env.update(
        {
            "PERSISTENCE_DATA_PATH": str(run / "weaviate-data"),
            "QUERY_DEFAULTS_LIMIT": "25",
            "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "true",
            "DEFAULT_VECTORIZER_MODULE": "none",
            "ENABLE_MODULES": ",".join(MODULES),
            "BACKUP_FILESYSTEM_PATH": str(run / "weaviate-backups"),
            # Without this every API-based vectorizer/generative/reranker module is on (not
            # only the ones in ENABLE_MODULES).
            "API_BASED_MODULES_DISABLED": "true",
            "DISABLE_TELEMETRY": "true",
            # Else a debug/pprof listener on :6060, all interfaces.
            "GO_PROFILING_DISABLE": "true",
            "CLUSTER_HOSTNAME": "node1",
            # Not CLUSTER_IN_LOCALHOST=true: with it the raft RPC port is taken to be
            # RAFT_PORT + 1 whatever RAFT_INTERNAL_RPC_PORT says, and the join hangs.
            "CLUSTER_BIND_ADDR": _HOST,
            "CLUSTER_GOSSIP_BIND_PORT": str(ports["gossip"]),
            "CLUSTER_DATA_BIND_PORT": str(ports["data"]),
            "RAFT_PORT": str(ports["raft"]),
            "RAFT_INTERNAL_RPC_PORT": str(ports["raft_rpc"]),
            "RAFT_BOOTSTRAP_EXPECT": "1",
            "RAFT_JOIN": f"node1:{ports['raft']}",
            # Default 5: the single node takes ~7 s to elect itself instead of ~3 s.
            "RAFT_TIMEOUTS_MULTIPLIER": "1",
            "GRPC_PORT": str(ports["grpc"]),
            "LOG_LEVEL": "info",
            "LOG_FORMAT": "json",
        }
    )
    return env


def start(cache: pathlib.Path, run: pathlib.Path) -> Dict[str, Any]:
    """Start the server in the background and wait until it is ready.

    Fresh data each time (``run/weaviate-data`` and ``run/weaviate-backups`` are
    emptied). Output goes to ``run/weaviate.log``, the pid (= process group id)
    to ``run/weaviate.pid``. Returns the REST base URL, the gRPC port and the
    version the server reports.
    """
    cache, run = pathlib.Path(cache).resolve(), pathlib.Path(run).resolve()
    build(cache)
    run.mkdir(parents=True, exist_ok=True)
    stop(run)  # a leftover server from an earlier start
    for d in ("weaviate-data", "weaviate-backups"):
        shutil.rmtree(run / d, ignore_errors=True)
        (run / d).mkdir()

    names = ("http", "grpc", "gossip", "data", "raft", "raft_rpc")
    ports = dict(zip(names, _free_ports(len(names))))
    log_path = run / "weaviate.log"
    cmd = [
        str(binary_path(cache)),
        "--host", _HOST,
        "--port", str(ports["http"]),
        "--scheme", "http",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=str(run),
            env=_server_env(run, ports),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (run / "weaviate.pid").write_text(f"{proc.pid}\n")
    _children[proc.pid] = proc

    base = f"http://{_HOST}:{ports['http']}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    ready = False
    while True:
        code = proc.poll()
        if code is not None:
            stop(run)
            raise RuntimeError(
                f"weaviate-server exited with {code} before it was ready; "
                f"{log_path} ends with:\n{_log_tail(log_path)}"
            )
        if not ready:
            with contextlib.suppress(OSError):
                ready = _http_get(base + "/v1/.well-known/ready", timeout=1.0)[0] == 200
        if ready and _port_open(ports["grpc"]):
            break
        if time.monotonic() > deadline:
            stop(run)
            raise RuntimeError(
                f"weaviate-server not ready after {READY_TIMEOUT_S:.0f} s; "
                f"{log_path} ends with:\n{_log_tail(log_path)}"
            )
        time.sleep(POLL_INTERVAL_S)

    status, body = _http_get(base + "/v1/meta", timeout=5.0)
    if status != 200:
        stop(run)
        raise RuntimeError(f"weaviate: GET /v1/meta answered {status}: {body[:500]!r}")
    return {
        "weaviate_http": base,
        "weaviate_grpc_port": ports["grpc"],
        "weaviate_version": json.loads(body)["version"],
    }


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (reaps it if it is our child)."""
    with contextlib.suppress(ChildProcessError, OSError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _is_weaviate(pid: int) -> bool:
    try:
        cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    argv0 = cmdline.split(b"\0", 1)[0]
    return os.path.basename(argv0) == _BINARY_NAME.encode()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _alive(pgid) or any(_pgid_of(p) == pgid and _alive(p) for p in _pids() if p != pgid)


def _pids() -> List[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _pgid_of(pid: int) -> Optional[int]:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _wait_gone(pgid: int, child: Optional[subprocess.Popen], timeout: float) -> bool:  # type: ignore[type-arg]
    """Wait until no process of the group is left (reaping the leader if it is our child)."""
    deadline = time.monotonic() + timeout
    while True:
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=0.1)
        if not _group_alive(pgid):
            return True
        if time.monotonic() > deadline:
            return False
        if child is None:
            time.sleep(0.1)


def stop(run: pathlib.Path) -> None:
    """Stop the process group named in ``run/weaviate.pid``; no-op without one.

    SIGTERM, up to ``STOP_TIMEOUT_S`` for a graceful shutdown, then SIGKILL.
    A pid that is no longer a weaviate-server group leader (reused pid) is left alone.
    """
    pid_file = pathlib.Path(run) / "weaviate.pid"
    try:
        pgid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        pid_file.unlink(missing_ok=True)
        return
    child = _children.pop(pgid, None)
    if pgid > 1 and _alive(pgid) and _is_weaviate(pgid) and _pgid_of(pgid) == pgid:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        if not _wait_gone(pgid, child, STOP_TIMEOUT_S):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            _wait_gone(pgid, child, 5.0)
    pid_file.unlink(missing_ok=True)
