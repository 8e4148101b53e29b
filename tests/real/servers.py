"""Start, stop or build the real servers the ``tests/real`` modules know how to run.

    python -m tests.real.servers build|start|stop [--only NAME[,NAME...]]

State lives under ``.real-servers/`` in the repository root: ``cache/`` (artifacts, builds) and
``run/`` (pid files, logs, data). ``start`` builds what is missing, starts every server (reusing one
that is still running and answering), prints ONE JSON line merging their dicts and writes it to
``.real-servers/run/servers.json``. A server that fails to build or start is reported on stderr
with its reason, the line names the servers that did start, and ``start``/``build`` then end with
``[real-servers] not started: NAME, ...`` and exit 1. ``stop`` stops
exactly the servers whose pid files are in ``run/``. ``--only`` limits any of the three to the named
servers (``--only elasticsearch8``) and leaves the others, and their entries in ``servers.json``,
alone.

Builds run one after the other; starts run concurrently.

Each server module has ``build(cache)``, ``start(cache, run) -> dict`` and ``stop(run)``, and
writes its pid (= process group id) to ``run/<pid_file>``. Missing modules are skipped.
"""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import sys
import time
import traceback
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any, Dict, List, Optional, Set, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[2]
BASE = ROOT / ".real-servers"
CACHE = BASE / "cache"
RUN = BASE / "run"
STATE = RUN / "servers-state.json"  # per server: the dict its start() returned
SERVERS_JSON = RUN / "servers.json"  # the merged line start prints

# (name, module, pid file under run/)
SERVERS: List[Tuple[str, str, str]] = [
    ("elasticsearch", "tests.real.elasticsearch_node", "elasticsearch.pid"),
    # The newest 8.x beside it, for elasticsearch-py 8.x (.venv-es8): keys elasticsearch8(_version).
    ("elasticsearch8", "tests.real.elasticsearch8_node", "elasticsearch8.pid"),
    ("opensearch", "tests.real.opensearch_node", "opensearch.pid"),
    ("weaviate", "tests.real.weaviate_server", "weaviate.pid"),
    # Elastic's intake code (apm-data): the documents APM Server would index (apm_intake).
    ("apm_intake", "tests.real.apm_intake_server", "apm-intake.pid"),
]


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _modules(
    only: Optional[List[str]] = None, failed: Optional[List[str]] = None
) -> List[Tuple[str, ModuleType, str]]:
    """The server modules asked for; one that cannot be imported is reported (and added to
    ``failed``), one not written at all is skipped silently."""
    found = []
    for name, module_name, pid_file in SERVERS:
        if only is not None and name not in only:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # not written (yet): skipped silently
            _err(f"[real-servers] {name}: import failed: {exc!r}")
            if failed is not None:
                failed.append(name)
            continue
        except Exception as exc:
            _err(f"[real-servers] {name}: import failed: {exc!r}")
            if failed is not None:
                failed.append(name)
            continue
        found.append((name, module, pid_file))
    return found


def _pid_alive(path: pathlib.Path) -> bool:
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _answers(info: Dict[str, Any]) -> bool:
    """Every http URL in the info answers (any HTTP status counts as an answer)."""
    urls = [v for v in info.values() if isinstance(v, str) and v.startswith("http")]
    if not urls:
        return False
    for url in urls:
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/", timeout=3):
                pass
        except urllib.error.HTTPError:
            pass
        except (OSError, ValueError):
            return False
    return True


