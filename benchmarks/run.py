"""``make bench``: what each configuration costs per call, against the peers, on this machine.

1. Start the loopback stand-ins (Elasticsearch, Weaviate, APM intake) in a separate process
   (``benchmarks.servers``), so their CPU is never counted.
2. Start one fresh client process per configuration (``benchmarks.client``), each set up and warmed
   up on its own.
3. Rounds: every round hands each (configuration, operation) one block of calls, in a new random
   order; round 0 is a warm-up and is discarded. A block's number is its process's CPU time per call.
   Because every configuration is measured in every stretch of time, a noisy machine slows them
   alike; the overhead of a configuration is the median, over rounds, of its block minus the
   baseline's block of the same round.
4. A concurrency run (200 calls in flight) and a memory run (RSS and live allocations over 100,000
   calls) on the same processes.
4b. The precise phase (``benchmarks.precise``): instructions per call counted by callgrind for the
   configurations whose budgets are a few µs, which CPU timing cannot resolve on a noisy machine.
5. ``benchmarks/results/results.json``, ``results.md`` and ``overhead.png`` (see ``report.py``),
   copied into ``docs/performance.md`` and ``docs/img/overhead.png``.

``python -m benchmarks.run --help`` lists the knobs; ``--quick`` is a smoke run of a few seconds per
phase, whose numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from benchmarks import precise, report
from benchmarks.workloads import APM_REFERENCE, BASELINE, CONFIGS, OPERATIONS, Config

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
LOGS = RESULTS / "raw"

#: Configurations of the concurrency run: the references and the recording / sampled-out / APM
#: variants of ours and the peers.
CONCURRENCY_CONFIGS = {
    "elasticsearch": (
        BASELINE,
        "es-recording",
        "apm-agent",
        "ours-otel",
        "ours-otel-sampled-out",
        "ours-apm",
    ),
    "weaviate": (BASELINE, "ours-otel", "ours-otel-sampled-out", "ours-apm"),
}
#: Memory runs: (client, configuration, operation). Both backends at once: every piece of ours that
#: could retain memory is on, and the stand-ins' speed allows one 100,000-call run in the time.
MEMORY_RUNS = (
    ("elasticsearch", "ours-both", "search"),
    ("weaviate", "ours-both", "fetch_objects"),
)
#: Bootstrap resamples for the confidence interval of a median overhead.
BOOTSTRAP = 2000


def _python() -> str:
    return sys.executable


class Process:
    """A child speaking one JSON line per command over stdin/stdout."""

    def __init__(
        self,
        args: Sequence[str],
        log_name: str,
        prefix: Sequence[str] = (),
        env: Optional[Dict[str, str]] = None,
        inherit_env: bool = True,
    ) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log = open(LOGS / f"{log_name}.log", "w")
        # ``env`` adds to this process's environment, or replaces it (``inherit_env=False``).
        env = dict(os.environ if inherit_env else {}, PYTHONWARNINGS="ignore", **(env or {}))
        self.proc = subprocess.Popen(
            [*prefix, _python(), *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
        )

    def read(self) -> Dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.log.name}: the process ended early; see that log")
        result: Dict[str, Any] = json.loads(line)
        return result

    def send(self, message: str) -> Dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(message + "\n")
        self.proc.stdin.flush()
        return self.read()

    def command(self, **command: Any) -> Dict[str, Any]:
        return self.send(json.dumps(command))

    def close(self, message: str) -> None:
        try:
            if self.proc.poll() is None and self.proc.stdin is not None:
                self.proc.stdin.write(message + "\n")
                self.proc.stdin.flush()
                self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            self.log.close()


class Servers(Process):
    def __init__(self) -> None:
        super().__init__(["-m", "benchmarks.servers"], "servers")
        self.addresses = self.read()

    def stats(self) -> Dict[str, Any]:
        return self.send("stats")


class Worker(Process):
    def __init__(
        self,
        client: str,
        cfg: Config,
        servers: Dict[str, Any],
        warmup: int,
        prefix: Sequence[str] = (),
        log_name: Optional[str] = None,
        env: Optional[Dict[str, str]] = None,
        options: Optional[Dict[str, Any]] = None,
        inherit_env: bool = True,
    ) -> None:
        spec = {"client": client, "config": cfg.name, "servers": servers, "warmup": warmup}
        if options:
            spec["options"] = options
        super().__init__(
            ["-m", "benchmarks.client", json.dumps(spec)],
            log_name or f"{client}-{cfg.name}",
            prefix,
            env,
            inherit_env,
        )
        self.cfg = cfg


def start_workers(client: str, servers: Servers, warmup: int) -> Dict[str, Worker]:
    """All configurations' processes, started together and warmed up."""
    workers = {cfg.name: Worker(client, cfg, servers.addresses, warmup) for cfg in CONFIGS[client]}
    for worker in workers.values():
        worker.read()  # {"ready": true}
    servers.stats()  # forget the warm-up's requests
    return workers


