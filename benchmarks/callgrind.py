"""Only the callgrind phase of ``make bench``: instructions per call, for a before/after comparison.

Counts, like ``benchmarks.precise``, the user-space instructions one block of calls costs in a
fresh client process under callgrind, with a fixed hash seed, for both clients and every
configuration of ``PRECISE_CONFIGS`` plus ``CALLGRIND_EXTRA_CONFIGS`` (``benchmarks/workloads.py``):
sampled, recording spans (ours, the SDK floors, elasticsearch-py's own span) and the Elastic APM
agent (ours through the APM backend, the agent's own Elasticsearch spans, its transactions alone).
One process per configuration counts each operation's block in turn (a callgrind dump per block,
after a full garbage collection; ``--process-per-operation``: one process per cell instead). No
timed rounds, no concurrency or memory run.

Run from the repository root (``benchmarks`` and ``tests`` must be importable)::

    .venv/bin/python -m benchmarks.callgrind --out benchmarks/results/callgrind-after.json

``--src DIR`` puts a package source first on the client processes' ``PYTHONPATH``, so the same
benchmark measures another version of ``instrumentation`` (the stand-in servers are imported from
``tests.servers``, or from that version's ``instrumentation.testing``), e.g. the state at b9ededf::

    git worktree add /tmp/bench-before b9ededf
    .venv/bin/python -m benchmarks.callgrind --src /tmp/bench-before/src \\
        --out benchmarks/results/callgrind-before.json
    git worktree remove /tmp/bench-before

Every client process reports where it imported ``instrumentation`` from (in the JSON); with
``--src``, a process that did not import it from there fails. Writes the JSON (``--out``) and the
table printed at the end (same path, ``.md``); ``--dumps DIR`` keeps each block's callgrind dump
for ``callgrind_annotate``. 31 processes, 2 at a time: about 10 minutes of CPU, 11-13 minutes of
wall time on 2 cores shared with other work.

What the client talks to, so that only its own work is counted, and the same work every run:

* Elasticsearch (``--es-transport inprocess``, default): the stand-in's answers, recorded in the
  warm-up, replayed by a minimal HTTP server in the client's own event loop
  (``benchmarks.es_replay``; its instructions per call are the same in every configuration), and
  that loop's clock stopped (``benchmarks.client.freeze_clock``). Over loopback to the stand-in
  process (``loopback``), how the two processes were scheduled and which wall-clock timers fired
  during the ~50x slowed-down block depended on the machine's load and moved the count by several
  thousand instructions a call; in-process, not at all.
* Weaviate: over loopback to the stand-ins, as in ``make bench``; gRPC's own threads and clock
  stay (freezing the loop's clock did not make it repeatable).
* Elastic APM (``--apm-transport inprocess``, default): the agent's own transport with the
  network answered in-process (``benchmarks.apm_sink``): its client-side work (events, its sending
  thread, JSON, gzip) is counted, the HTTP exchange with the intake is not. The agent's duration
  thresholds are raised (``APM_SETTINGS``) so callgrind's slowdown does not change what it does: at
  native speed a call takes well under the 5 ms above which the agent processes a span's stack
  trace and the 50 ms under which it compresses identical consecutive spans, and a block ends with
  an explicit flush, never a timed one.

Also, for every client process: a fixed environment, address-space randomisation off
(``setarch -R``) and aiohttp's 2-second closed-transport sweep made as rare per call as at native
speed (``benchmarks.client.stretch_housekeeping``).

What remains is memory layout (``layout_env``): the same configuration counts up to ~0.6% more or
fewer from one process to the next (seen: ~6,000 instructions a call on Elasticsearch's ~975,000,
usually under 1,500), as allocations interleave differently. A single run resolves differences of
tens of thousands of instructions (spans, metrics, the SDK floors); for a few thousand (the
no-SDK path), use ``--layouts 3`` (three processes per configuration, the median; ~3x the time).
``--compare BEFORE.json`` writes a before/after table next to ``--out``; ``--render`` rewrites the
tables from an existing JSON without measuring.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from benchmarks import precise
from benchmarks.run import LOGS, ROOT, Servers, Worker, environment
from benchmarks.workloads import (
    APM_REFERENCE,
    BASELINE,
    CALLGRIND_EXTRA_CONFIGS,
    FLOOR_RECORDING,
    FLOOR_SAMPLED_OUT,
    FLOOR_SAMPLED_OUT_NO_METER,
    FLOOR_SPAN,
    FLOOR_WRAPT,
    NO_METER,
    NO_METER_RECORDING,
    OPERATIONS,
    PRECISE_CONFIGS,
    PROPAGATE_RECORDING,
    PROPAGATE_SAMPLED_OUT,
    TRACE_HEADER_RECORDING,
    config,
)

#: Address-space layout randomisation off for the client process when ``setarch`` allows it: where
#: objects land decides some hash-table collisions (the type attribute cache, dicts keyed by id),
#: which otherwise move a count by up to ~0.1% between identical runs.
NO_ASLR: List[str] = (
    ["setarch", platform.machine(), "-R"]
    if shutil.which("setarch")
    and subprocess.run(
        ["setarch", platform.machine(), "-R", "true"], capture_output=True
    ).returncode
    == 0
    else []
)

#: Agent settings for every APM configuration (see the module docstring).
APM_SETTINGS: Dict[str, Any] = {
    "api_request_time": "600s",
    "span_stack_trace_min_duration": "600s",
    "span_compression_exact_match_max_duration": "600s",
}

#: The derived rows: (label, kind, a, b). ``diff``: a - b; ``ratio``: a / b; ``added_ratio``:
#: (a - baseline) / (b - baseline), the baseline being the second name of the tuple ``b``;
#: ``diff_less``: (a - floor) - (wrapt floor - the same without wrappers), ``b`` being those three:
#: what is left of ours once the SDK's work and wrapt's own cost at our patch points are taken off.
Derived = Tuple[str, str, str, Any]
DERIVED: Dict[str, Sequence[Derived]] = {
    "elasticsearch": (
        ("ours no SDK - baseline", "diff", "ours-otel-no-sdk", BASELINE),
        (
            "ours sampled out - SDK floor sampled out",
            "diff",
            "ours-otel-sampled-out",
            FLOOR_SAMPLED_OUT,
        ),
        (
            "ours sampled out, no MeterProvider - SDK floor sampled out, no metric",
            "diff",
            NO_METER,
            FLOOR_SAMPLED_OUT_NO_METER,
        ),
        ("ours sampled out - es-sampled-out", "diff", "ours-otel-sampled-out", "es-sampled-out"),
        (
            "ours sampled out - SDK floor sampled out - wrapt at our patch points",
            "diff_less",
            "ours-otel-sampled-out",
            (FLOOR_SAMPLED_OUT, FLOOR_WRAPT, "es-default"),
        ),
        ("ours recording - SDK floor recording", "diff", "ours-otel", FLOOR_RECORDING),
        (
            "ours recording, no MeterProvider - SDK floor span",
            "diff",
            NO_METER_RECORDING,
            FLOOR_SPAN,
        ),
        (
            "ours recording, no MeterProvider / es-recording",
            "ratio",
            NO_METER_RECORDING,
            "es-recording",
        ),
        ("ours recording - es-recording", "diff", "ours-otel", "es-recording"),
        ("ours recording / es-recording", "ratio", "ours-otel", "es-recording"),
        (
            "ours recording / es-recording, both minus baseline",
            "added_ratio",
            "ours-otel",
            ("es-recording", BASELINE),
        ),
        ("ours APM - apm-transactions", "diff", "ours-apm", APM_REFERENCE),
        ("agent APM - apm-transactions", "diff", "apm-agent", APM_REFERENCE),
        (
            "propagate_context on - off, recording",
            "diff",
            PROPAGATE_RECORDING,
            "ours-otel",
        ),
        (
            "propagate_context on - off, sampled out",
            "diff",
            PROPAGATE_SAMPLED_OUT,
            "ours-otel-sampled-out",
        ),
        (
            "a constant traceparent sent by the application - none, recording",
            "diff",
            TRACE_HEADER_RECORDING,
            "ours-otel",
        ),
        (
            "propagate_context on - a constant traceparent, recording",
            "diff",
            PROPAGATE_RECORDING,
            TRACE_HEADER_RECORDING,
        ),
        ("ours APM / agent APM", "ratio", "ours-apm", "apm-agent"),
        (
            "ours APM / agent APM, both minus apm-transactions",
            "added_ratio",
            "ours-apm",
            ("apm-agent", APM_REFERENCE),
        ),
    ),
    "weaviate": (
        ("ours no SDK - baseline", "diff", "ours-otel-no-sdk", BASELINE),
        (
            "ours sampled out - SDK floor sampled out",
            "diff",
            "ours-otel-sampled-out",
            FLOOR_SAMPLED_OUT,
        ),
        (
            "ours sampled out, no MeterProvider - SDK floor sampled out, no metric",
            "diff",
            NO_METER,
            FLOOR_SAMPLED_OUT_NO_METER,
        ),
        (
            "ours sampled out - SDK floor sampled out - wrapt at our patch points",
            "diff_less",
            "ours-otel-sampled-out",
            (FLOOR_SAMPLED_OUT, FLOOR_WRAPT, BASELINE),
        ),
        ("ours recording - SDK floor recording", "diff", "ours-otel", FLOOR_RECORDING),
        (
            "ours recording, no MeterProvider - SDK floor span",
            "diff",
            NO_METER_RECORDING,
            FLOOR_SPAN,
        ),
        ("ours APM - apm-transactions", "diff", "ours-apm", APM_REFERENCE),
    ),
}

_started = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - _started:6.1f}s] {message}", flush=True)


def configurations(client: str) -> List[str]:
    return [*PRECISE_CONFIGS[client], *CALLGRIND_EXTRA_CONFIGS[client]]


_TOTALS = re.compile(r"^totals: (\d+)", re.MULTILINE)


def _dump(pid: int, directory: Path, number: int, keep: Optional[Path]) -> int:
    """Dump callgrind's counts since the last dump (file ``cg.<pid>.<number>``), return the total;
    the dump is moved to ``keep`` (for ``callgrind_annotate``) if given, else deleted."""
    subprocess.run(
        ["callgrind_control", "-d", str(pid)], capture_output=True, check=True, timeout=120
    )
    path = directory / f"cg.{pid}.{number}"
    for _ in range(600):  # the dump is written by the process itself
        text = path.read_text() if path.exists() else ""
        found = _TOTALS.search(text)
        if found:
            if keep is not None:
                keep.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(path), keep)
            else:
                path.unlink()
            return int(found.group(1))
        time.sleep(0.1)
    raise RuntimeError(f"callgrind dump {path} not written")


def count(
    client: str,
    name: str,
    ops: Sequence[str],
    servers: Dict[str, Any],
    args: argparse.Namespace,
    env: Dict[str, str],
    tag: str,
) -> Dict[str, Dict[str, Any]]:
    """One fresh process under callgrind: warm up uncounted, then count one block of each of
    ``ops`` in turn, each after a full garbage collection: ``{op: result}``."""
    cfg = config(client, name)
    name_tag = f"{tag}-{client}-{name}"
    log_name = name_tag + (f"-{ops[0]}" if len(ops) == 1 else "")
    options: Dict[str, Any] = {"es_transport": args.es_transport, "stretch_housekeeping": True}
    if client == "elasticsearch" and args.es_transport == "inprocess":
        # Weaviate's calls go through gRPC's own threads and clock: freezing the loop's does not
        # make them repeatable (tried), so its event loop is left alone.
        options["freeze_loop_clock"] = True
    if cfg.apm != "none":
        options.update(apm_transport=args.apm_transport, apm_settings=APM_SETTINGS)
    if cfg.trace_header:
        options["trace_header"] = True
    dumps = Path(tempfile.mkdtemp(prefix="callgrind-"))
    worker = Worker(
        client,
        cfg,
        servers,
        warmup=args.warmup,
        prefix=[
            *NO_ASLR,
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={dumps}/cg.%p",
        ],
        log_name=log_name,
        env=env,
        options=options,
        inherit_env=False,
    )
    started = time.monotonic()
    results: Dict[str, Dict[str, Any]] = {}
    try:
        ready = worker.read()
        imported = ready.get("instrumentation") or ""
        if args.src and not imported.startswith(str(Path(args.src).resolve()) + os.sep):
            raise RuntimeError(f"instrumentation imported from {imported}, not under {args.src}")
        pid = int(ready["pid"])
        ready_s = round(time.monotonic() - started, 1)
        for number, op in enumerate(ops, 1):
            block_started = time.monotonic()
            worker.command(cmd="collect")
            before = worker.command(cmd="summary")
            precise._callgrind(pid, True)
            block = worker.command(cmd="block", op=op, calls=args.precise_calls)
            precise._callgrind(pid, False)
            dump_started = time.monotonic()
            keep = Path(args.dumps) / f"{name_tag}-{op}.callgrind" if args.dumps else None
            instructions = _dump(pid, dumps, number, keep)
            dump_s = round(time.monotonic() - dump_started, 1)
            after = worker.command(cmd="summary")
            result: Dict[str, Any] = {
                "instructions": instructions,
                "per_call": instructions / args.precise_calls,
                "block": number,
                "otel_spans": block["spans"],
                "metrics": after.get("metrics"),
                "instrumentation": imported,
                "ready_s": ready_s,
                "block_s": round(time.monotonic() - block_started, 1),
                "dump_s": dump_s,
            }
            if "es_replay" in after:
                result["es_replay"] = {
                    key: value - before["es_replay"][key]
                    for key, value in after["es_replay"].items()
                }
            if "apm_sent" in after:
                result["apm_sent"] = {
                    key: value - before["apm_sent"].get(key, 0)
                    for key, value in after["apm_sent"].items()
                }
            results[op] = result
    finally:
        worker.close(json.dumps({"cmd": "quit"}))
        shutil.rmtree(dumps, ignore_errors=True)
    # The process's own total at exit: the blocks' dumps must add up to it.
    found = precise._COLLECTED.findall((LOGS / f"{log_name}.log").read_text())
    counted = sum(r["instructions"] for r in results.values())
    if not found or int(found[-1]) != counted:
        raise RuntimeError(
            f"{client} {name}: callgrind collected {found[-1:] or 'nothing'}, the dumps {counted}"
        )
    wall = round(time.monotonic() - started, 1)
    for result in results.values():
        result["process_wall_s"] = wall
    return results


Task = Tuple[str, str, Tuple[str, ...], int]


def layout_env(env: Dict[str, str], layout: int) -> Dict[str, str]:
    """``env`` for memory layout number ``layout``: 0 is ``env`` itself, each next one pads it.

    Where objects land decides hits in CPython's type attribute cache (indexed by the address of
    the attribute name) and so on: the same code counts up to ~0.3% more or fewer instructions
    when an earlier allocation moves, e.g. because the environment is a few bytes longer. Counts
    are only repeatable in the same environment, which is why it is fixed; ``--layouts N`` counts
    each configuration under N environments and reports the median.
    """
    return dict(env, BENCH_LAYOUT="x" * (40 * layout)) if layout else dict(env)


def _safe_count(
    task: Task, servers: Dict[str, Any], args: argparse.Namespace, env: Dict[str, str], tag: str
) -> Dict[str, Dict[str, Any]]:
    client, name, ops, layout = task
    if args.layouts > 1:
        tag = f"{tag}-layout{layout}"
    try:
        results = count(client, name, ops, servers, args, layout_env(env, layout), tag)
        for result in results.values():
            result["layout"] = layout
        counts = ", ".join(f"{op} {r['per_call']:,.0f}" for op, r in results.items())
        wall = next(iter(results.values()))["process_wall_s"]
        log(f"{client} {name}: {counts} instructions/call ({wall}s)")
        return results
    except Exception as error:  # one broken configuration must not lose the others
        log(f"{client} {name} {list(ops)}: FAILED {error!r}")
        failed = {"error": repr(error), "traceback": traceback.format_exc()}
        return {op: failed for op in ops}


def _git(src: Path, *args: str) -> Optional[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(src), *args], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def source(src: Optional[str]) -> Dict[str, Any]:
    """The package source measured: its directory, commit, and whether it has uncommitted changes."""
    directory = Path(src).resolve() if src else ROOT / "src"
    status = _git(directory, "status", "--porcelain", "--", ".")
    return {
        "src": str(directory),
        "commit": _git(directory, "rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(status) if status is not None else None,
    }


def derive(client: str, per_call: Dict[str, Dict[str, float]]) -> List[Dict[str, Any]]:
    rows = []
    for label, kind, a, b in DERIVED[client]:
        values: Dict[str, Optional[float]] = {}
        for op in OPERATIONS[client]:

            def get(name: str) -> Optional[float]:
                return per_call.get(name, {}).get(op)  # noqa: B023

            value: Optional[float] = None
            if kind == "diff" and None not in (get(a), get(b)):
                value = get(a) - get(b)  # type: ignore[operator]
            elif kind == "ratio" and None not in (get(a), get(b)):
                value = get(a) / get(b)  # type: ignore[operator]
            elif kind == "diff_less":
                floor, wrapt_floor, unwrapped = b
                if None not in (get(a), get(floor), get(wrapt_floor), get(unwrapped)):
                    value = (get(a) - get(floor)) - (get(wrapt_floor) - get(unwrapped))  # type: ignore[operator]
            elif kind == "added_ratio":
                other, base = b
                if None not in (get(a), get(other), get(base)):
                    value = (get(a) - get(base)) / (get(other) - get(base))  # type: ignore[operator]
            values[op] = value
        rows.append(
            {
                "label": label,
                "kind": kind,
                "a": a,
                "b": b if isinstance(b, str) else list(b),
                "values": values,
            }
        )
    return rows


def _recorded(entry: Dict[str, Any], calls: int) -> str:
    if "error" in entry:
        return "error"
    parts = []
    if entry.get("otel_spans"):
        parts.append(f"{entry['otel_spans'] / calls:.2f} OTel span/call")
    if entry.get("metrics"):
        parts.append("metric")
    sent = entry.get("apm_sent")
    if sent:
        parts.append(
            f"APM: {sent['transaction']} tx, {sent['span']} spans for {sent['calls_in_spans']} calls"
        )
    return "; ".join(parts) or "nothing"


def markdown(results: Dict[str, Any]) -> str:
    env, src = results["environment"], results["source"]
    lines = [
        f"Measured {env['date']} on {env['cpus']} x {env['cpu']}, Python {env['python']}; "
        f"package source `{src['src']}` at commit {src['commit']}"
        f"{' with uncommitted changes' if src['uncommitted_changes'] else ''}; "
        f"took {results['duration_s']} s.",
        "",
        f"User-space instructions per call of the client process, counted by callgrind over one "
        f"block of {results['settings']['precise_calls']} calls after "
        f"{results['settings']['warmup']} uncounted warm-up calls per operation, in a fresh process "
        + (
            "per cell"
            if results["settings"]["process_per_operation"]
            else "per configuration (its operations' blocks in turn)"
        )
        + ", each block after a full garbage collection; PYTHONHASHSEED=0, no ASLR, a fixed "
        "environment. "
        + (
            "Elasticsearch answered in-process (the stand-in's answers replayed in the client's "
            "event loop, its clock stopped); "
            if results["settings"].get("es_transport", "inprocess") == "inprocess"
            else "Elasticsearch answered over loopback by the stand-in process; "
        )
        + "Weaviate over loopback (gRPC); Elastic APM's network answered "
        + (
            "in-process."
            if results["settings"]["apm_transport"] == "inprocess"
            else "over loopback."
        )
        + " Noise: where objects land in memory still differs from process to process (threads, "
        "ports, the stand-in's answers), and with it CPython's attribute-cache hits: the same "
        "configuration counts up to ~0.6% (~6,000 instructions/call) more or fewer from one run "
        "to the next"
        + (
            f"; here the median over {results['settings']['layouts']} memory layouts (spread: "
            "largest - smallest)."
            if results["settings"].get("layouts", 1) > 1
            else " (`--layouts 3`: the median of three)."
        ),
    ]
    for client in results["clients"]:
        data = results[client]
        ops = data["operations"]
        calls = results["settings"]["precise_calls"]
        lines += [
            "",
            f"### {client}",
            "",
            "| configuration | " + " | ".join(f"`{op}`" for op in ops) + " | recorded |",
            "|---|" + "---:|" * len(ops) + "---|",
        ]
        for name in data["configurations"]:
            cells = []
            for op in ops:
                entry = data["runs"][name][op]
                if "error" in entry:
                    cells.append("error")
                elif "per_call_layouts" in entry:
                    spread = max(entry["per_call_layouts"]) - min(entry["per_call_layouts"])
                    cells.append(f"{entry['per_call']:,.0f} (spread {spread:,.0f})")
                else:
                    cells.append(f"{entry['per_call']:,.0f}")
            label = config(client, name).label
            first = data["runs"][name][ops[0]]
            lines.append(
                f"| `{name}`: {label} | " + " | ".join(cells) + f" | {_recorded(first, calls)} |"
            )
        lines += [
            "",
            "| comparison | " + " | ".join(f"`{op}`" for op in ops) + " |",
            "|---|" + "---:|" * len(ops),
        ]
        for row in data["derived"]:
            cells = []
            for op in ops:
                value = row["values"][op]
                if value is None:
                    cells.append("—")
                elif row["kind"] in ("diff", "diff_less"):
                    cells.append(f"{value:+,.0f}")
                else:
                    cells.append(f"{value:.3f}")
            lines.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def compare(before: Dict[str, Any], after: Dict[str, Any]) -> str:
    """Before / after, per configuration and comparison row: instructions per call and the change."""

    def cell(old: Optional[float], new: Optional[float], ratio: bool = False) -> str:
        if old is None or new is None:
            return "—"
        if ratio:
            return f"{old:.3f} → {new:.3f}"
        return f"{old:,.0f} → {new:,.0f} ({new - old:+,.0f})"

    src_before, src_after = before["source"], after["source"]
    lines = [
        f"Before: `{src_before['src']}` at {src_before['commit']}"
        f"{' with uncommitted changes' if src_before['uncommitted_changes'] else ''}. "
        f"After: `{src_after['src']}` at {src_after['commit']}"
        f"{' with uncommitted changes' if src_after['uncommitted_changes'] else ''}. "
        "Instructions per call, before → after (change).",
    ]
    for client in after["clients"]:
        if client not in before:
            continue
        ops = after[client]["operations"]
        header = "| {} | " + " | ".join(f"`{op}`" for op in ops) + " |"
        rule = "|---|" + "---:|" * len(ops)
        lines += ["", f"### {client}", "", header.format("configuration"), rule]
        old_runs, new_runs = (
            before[client]["instructions_per_call"],
            after[client]["instructions_per_call"],
        )
        for name in after[client]["configurations"]:
            cells = [
                cell(old_runs.get(name, {}).get(op), new_runs.get(name, {}).get(op)) for op in ops
            ]
            lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
        lines += ["", header.format("comparison"), rule]
        old_rows = {row["label"]: row for row in before[client]["derived"]}
        for row in after[client]["derived"]:
            old = old_rows.get(row["label"], {"values": {}})
            cells = [
                cell(
                    old["values"].get(op),
                    row["values"][op],
                    ratio=row["kind"] not in ("diff", "diff_less"),
                )
                for op in ops
            ]
            lines.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def parse(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "callgrind.json"), help="JSON path"
    )
    parser.add_argument("--md", default=None, help="table path (default: --out with .md)")
    parser.add_argument(
        "--compare",
        default=None,
        metavar="BEFORE_JSON",
        help="also write a before/after table against this earlier result (--out with -vs-<its "
        "name>.md)",
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: rewrite the tables from the JSON at --out (and --compare)",
    )
    parser.add_argument("--src", default=None, help="package source put first on PYTHONPATH")
    parser.add_argument("--precise-calls", type=int, default=200, help="calls per block (200)")
    parser.add_argument("--warmup", type=int, default=100, help="warm-up calls per operation (100)")
    parser.add_argument("--jobs", type=int, default=2, help="callgrind processes at once (2)")
    parser.add_argument("--clients", default="elasticsearch,weaviate")
    parser.add_argument("--configs", default=None, help="only these configurations (comma list)")
    parser.add_argument("--apm-transport", choices=("inprocess", "loopback"), default="inprocess")
    parser.add_argument("--es-transport", choices=("inprocess", "loopback"), default="inprocess")
    parser.add_argument(
        "--layouts",
        type=int,
        default=1,
        help="count each configuration under this many memory layouts, report the median (1)",
    )
    parser.add_argument(
        "--dumps",
        default=None,
        help="keep each block's callgrind dump in this directory (read with callgrind_annotate)",
    )
    parser.add_argument(
        "--process-per-operation",
        action="store_true",
        help="a fresh process per (configuration, operation), as make bench does; by default one "
        "process per configuration counts each operation's block in turn (3x fewer for Weaviate)",
    )
    return parser.parse_args(argv)


def write_tables(results: Dict[str, Any], out: Path, md: Path, before: Optional[str]) -> None:
    table = markdown(results)
    md.write_text(table)
    print(table)
    if before:
        earlier = Path(before).resolve()
        versus = out.with_name(f"{out.stem}-vs-{earlier.stem}.md")
        table = compare(json.loads(earlier.read_text()), results)
        versus.write_text(table)
        print(table)
        log(f"before/after: {versus}")


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse(argv)
    out = Path(args.out).resolve()
    md = Path(args.md).resolve() if args.md else out.with_suffix(".md")
    if args.render:
        write_tables(json.loads(out.read_text()), out, md, args.compare)
        return
    if not precise.available():
        raise SystemExit("valgrind / callgrind_control not found")
    # The client processes' whole environment, the same every run (see ``layout_env``).
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
    }
    if args.src:
        env["PYTHONPATH"] = str(Path(args.src).resolve())
    clients = args.clients.split(",")
    only = set(args.configs.split(",")) if args.configs else None
    tasks: List[Task] = []
    for client in clients:
        for name in configurations(client):
            if only is None or name in only:
                for layout in range(args.layouts):
                    if args.process_per_operation:
                        tasks.extend((client, name, (op,), layout) for op in OPERATIONS[client])
                    else:
                        tasks.append((client, name, tuple(OPERATIONS[client]), layout))
    # The longest first (Weaviate's imports are the slowest under valgrind), so both jobs end
    # together.
    tasks.sort(key=lambda task: task[0] != "weaviate")
    log(
        f"starting the stand-in servers; then {len(tasks)} callgrind processes, {args.jobs} at once"
    )
    servers = Servers()
    try:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            counted = list(
                pool.map(
                    lambda task: _safe_count(task, servers.addresses, args, env, out.stem), tasks
                )
            )
        servers.stats()
    finally:
        servers.close("quit")
    results: Dict[str, Any] = {
        "settings": {k: v for k, v in vars(args).items()},
        "environment": environment(),
        "source": source(args.src),
        "clients": clients,
    }
    imported = sorted(
        {
            r["instrumentation"]
            for by_op in counted
            for r in by_op.values()
            if r.get("instrumentation")
        }
    )
    results["source"]["imported_from"] = imported
    for client in clients:
        names = [n for n in configurations(client) if only is None or n in only]
        runs: Dict[str, Dict[str, Any]] = {name: {} for name in names}
        layouts: Dict[Tuple[str, str], List[Dict[str, Any]]] = {}
        for (task_client, name, _, _), results_by_op in zip(tasks, counted):
            if task_client == client:
                for op, result in results_by_op.items():
                    layouts.setdefault((name, op), []).append(result)
        for (name, op), found in layouts.items():
            # The first layout's details; the count is the median over layouts.
            entry = dict(found[0])
            values = [r["per_call"] for r in found if "per_call" in r]
            if values and args.layouts > 1:
                entry["per_call_layouts"] = values
                entry["per_call"] = statistics.median(values)
            elif not values:
                entry = next(r for r in found if "error" in r)
            runs[name][op] = entry
        per_call = {
            name: {op: r["per_call"] for op, r in by_op.items() if "per_call" in r}
            for name, by_op in runs.items()
        }
        results[client] = {
            "operations": list(OPERATIONS[client]),
            "configurations": names,
            "instructions_per_call": per_call,
            "runs": runs,
            "derived": derive(client, per_call),
        }
    results["duration_s"] = round(time.monotonic() - _started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    log(f"done in {results['duration_s']}s: {out}, {md}")
    log(f"instrumentation imported from: {imported}")
    write_tables(results, out, md, args.compare)
    if args.src and any(not path.startswith(str(Path(args.src).resolve())) for path in imported):
        raise SystemExit(f"some workers did not import instrumentation from {args.src}: {imported}")


if __name__ == "__main__":
    main()