def _load_state() -> Dict[str, Dict[str, Any]]:
    try:
        data = json.loads(STATE.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_state(state: Dict[str, Dict[str, Any]]) -> None:
    RUN.mkdir(parents=True, exist_ok=True)
    STATE.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")


def _write_servers_json(state: Dict[str, Dict[str, Any]], names: Set[str]) -> str:
    """Merge the dicts of ``state`` for ``names``, in the fixed order of SERVERS, into
    ``servers.json`` (removed when none is left)."""
    merged: Dict[str, Any] = {}
    for name, _, _ in SERVERS:
        if name in names:
            merged.update(state.get(name, {}))
    line = json.dumps(merged, sort_keys=True)
    if merged:
        SERVERS_JSON.write_text(line + "\n")
    else:
        SERVERS_JSON.unlink(missing_ok=True)
    return line


def _outcome(failed: List[str], what: str) -> int:
    """Exit status: 1, with one closing line naming them, when a server asked for failed."""
    if not failed:
        return 0
    _err(f"[real-servers] {what}: {', '.join(failed)} (see the lines above)")
    return 1


def build(only: Optional[List[str]] = None) -> int:
    failed: List[str] = []
    CACHE.mkdir(parents=True, exist_ok=True)
    for name, module, _ in _modules(only, failed):
        began = time.monotonic()
        try:
            module.build(CACHE)
        except Exception as exc:
            failed.append(name)
            _err(f"[real-servers] {name}: build failed: {exc}")
            continue
        _err(f"[real-servers] {name}: built ({time.monotonic() - began:.1f}s)")
    return _outcome(failed, "not built")


def _start_one(name: str, module: ModuleType) -> Dict[str, Any]:
    began = time.monotonic()
    info = dict(module.start(CACHE, RUN))
    _err(f"[real-servers] {name}: started ({time.monotonic() - began:.1f}s)")
    return info


def start(only: Optional[List[str]] = None) -> int:
    CACHE.mkdir(parents=True, exist_ok=True)
    RUN.mkdir(parents=True, exist_ok=True)
    state = _load_state()
    failed: List[str] = []
    modules = _modules(only, failed)
    to_start = []
    for name, module, pid_file in modules:
        saved = state.get(name)
        if saved and _pid_alive(RUN / pid_file) and _answers(saved):
            _err(f"[real-servers] {name}: already running, reused")
            continue
        state.pop(name, None)
        began = time.monotonic()
        try:
            module.build(CACHE)  # one at a time: Maven and Go builds each want the 2 cores
        except Exception as exc:
            failed.append(name)
            _err(f"[real-servers] {name}: build failed: {exc}")
            continue
        if time.monotonic() - began > 1:
            _err(f"[real-servers] {name}: built ({time.monotonic() - began:.1f}s)")
        to_start.append((name, module))
    # The servers start concurrently: each start() mostly waits for its server to answer.
    with ThreadPoolExecutor(max_workers=max(1, len(to_start))) as pool:
        futures = {name: pool.submit(_start_one, name, module) for name, module in to_start}
        for name, future in futures.items():
            try:
                state[name] = future.result()
            except Exception as exc:
                failed.append(name)
                _err(f"[real-servers] {name}: failed: {exc}")
                if os.environ.get("REAL_SERVERS_DEBUG") == "1":
                    traceback.print_exception(type(exc), exc, exc.__traceback__)
    names = {name for name, _, _ in modules}
    if only is not None:  # the others' entries too, for those still running
        names |= {n for n, _, p in SERVERS if n in state and _pid_alive(RUN / p)}
    _save_state(state)
    line = _write_servers_json(state, names)
    print(line, flush=True)
    return _outcome(failed, "not started")


def stop(only: Optional[List[str]] = None) -> int:
    failed = 0
    for name, module, pid_file in _modules(only):
        if not (RUN / pid_file).exists():
            continue
        try:
            module.stop(RUN)
        except Exception as exc:
            failed += 1
            _err(f"[real-servers] {name}: stop failed: {exc}")
            continue
        _err(f"[real-servers] {name}: stopped")
    state = {
        k: v
        for k, v in _load_state().items()
        if any(k == n and (RUN / p).exists() for n, _, p in SERVERS)
    }
    _save_state(state)
    # servers.json keeps what is still running (--only, a failed stop); without any, it goes.
    _write_servers_json(state, set(state))
    return 1 if failed else 0


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    commands = {"build": build, "start": start, "stop": stop}
    only: Optional[List[str]] = None
    if len(args) == 3 and args[1] == "--only":
        only = [name for name in args[2].split(",") if name]
    elif len(args) == 2 and args[1].startswith("--only="):
        only = [name for name in args[1].split("=", 1)[1].split(",") if name]
    known = {name for name, _, _ in SERVERS}
    if (
        len(args) not in (1, 2, 3)
        or args[0] not in commands
        or (len(args) > 1 and only is None)
        or (only is not None and (not only or set(only) - known))
    ):
        _err(
            "usage: python -m tests.real.servers build|start|stop [--only NAME[,NAME...]]"
            f" (names: {', '.join(sorted(known))})"
        )
        return 2
    return commands[args[0]](only)


if __name__ == "__main__":
    sys.exit(main())