def _add(totals: Dict[str, int], counts: Dict[str, Any]) -> None:
    for key, value in counts.items():
        totals[key] = totals.get(key, 0) + int(value)


def run_rounds(
    servers: Servers,
    workers: Dict[str, Worker],
    names: Sequence[str],
    operations: Sequence[str],
    rounds: int,
    calls: int,
    concurrency: int,
    rng: random.Random,
) -> Dict[str, Any]:
    """``rounds`` measured rounds (after one discarded warm-up round) of interleaved blocks."""
    samples: Dict[str, Dict[str, List[float]]] = {
        name: {op: [] for op in operations} for name in names
    }
    checks: Dict[str, Dict[str, int]] = {name: {} for name in names}
    for number in range(rounds + 1):
        pairs = [(name, op) for name in names for op in operations]
        rng.shuffle(pairs)
        for name, op in pairs:
            result = workers[name].command(cmd="block", op=op, calls=calls, concurrency=concurrency)
            counts = servers.stats()
            if number == 0:
                continue
            samples[name][op].append(result["cpu_s"] / result["calls"] * 1e6)
            _add(checks[name], {"calls": result["calls"], "otel_spans": result["spans"], **counts})
    return {"samples": samples, "checks": checks}


def _median_ci(values: Sequence[float], rng: random.Random) -> Tuple[float, float]:
    """95% bootstrap interval of the median: how far the machine's noise could move it."""
    if len(values) < 3:
        return _quartiles(values)
    medians = sorted(
        statistics.median(rng.choices(values, k=len(values))) for _ in range(BOOTSTRAP)
    )
    return medians[int(BOOTSTRAP * 0.025)], medians[int(BOOTSTRAP * 0.975) - 1]


def _quartiles(values: Sequence[float]) -> Tuple[float, float]:
    if len(values) < 2:
        return (values[0], values[0]) if values else (float("nan"), float("nan"))
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def analyse(
    samples: Dict[str, Dict[str, List[float]]], operations: Sequence[str]
) -> Dict[str, Any]:
    """Per configuration and operation: median µs/call, and the paired overhead over the baseline.

    Overhead = median over rounds of (this configuration's block - the baseline's block of the same
    round); its interquartile range shows the spread of single blocks, its 95% bootstrap interval how
    far the machine's noise could move the median. APM configurations also get their overhead over
    ``apm-transactions`` (the agent with transactions but no spans).
    """
    rng = random.Random(0)
    out: Dict[str, Any] = {}
    for name, per_op in samples.items():
        out[name] = {}
        for op in operations:
            values = per_op[op]
            entry: Dict[str, Any] = {
                "us_per_call": statistics.median(values),
                "us_per_call_iqr": _quartiles(values),
                "rounds": len(values),
            }
            for reference, key in ((BASELINE, "overhead"), (APM_REFERENCE, "overhead_vs_apm")):
                if reference not in samples or reference == name:
                    continue
                if key == "overhead_vs_apm" and not _uses_apm(name):
                    continue
                base = samples[reference][op]
                diffs = [a - b for a, b in zip(values, base)]
                entry[key + "_us"] = statistics.median(diffs)
                entry[key + "_iqr_us"] = _quartiles(diffs)
                entry[key + "_ci95_us"] = _median_ci(diffs, rng)
            if name != BASELINE and BASELINE in samples:
                entry["ratio"] = entry["us_per_call"] / statistics.median(samples[BASELINE][op])
            out[name][op] = entry
    return out


def _uses_apm(name: str) -> bool:
    return name in ("apm-agent", "ours-apm", "ours-both")


