"""Which Python functions one traced call runs, counted exactly: a census beside the callgrind counts.

``benchmarks.engine_ab`` counts instructions, which move by a few thousand a call from one memory
layout to the next. This counts calls instead, which do not move: the set-up of ``engine_ab``
(our wrapper taken from the patcher after ``instrument()``, around a stand-in method that answers
at once), warmed up, then ten calls under ``sys.setprofile``; every Python function entered
(ours, the SDK's, the client's) and every C function called, per call. Two sources side by side
show what one version runs that the other does not::

    .venv/bin/python -m benchmarks.call_census --src before=/tmp/before/src --src now=src \\
        --client elasticsearch --config recording
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parent.parent
CALLS = 10


def _census(client: str, config: str) -> Dict[str, float]:
    from benchmarks import engine_ab

    if config != "no-sdk":
        engine_ab._providers(config)
    import instrumentation

    instrumentation.instrument(
        clients=[client], backends=["otel"], propagate_context=config.endswith("-propagate")
    )
    setup = engine_ab._elasticsearch if client == "elasticsearch" else engine_ab._weaviate
    wrapper, instance, args, kwargs = setup()
    name = "perform_request" if client == "elasticsearch" else "grpc_search"
    bound = getattr(type(instance), name).__get__(instance)
    counts: Dict[str, int] = collections.Counter()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            code = frame.f_code
            where = code.co_filename.split("site-packages/")[-1]
            if "/instrumentation/" in where and "site-packages" not in code.co_filename:
                where = "instrumentation/" + where.split("/instrumentation/", 1)[1]
            counts[f"{where}:{code.co_name}"] += 1
        elif event == "c_call":
            counts[f"C {getattr(arg, '__qualname__', arg)}"] += 1

    async def run() -> None:
        for _ in range(50):
            await wrapper(bound, instance, args, dict(kwargs))
        sys.setprofile(profile)
        for _ in range(CALLS):
            await wrapper(bound, instance, args, dict(kwargs))
        sys.setprofile(None)

    asyncio.run(run())
    return {key: value / CALLS for key, value in counts.items()}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--census":
        for key, value in sorted(_census(sys.argv[2], sys.argv[3]).items()):
            print(f"{value:g}\t{key}")
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", action="append", required=True, help="name=path, in order")
    parser.add_argument("--client", default="elasticsearch")
    parser.add_argument("--config", default="recording")
    options = parser.parse_args()
    tables: List[Dict[str, float]] = []
    names = []
    for item in options.src:
        name, src = item.split("=", 1)
        env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": os.pathsep.join([src, str(ROOT)])}
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.call_census",
                "--census",
                options.client,
                options.config,
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        table: Dict[str, float] = {}
        for line in out.splitlines():
            value, key = line.split("\t", 1)
            # One source's path in the name of its own functions: the same function either way.
            table[key.replace(src, "")] = float(value)
        tables.append(table)
        names.append(name)
    keys = sorted(set().union(*tables))
    print(f"{options.client}, {options.config}: calls per traced call\n")
    print("| function | " + " | ".join(names) + " |\n|---|" + "---:|" * len(names))
    for key in keys:
        values = [table.get(key, 0.0) for table in tables]
        if len(set(values)) > 1:
            print(f"| `{key}` | " + " | ".join(f"{value:g}" for value in values) + " |")
    for label, test in (
        ("Python functions of ours", lambda key: key.startswith("instrumentation/")),
        ("other Python functions", lambda key: not key.startswith(("instrumentation/", "C "))),
        ("C functions", lambda key: key.startswith("C ")),
    ):
        totals = [sum(value for key, value in table.items() if test(key)) for table in tables]
        print(f"| **{label}** | " + " | ".join(f"{total:g}" for total in totals) + " |")


if __name__ == "__main__":
    main()
