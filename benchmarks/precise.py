"""The precise phase of ``make bench``: instructions per call, counted by callgrind.

CPU time per block swings by a factor of two between identical blocks on a noisy (virtual)
machine, so a budget of a few microseconds cannot be told apart from noise by timing. Instruction
counts can: callgrind counts every user-space instruction the client process executes, and with
a fixed hash seed the same calls give the same count to within a few instructions a call,
whatever else the machine does.

Each (configuration, operation) runs in a fresh client process under
``valgrind --tool=callgrind --instr-atstart=no``, against the same stand-in servers as the rest of
the benchmark. The process warms up uncounted; the runner switches counting on
(``callgrind_control -i on``) around one block of calls and off after it, so the count is that
block's alone. Kernel time (socket system calls) is not counted, and our code adds none.

To put an instruction count next to a budget in µs, the report divides it by the baseline's own
rate on this machine (baseline instructions per call / baseline CPU µs per call from the timed
phase). That rate includes the baseline's kernel time, so the conversion overstates our cost
rather than understating it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Sequence, Tuple

from benchmarks.workloads import OPERATIONS, PRECISE_CONFIGS, config

_COLLECTED = re.compile(r"Collected : (\d+)")


def available() -> bool:
    return shutil.which("valgrind") is not None and shutil.which("callgrind_control") is not None


def _callgrind(pid: int, on: bool) -> None:
    subprocess.run(
        ["callgrind_control", "-i", "on" if on else "off", str(pid)],
        capture_output=True,
        check=True,
        timeout=60,
    )


def count(
    process_class: Any, client: str, name: str, op: str, servers: Dict[str, Any], calls: int
) -> float:
    """Instructions per call of ``op`` under configuration ``name``, in a fresh process."""
    from benchmarks.run import LOGS  # the runner owns the log directory

    worker = process_class(
        client,
        config(client, name),
        servers,
        warmup=100,
        prefix=[
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            "--callgrind-out-file=/dev/null",
        ],
        log_name=f"callgrind-{client}-{name}-{op}",
        # A fixed hash seed: with a random one, dict layouts (and so instruction counts) differ
        # from process to process by about a thousand instructions a call; fixed, by a handful.
        env={"PYTHONHASHSEED": "0"},
    )
    ready = worker.read()
    pid = int(ready["pid"])
    try:
        _callgrind(pid, True)
        worker.command(cmd="block", op=op, calls=calls)
        _callgrind(pid, False)
    finally:
        worker.close(json.dumps({"cmd": "quit"}))
    found = _COLLECTED.findall((LOGS / f"callgrind-{client}-{name}-{op}.log").read_text())
    if not found:
        raise RuntimeError(f"callgrind reported no count for {client} {name} {op}")
    return int(found[-1]) / calls


def run(
    process_class: Any,
    client: str,
    servers: Dict[str, Any],
    calls: int,
    log: Any,
    jobs: int = 2,
) -> Optional[Dict[str, Any]]:
    """``{"calls": n, "instructions": {config: {op: per call}}}``, or ``None`` without valgrind."""
    if not available():
        log("precise phase skipped: valgrind / callgrind_control not found")
        return None
    names: Sequence[str] = PRECISE_CONFIGS[client]
    tasks: List[Tuple[str, str]] = [(name, op) for name in names for op in OPERATIONS[client]]
    log(f"{client}: precise phase, {len(tasks)} callgrind processes of {calls} calls")
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        counted = list(
            pool.map(
                lambda task: count(process_class, client, task[0], task[1], servers, calls), tasks
            )
        )
    instructions: Dict[str, Dict[str, float]] = {name: {} for name in names}
    for (name, op), value in zip(tasks, counted):
        instructions[name][op] = value
    return {"calls": calls, "instructions": instructions}
