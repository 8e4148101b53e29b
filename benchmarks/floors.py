"""What the pieces every instrumentation of ours must run cost, counted with callgrind.

The performance goals of ``benchmarks.callgrind`` compare a whole traced call with an SDK floor
(``benchmarks.client.floored``): a span and a histogram started around the call by hand, with
their attributes written out in advance. Some of what lies between the two is not ours to cut: the
contract asks for it, and this counts what the cheapest way to do it costs, one piece at a time:

* a ``wrapt`` patch point: a method wrapped by a ``FunctionWrapper`` whose wrapper only calls
  through, against the same method unwrapped (the descriptor binds a new wrapper on every call);
* ``HasField`` on Weaviate's real ``SearchRequest``: a search's operation name (``fetch_objects``,
  ``hybrid``, ``near_vector``...) is which of its search fields is set; a plain ``fetch_objects``
  has none set, so all of them are asked (``SEARCH_FIELDS_ASKED``);
* the sanitised ``db.query.text`` of the benchmark's Elasticsearch search: the standard library's C
  JSON encoder alone, our sanitiser on the JSON text the transport already serialised, and both
  (the body captured from the object, as for a client that serialises nothing for us).

Each piece runs ``N`` and ``2N`` times in a fresh interpreter under callgrind (after a warm-up);
the difference divided by ``N`` is its cost, loop included (``loop`` is an empty loop's). About
six minutes of CPU (importing Weaviate's protobufs under callgrind is most of it).

    .venv/bin/python -m benchmarks.floors --out benchmarks/results/floors.md
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Tuple

ROOT = Path(__file__).resolve().parent.parent

#: HasField calls of a plain ``fetch_objects``: the eleven search kinds, ``filters`` and
#: ``generative`` (``clients/weaviate.py``, ``_search_name``).
SEARCH_FIELDS_ASKED = 13

_SETUP = """
import json, wrapt
from instrumentation._query import _sanitized_json, capture, sanitize_serialized
from weaviate.proto.v1 import search_get_pb2 as pb

class Plain:
    async def perform_request(self, method, path, *, body=None, endpoint_id=None):
        return None

class Wrapped(Plain):
    pass

def through(wrapped, instance, args, kwargs):
    return wrapped(*args, **kwargs)

wrapt.wrap_function_wrapper(Wrapped, "perform_request", through)
plain, wrapped = Plain(), Wrapped()
request = pb.SearchRequest(
    collection="Article", limit=10, uses_123_api=True, uses_125_api=True, uses_127_api=True,
    metadata=pb.MetadataRequest(uuid=True),
    properties=pb.PropertiesRequest(non_ref_properties=["title", "year"]),
)
has_field = type(request).HasField
body = {"query": {"bool": {"must": [{"match": {"title": "tracing"}}]}}, "size": 10}
encode = json.encoder.c_make_encoder(
    None, None, json.encoder.encode_basestring, None, ":", ",", False, False, True
)
serialized = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
text = serialized.decode()
"""

#: (label, statement). The coroutine a patched ``perform_request`` returns is closed unawaited.
PIECES: List[Tuple[str, str]] = [
    ("loop", "pass"),
    ("method call, unwrapped", "plain.perform_request('POST', '/x', body=None).close()"),
    (
        "method call through a wrapt patch point",
        "wrapped.perform_request('POST', '/x', body=None).close()",
    ),
    ("HasField, one field of SearchRequest", "has_field(request, 'near_vector')"),
    ("C JSON encoder, the bench query", "''.join(encode(body, 0))"),
    ("our sanitiser, on the transport's JSON", "sanitize_serialized(serialized, body, 2048)"),
    ("our sanitiser, on the JSON text alone", "_sanitized_json(text, 2048)"),
    ("our sanitiser, from the body (encoder + text)", "capture(body, 'sanitize', 2048)"),
]


def count(statement: str, calls: int) -> int:
    """User-space instructions of a fresh interpreter running ``statement`` ``calls`` times."""
    program = f"{_SETUP}\ndef _loop(n):\n    for _ in range(n):\n        {statement}\n_loop(2000)\nimport sys\n_loop(int(sys.argv[1]))\n"
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-c",
            program,
            str(calls),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT / "src")},
    )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise RuntimeError(f"callgrind failed for {statement!r}:\n{result.stderr[-2000:]}")
    return int(found.group(1))


def per_call(statement: str, calls: int) -> float:
    return (count(statement, 2 * calls) - count(statement, calls)) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "floors.md"))
    parser.add_argument("--calls", type=int, default=10000)
    parser.add_argument("--jobs", type=int, default=2, help="callgrind processes at once (2)")
    options = parser.parse_args()
    started = time.time()
    with ThreadPoolExecutor(options.jobs) as pool:
        results = pool.map(lambda piece: per_call(piece[1], options.calls), PIECES)
        costs = dict(zip((label for label, _ in PIECES), results))
    loop = costs["loop"]
    wrapt_cost = costs["method call through a wrapt patch point"] - costs["method call, unwrapped"]
    has_field = costs["HasField, one field of SearchRequest"] - loop
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, Python "
        f"{sys.version.split()[0]}, {options.calls} and {2 * options.calls} calls a piece "
        f"({time.time() - started:.0f} s). Instructions a call, the loop's own "
        f"{loop:,.0f} taken off.",
        "",
        "| piece | instructions |",
        "|---|---:|",
    ]
    for label, _ in PIECES[1:]:
        lines.append(f"| {label} | {costs[label] - loop:,.0f} |")
    lines += [
        "",
        "| what the contract asks, at the least | instructions |",
        "|---|---:|",
        f"| one wrapt patch point (wrapped - unwrapped) | {wrapt_cost:,.0f} |",
        f"| Elasticsearch: two patch points (`perform_request`, `OpenTelemetry.span`) | {2 * wrapt_cost:,.0f} |",
        f"| Weaviate `fetch_objects`: one patch point + {SEARCH_FIELDS_ASKED} HasField | "
        f"{wrapt_cost + SEARCH_FIELDS_ASKED * has_field:,.0f} |",
        f"| Elasticsearch recording: two patch points + the sanitised query text | "
        f"{2 * wrapt_cost + costs['our sanitiser, on the transport' + chr(39) + 's JSON'] - loop:,.0f} |",
    ]
    Path(options.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
