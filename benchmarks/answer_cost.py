"""What reading a search answer costs, alone: instructions per call of the Elasticsearch and
OpenSearch response readers (``read_response``), counted by callgrind.

The end-to-end count (``benchmarks.callgrind``) moves by a few thousand instructions a call from
one process to the next (memory layout), more than a change of a few hundred can be told from.
This counts the readers alone: a process runs a loop of reads of the same answer (the ``search``
answer of the benchmark's stand-in: ``took``, ``timed_out``, ``_shards`` and five hits), once with
``calls`` iterations and once with three times as many, under callgrind with a fixed hash seed and
no address-space randomisation: the difference over ``2 * calls`` is one iteration, start-up and
imports cancelled out. The same for the loop without the read (a fresh record per iteration in
both); the difference of the two is the read's cost, to a few instructions. ``--src`` measures
another version of the package (e.g. the commit before a change)::

    .venv/bin/python -m benchmarks.answer_cost                   # this checkout
    .venv/bin/python -m benchmarks.answer_cost --src /tmp/before/src

Each configuration: ``none`` (the loop, a fresh record per call), ``sampled-out`` (``detailed``
False: what a sampled-out span or a lone meter reads), ``recording`` (``detailed`` True).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
#: Address-space randomisation off, as in ``benchmarks.callgrind``.
NO_ASLR = ["setarch", platform.machine(), "-R"] if shutil.which("setarch") else []

#: The benchmark's ``search`` answer, as the stand-in gives it (five hits).
ANSWER = {
    "took": 1,
    "timed_out": False,
    "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
    "hits": {
        "total": {"value": 20, "relation": "eq"},
        "max_score": 1.0,
        "hits": [
            {
                "_index": "bench",
                "_id": str(n),
                "_score": 1.0,
                "_source": {"title": f"tracing search clients, part {n}", "year": 2000 + n},
            }
            for n in range(5)
        ],
    },
}

_CHILD = r"""
import inspect, os, subprocess, sys, json, time
from instrumentation.clients import elasticsearch as es_reader, opensearch as os_reader
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig, ObjectApiResponse

client, calls, directory = sys.argv[1], int(sys.argv[2]), sys.argv[3]
answer = json.loads(sys.argv[4])
# read_request(instance, args, kwargs) since the engine; read_request(args, kwargs) before it
lead = (None,) if len(inspect.signature(es_reader.read_request).parameters) == 3 else ()
if client == "elasticsearch":
    meta = ApiResponseMeta(
        status=200, http_version="1.1", headers=HttpHeaders({"content-type": "application/json"}),
        duration=0.0, node=NodeConfig("http", "127.0.0.1", 9200),
    )
    response = ObjectApiResponse(body=answer, meta=meta)
    module = es_reader
    def new():
        op = es_reader.read_request(*lead, ("POST",), {"endpoint_id": "search", "path_parts": {"index": "bench"}})
        op.server_address = "127.0.0.1"
        return op
else:
    response = answer
    module = os_reader
    def new():
        return os_reader.read_request(*lead, ("POST", "/bench/_search"), {})
read = module.read_response

def loop(mode):
    if mode == "none":
        for _ in range(calls):
            op = new()
    else:
        detailed = mode == "recording"
        for _ in range(calls):
            op = new()
            read(op, response, detailed)

def dump():
    subprocess.run(["callgrind_control", "-d", str(os.getpid())], capture_output=True, check=True)

for mode in ("none", "sampled-out", "recording"):
    loop(mode)  # warm-up: the interpreter specialises the loop's code
dump()
for mode in ("none", "sampled-out", "recording", "none"):
    loop(mode)
    dump()
"""

_TOTALS = re.compile(r"^(?:summary|totals):\s*(\d+)", re.M)


def count(src: Optional[str], client: str, calls: int) -> List[int]:
    """One process under callgrind: the counts of its loops (none, sampled-out, recording, none),
    each a dump of its own (``callgrind_control -d``, which also costs the same each time)."""
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
    }
    # This checkout's source unless told otherwise: the installed package may be another's.
    env["PYTHONPATH"] = str(Path(src).resolve() if src else ROOT / "src")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                *NO_ASLR,
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={tmp}/cg.%p",
                sys.executable,
                "-c",
                _CHILD,
                client,
                str(calls),
                tmp,
                json.dumps(ANSWER),
            ],
            env=env,
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        dumps = sorted(
            (p for p in Path(tmp).iterdir() if re.search(r"\.\d+$", p.name)),
            key=lambda p: int(p.name.rsplit(".", 1)[1]),
        )
        totals = []
        for path in dumps:
            found = _TOTALS.search(path.read_text())
            if found is None:
                raise SystemExit(f"no totals in {path}")
            totals.append(int(found.group(1)))
    # dumps: start-up and warm-up, then one per loop
    return totals[1:5]


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", default=None, help="package source put first on PYTHONPATH")
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--clients", default="elasticsearch,opensearch")
    args = parser.parse_args(argv)
    rows: List[Dict[str, object]] = []

    for client in args.clients.split(","):
        none, sampled, recording, none_again = count(args.src, client, args.calls)
        loop = (none + none_again) / 2
        for mode, total in (("sampled-out", sampled), ("recording", recording)):
            per_call = (total - loop) / args.calls
            rows.append({"client": client, "mode": mode, "instructions_per_call": per_call})
            print(f"{client:14} {mode:12} {per_call:8.0f} instructions per read", flush=True)
        print(f"{client:14} (the loop alone: {none} and {none_again} over {args.calls})")
    print(json.dumps({"src": args.src or "src", "calls": args.calls, "rows": rows}))


if __name__ == "__main__":
    main()
