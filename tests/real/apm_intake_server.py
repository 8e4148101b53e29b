"""Elastic's own APM intake on 127.0.0.1: ``tests/real/apm_intake`` built from the Go module proxy.

APM Server itself cannot be built from the Go module proxy; the code it runs to turn what
applications send into the documents Kibana's APM UI reads can: ``github.com/elastic/apm-data``
(``input/elasticapm`` for the agents' intake v2, ``input/otlp`` for OTLP, ``model/modeljson`` for
the indexed document). ``tests/real/apm_intake/main.go`` (ours, small) serves them on a loopback
port and hands the documents back to the tests (``GET /_docs``). The orchestrator
``tests/real/servers.py`` calls::

    build(cache)       # idempotent; about a minute cold on 2 idle cores, instant when built
    info = start(cache, run)   # {"apm_intake": "http://127.0.0.1:PORT", "apm_data_version": ...}
    stop(run)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from typing import Any, Dict

from tests.real import weaviate_server

#: The apm-data release the intake is built on (tests/real/apm_intake/go.mod pins it, go.sum
#: fixes every module's hash). APM Server 9.x runs the 1.x line.
APM_DATA_VERSION = "1.22.1"

SOURCE = pathlib.Path(__file__).resolve().parent / "apm_intake"
_BINARY_NAME = "apm-intake"
_PID_FILE = "apm-intake.pid"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def binary_path(cache: pathlib.Path) -> pathlib.Path:
    return pathlib.Path(cache) / "apm-intake" / "bin" / _BINARY_NAME


def _digest() -> str:
    """What the binary is built from: a change to the program or its pins rebuilds it."""
    sha = hashlib.sha256(APM_DATA_VERSION.encode())
    for name in ("go.mod", "go.sum", "main.go"):
        sha.update((SOURCE / name).read_bytes())
    return sha.hexdigest()[:16]


def _is_built(cache: pathlib.Path) -> bool:
    binary = binary_path(cache)
    try:
        stamp = binary.with_name(_BINARY_NAME + ".version").read_text().strip()
        return os.access(binary, os.X_OK) and stamp == _digest()
    except OSError:
        return False


def build(cache: pathlib.Path) -> None:
    """``go build`` the intake into ``cache/apm-intake/bin`` unless the same source is built.

    The default Go caches (``GOMODCACHE``, ``GOCACHE``) are used, so a rebuild takes seconds;
    ``-mod=readonly`` with the committed go.sum: the modules are exactly the pinned ones.
    """
    import fcntl

    if _is_built(cache):
        return
    bindir = binary_path(cache).parent
    bindir.mkdir(parents=True, exist_ok=True)
    with open(bindir.parent / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_built(cache):
            return
        scratch = pathlib.Path(tempfile.mkdtemp(prefix="build-", dir=bindir.parent))
        try:
            go = [weaviate_server._go(), "build", "-mod=readonly", "-buildvcs=false", "-trimpath"]
            proc = subprocess.run(
                [*go, "-o", str(scratch / _BINARY_NAME), "."],
                cwd=str(SOURCE),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            if proc.returncode != 0:
                tail = "\n".join(proc.stdout.splitlines()[-30:])
                raise RuntimeError(f"apm-intake: go build failed (exit {proc.returncode}):\n{tail}")
            os.replace(scratch / _BINARY_NAME, binary_path(cache))
            binary_path(cache).with_name(_BINARY_NAME + ".version").write_text(_digest() + "\n")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def start(cache: pathlib.Path, run: pathlib.Path) -> Dict[str, Any]:
    """Start the intake on a free loopback port (in its own process group) and wait for it."""
    cache, run = pathlib.Path(cache).resolve(), pathlib.Path(run).resolve()
    build(cache)
    run.mkdir(parents=True, exist_ok=True)
    stop(run)  # a leftover intake from an earlier start
    log_path = run / "apm-intake.log"
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TZ") if k in os.environ}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(binary_path(cache)), "-addr", "127.0.0.1:0"],
            cwd=str(run),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (run / _PID_FILE).write_text(f"{proc.pid}\n")
    weaviate_server._children[proc.pid] = proc  # reaped by stop(), forgotten at exit
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", log_path.read_text())
        if found:
            url = found.group(1)
            with contextlib.suppress(OSError), urllib.request.urlopen(url + "/", timeout=2):
                return {"apm_intake": url, "apm_data_version": APM_DATA_VERSION}
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(run)
            raise RuntimeError(
                f"apm-intake did not start; {log_path} ends with:\n"
                + weaviate_server._log_tail(log_path)
            )
        time.sleep(0.05)


def stop(run: pathlib.Path) -> None:
    """Stop the intake named in ``run/apm-intake.pid`` (SIGTERM, then SIGKILL); no-op without one.

    A pid that is no longer an apm-intake group leader (reused pid) is left alone.
    """
    pid_file = pathlib.Path(run) / _PID_FILE
    try:
        pgid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        pid_file.unlink(missing_ok=True)
        return
    child = weaviate_server._children.pop(pgid, None)
    try:
        argv0 = pathlib.Path(f"/proc/{pgid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        argv0 = b""
    ours = os.path.basename(argv0) == _BINARY_NAME.encode()
    if pgid > 1 and ours and weaviate_server._pgid_of(pgid) == pgid:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        if not weaviate_server._wait_gone(pgid, child, STOP_TIMEOUT_S):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            weaviate_server._wait_gone(pgid, child, 5.0)
    pid_file.unlink(missing_ok=True)
