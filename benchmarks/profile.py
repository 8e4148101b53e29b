"""Where our per-call CPU goes: py-spy samples of the hot path, attributed to our source lines.

    .venv/bin/pip install py-spy
    .venv/bin/python -m benchmarks.profile                      # the default set below
    .venv/bin/python -m benchmarks.profile elasticsearch:ours-otel:search

Each target runs in its own process under ``py-spy record`` (against the same stand-in server
process as ``make bench``), makes ``--calls`` calls after a warm-up, and exits. Only samples taken
inside the measured loop count. A sample is *ours* when the innermost frame of
``src/instrumentation`` on its stack is not the line that calls the wrapped client function (there,
the time is the client's own work); it is charged to that line, and to the innermost function
below it (the SDK or agent code our line called). The report goes to
``benchmarks/results/raw/profile-<client>-<config>.txt`` and to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import linecache
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

from benchmarks.run import LOGS, ROOT, Servers

DEFAULT_TARGETS = (
    "elasticsearch:ours-otel:search",
    "elasticsearch:ours-otel-sampled-out:search",
    "elasticsearch:ours-otel-no-sdk:search",
    "elasticsearch:ours-apm:search",
    "weaviate:ours-otel:fetch_objects",
    "weaviate:ours-otel-no-sdk:fetch_objects",
)
#: py-spy names files relative to their ``sys.path`` entry: ours are ``instrumentation/...``.
OUR_PREFIX = "instrumentation/"
#: The loop whose samples count (``benchmarks.client.run_calls``).
LOOP_FRAME = "run_calls ("
#: A line of ours that hands control to the wrapped client function.
_PASSTHROUGH = re.compile(r"\bwrapped\(|\bawait call\(\)|\bawaitable\b|_inner\.__anext__")
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")

Frame = Tuple[str, str, int]  # function, file, line


def _parse(frame: str) -> Optional[Frame]:
    match = _FRAME.match(frame.strip())
    if match is None:
        return None
    return match["function"], match["file"], int(match["line"])


def _ours(frame: Frame) -> bool:
    return frame[1].startswith(OUR_PREFIX)


def _passthrough(frame: Frame) -> bool:
    source = linecache.getline(str(ROOT / "src" / frame[1]), frame[2])
    return bool(_PASSTHROUGH.search(source))


def _short(frame: Frame) -> str:
    return f"{frame[0]} ({frame[1]}:{frame[2]})"


def analyse(raw: Path, us_per_call: float) -> str:
    """Attribute the samples in ``raw`` (py-spy's collapsed stacks) to our lines.

    Each loop sample stands for ``us_per_call / loop samples`` of a call's CPU time.
    """
    loop = ours = 0
    by_line: Dict[Frame, int] = collections.Counter()
    by_callee: Dict[Tuple[Frame, Frame], int] = collections.Counter()
    by_leaf: Dict[Frame, int] = collections.Counter()
    for text in raw.read_text().splitlines():
        stack_text, _, count_text = text.rpartition(" ")
        if LOOP_FRAME not in stack_text:
            continue
        count = int(count_text)
        loop += count
        frames = [f for f in (_parse(part) for part in stack_text.split(";")) if f is not None]
        innermost = None
        for index in range(len(frames) - 1, -1, -1):
            if _ours(frames[index]):
                innermost = index
                break
        if innermost is None or _passthrough(frames[innermost]):
            continue
        ours += count
        seen = set()
        for frame in frames[: innermost + 1]:
            if _ours(frame) and not _passthrough(frame) and frame not in seen:
                seen.add(frame)
                by_line[frame] += count
        callee = frames[innermost + 1] if innermost + 1 < len(frames) else frames[innermost]
        by_callee[(frames[innermost], callee)] += count
        by_leaf[frames[-1]] += count
    if not loop:
        return "no samples inside the measured loop\n"
    us_per_sample = us_per_call / loop
    lines = [
        f"samples in the measured loop: {loop}; ours: {ours} ({ours / loop:.1%}), "
        f"≈ {ours * us_per_sample:.1f} µs per call",
        "",
        "our lines, inclusive (share of all loop samples, ≈ µs per call):",
    ]
    for frame, count in sorted(by_line.items(), key=lambda item: -item[1])[:25]:
        lines.append(f"  {count / loop:6.1%} {count * us_per_sample:6.1f} µs  {_short(frame)}")
    lines += ["", "innermost line of ours → the function it was running:"]
    for (frame, callee), count in sorted(by_callee.items(), key=lambda item: -item[1])[:25]:
        lines.append(
            f"  {count / loop:6.1%} {count * us_per_sample:6.1f} µs  {_short(frame)} → "
            f"{_short(callee)}"
        )
    lines += ["", "leaf functions of our samples (self time):"]
    for frame, count in sorted(by_leaf.items(), key=lambda item: -item[1])[:20]:
        lines.append(f"  {count / loop:6.1%} {count * us_per_sample:6.1f} µs  {_short(frame)}")
    return "\n".join(lines) + "\n"


def target(spec: Dict[str, object]) -> None:
    """The profiled process: one configuration, warm-up, ``calls`` calls of one operation."""
    from benchmarks.client import Workload, run_calls, set_up
    from benchmarks.workloads import config

    client, name, op = str(spec["client"]), str(spec["config"]), str(spec["op"])
    recorders = set_up(config(client, name), client, spec["servers"])  # type: ignore[arg-type]
    loop = asyncio.new_event_loop()
    workload = Workload()
    loop.run_until_complete(workload.open(client, spec["servers"]))  # type: ignore[arg-type]
    call = workload.calls[op]
    loop.run_until_complete(run_calls(call, 300, 1, recorders.apm))
    import time

    cpu = time.process_time()
    loop.run_until_complete(run_calls(call, int(spec["calls"]), 1, recorders.apm))  # type: ignore[call-overload]
    recorders.flush_apm()
    cpu = time.process_time() - cpu
    loop.run_until_complete(workload.close())
    print(json.dumps({"cpu_s": cpu}), file=sys.stderr)


def profile(
    servers: Servers, spec_text: str, calls: int, rate: int, py_spy: str
) -> Tuple[str, Path]:
    client, name, op = spec_text.split(":")
    spec = {
        "client": client,
        "config": name,
        "op": op,
        "calls": calls,
        "servers": servers.addresses,
    }
    LOGS.mkdir(parents=True, exist_ok=True)
    raw = LOGS / f"profile-{client}-{name}.raw.txt"
    done = subprocess.run(
        [
            py_spy,
            "record",
            "--nonblocking",
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--output",
            str(raw),
            "--",
            sys.executable,
            "-m",
            "benchmarks.profile",
            "--target",
            json.dumps(spec),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    servers.stats()
    cpu = None
    for line in done.stderr.splitlines():
        if line.startswith('{"cpu_s"'):
            cpu = json.loads(line)["cpu_s"]
    us_per_call = (cpu or 0.0) / calls * 1e6
    header = f"{client} `{op}` under {name}: {calls} calls, {us_per_call:.1f} µs CPU per call"
    report = header + " under py-spy\n" + analyse(raw, us_per_call)
    out = LOGS / f"profile-{client}-{name}.txt"
    out.write_text(report)
    return report, out


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help="client:config:operation")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=2000, help="py-spy samples per second")
    parser.add_argument("--target", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.target:
        target(json.loads(args.target))
        return
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if py_spy is None:
        sys.exit("py-spy not found: .venv/bin/pip install py-spy")
    servers = Servers()
    try:
        for spec in args.targets or DEFAULT_TARGETS:
            report, out = profile(servers, spec, args.calls, args.rate, py_spy)
            print(report)
            print(f"(written to {out})\n")
    finally:
        servers.close("quit")


if __name__ == "__main__":
    main()