def environment() -> Dict[str, Any]:
    versions = {}
    for package in (
        "elasticsearch",
        "elastic-transport",
        "weaviate-client",
        "elastic-apm",
        "opentelemetry-api",
        "opentelemetry-sdk",
        "wrapt",
        "aiohttp",
        "grpcio",
        "async-search-instrumentation",
    ):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    commit = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "commit": commit,
        "versions": versions,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def _cpu_model() -> Optional[str]:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def bench_client(
    client: str, servers: Servers, args: argparse.Namespace, rng: random.Random
) -> Dict[str, Any]:
    operations = OPERATIONS[client]
    log(f"{client}: starting {len(CONFIGS[client])} client processes")
    workers = start_workers(client, servers, args.warmup)
    try:
        names = [cfg.name for cfg in CONFIGS[client]]
        rounds = args.rounds if client == "elasticsearch" else args.weaviate_rounds
        log(
            f"{client}: {rounds} rounds x {len(names)} configurations x {list(operations)}, "
            f"{args.calls} calls per block"
        )
        cpu = run_rounds(servers, workers, names, operations, rounds, args.calls, 1, rng)
        summaries = {name: worker.command(cmd="summary") for name, worker in workers.items()}

        concurrent_names = CONCURRENCY_CONFIGS[client]
        concurrent_ops = operations[:1]
        log(f"{client}: concurrency {args.concurrency}, {args.concurrency_rounds} rounds")
        concurrency = run_rounds(
            servers,
            workers,
            concurrent_names,
            concurrent_ops,
            args.concurrency_rounds,
            args.concurrency * args.concurrency_batches,
            args.concurrency,
            rng,
        )
        concurrency_summaries = {
            name: workers[name].command(cmd="summary") for name in concurrent_names
        }
        memory = {}
        for run_client, name, op in MEMORY_RUNS:
            if run_client != client:
                continue
            calls = args.memory_calls if client == "elasticsearch" else args.weaviate_memory_calls
            log(f"{client}: memory, {name}, {calls} calls of {op}")
            memory[name] = {
                "operation": op,
                **workers[name].command(
                    cmd="memory", op=op, calls=calls, checkpoints=10, concurrency=10
                ),
            }
            servers.stats()
    finally:
        for worker in workers.values():
            worker.close(json.dumps({"cmd": "quit"}))
    exact = None
    if not args.no_precise:
        exact = precise.run(Worker, client, servers.addresses, args.precise_calls, log)
        servers.stats()
    return {
        "operations": list(operations),
        "configs": [cfg._asdict() for cfg in CONFIGS[client]],
        "cpu": {
            "samples": cpu["samples"],
            "checks": cpu["checks"],
            "stats": analyse(cpu["samples"], operations),
            "summaries": summaries,
        },
        "concurrency": {
            "in_flight": args.concurrency,
            "calls_per_block": args.concurrency * args.concurrency_batches,
            "operation": concurrent_ops[0],
            "samples": concurrency["samples"],
            "checks": concurrency["checks"],
            "stats": analyse(concurrency["samples"], concurrent_ops),
            "summaries": concurrency_summaries,
        },
        "memory": memory,
        "precise": exact,
    }


_started = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - _started:6.1f}s] {message}", flush=True)


def parse(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50, help="Elasticsearch rounds (50)")
    parser.add_argument("--weaviate-rounds", type=int, default=20, help="Weaviate rounds (20)")
    parser.add_argument("--calls", type=int, default=100, help="calls per block (100)")
    parser.add_argument("--warmup", type=int, default=300, help="warm-up calls per operation")
    parser.add_argument("--concurrency", type=int, default=200, help="calls in flight (200)")
    parser.add_argument("--concurrency-batches", type=int, default=3, help="gathers per block")
    parser.add_argument("--concurrency-rounds", type=int, default=4)
    parser.add_argument("--memory-calls", type=int, default=100_000)
    parser.add_argument("--weaviate-memory-calls", type=int, default=100_000)
    parser.add_argument("--clients", default="elasticsearch,weaviate")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="smoke run; numbers mean nothing")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/ alone")
    parser.add_argument(
        "--precise-calls", type=int, default=300, help="calls per callgrind block (300)"
    )
    parser.add_argument(
        "--no-precise", action="store_true", help="skip the callgrind phase (benchmarks/precise.py)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = args.weaviate_rounds = 2
        args.calls, args.warmup = 20, 20
        args.concurrency, args.concurrency_batches, args.concurrency_rounds = 20, 1, 1
        args.memory_calls = args.weaviate_memory_calls = 200
        args.precise_calls = 10
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse(argv)
    rng = random.Random(args.seed)
    log("starting the stand-in servers")
    servers = Servers()
    results: Dict[str, Any] = {
        "settings": {k: v for k, v in vars(args).items() if k != "quick"} | {"quick": args.quick},
        "environment": environment(),
    }
    try:
        for client in args.clients.split(","):
            results[client] = bench_client(client, servers, args, rng)
    finally:
        servers.close("quit")
    results["duration_s"] = round(time.monotonic() - _started, 1)
    report.write(results, RESULTS, docs=None if args.no_docs else ROOT / "docs")
    log(f"done in {results['duration_s']}s: {RESULTS / 'results.md'}")
    print(report.markdown(results))


if __name__ == "__main__":
    main()
