"""``propagate_context``'s injection alone: instructions per call, by callgrind.

``python -m benchmarks.propagation_micro`` (from the repository root; needs valgrind) counts, for a
recording SDK span with the default global propagator and no baggage, one call of

* ``propagate``: ``opentelemetry.propagate.inject(carrier, context=...)``, what the OpenTelemetry
  backend called before;
* ``fast``: ``instrumentation.backends._w3c.inject(carrier, span, context)``, what it calls now;
* ``loop``: the empty loop around them (subtracted from both);

as (count of 2,000 calls - count of 0 calls) / 2,000 in a fresh process each, with a fixed hash
seed. What the whole of ``propagate_context`` adds to a search (this and the transport carrying
one more header) is counted by ``benchmarks.callgrind`` (``ours-otel-propagate``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict

ROOT = Path(__file__).resolve().parent.parent
CALLS = 2000
WARMUP = 200
_SUMMARY = re.compile(r"^summary: (\d+)", re.MULTILINE)


def client(mode: str, calls: int) -> None:
    from opentelemetry import propagate, trace
    from opentelemetry.sdk.trace import TracerProvider

    from instrumentation.backends import _w3c

    span = TracerProvider().get_tracer("benchmark").start_span("search movies")
    context = trace.set_span_in_context(span)
    for _ in range(WARMUP):
        _w3c.inject({}, span, context)
        propagate.inject({}, context=context)
    if mode == "propagate":
        for _ in range(calls):
            propagate.inject({}, context=context)
    elif mode == "fast":
        for _ in range(calls):
            _w3c.inject({}, span, context)
    else:
        for _ in range(calls):
            {}  # noqa: B018 - the loop and the carrier, as above


def count(mode: str, calls: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "benchmarks.propagation_micro",
                "--client",
                mode,
                str(calls),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": "0"},
            check=True,
            capture_output=True,
            timeout=600,
        )
        found = _SUMMARY.search(out.read_text())
        if found is None:
            raise RuntimeError(f"no callgrind summary for {mode}")
        return int(found.group(1))


def main() -> None:
    per_call: Dict[str, float] = {
        mode: (count(mode, CALLS) - count(mode, 0)) / CALLS
        for mode in ("loop", "propagate", "fast")
    }
    for mode in ("propagate", "fast"):
        print(f"{mode}: {per_call[mode] - per_call['loop']:,.0f} instructions/call")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client(sys.argv[2], int(sys.argv[3]))
    else:
        main()
