"""What carrying one more request header costs the Elasticsearch client itself, uninstrumented.

``propagate_context`` adds a ``traceparent`` to each request's own headers (the ``headers`` that
``perform_request`` takes): elasticsearch-py, elastic-transport and aiohttp then copy, merge and
send it, whoever wrote it. This counts that share alone, with no instrumentation at all: the
benchmark's search sent through ``perform_request`` with the API's two headers, with and without
a constant ``traceparent`` beside them (``per-request``), and, for comparison, the same header set
once on the client (``es.options(headers=...)``, which the ``ours-otel-trace-header``
configuration of ``benchmarks.callgrind`` uses) against the plain ``es.search``.

The node is the in-process replay (``benchmarks.es_replay``) in front of the stand-in; each variant
runs 100 and 200 searches after 50 in a fresh interpreter under callgrind (fixed hash seed, no
address-space randomisation); the difference / 100 is one search::

    .venv/bin/python -m benchmarks.header_carry
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Tuple

from benchmarks.callgrind import NO_ASLR

ROOT = Path(__file__).resolve().parent.parent
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
API_HEADERS = {"accept": "application/json", "content-type": "application/json"}
VARIANTS = {
    "search": "es.search",
    "client-header": "es.options(headers={traceparent}).search",
    "request": "es.perform_request(headers=the API's two)",
    "request-header": "es.perform_request(headers=the API's two + traceparent)",
}
_SUMMARY = re.compile(r"^summary: (\d+)", re.MULTILINE)


async def _searches(variant: str, url: str, count: int) -> None:
    from elasticsearch import AsyncElasticsearch

    from benchmarks.client import ES_INDEX, ES_QUERY
    from benchmarks.es_replay import ReplayServer

    replay = ReplayServer(url)
    es = AsyncElasticsearch(await replay.start())
    client = es.options(headers={"traceparent": TRACEPARENT}) if variant == "client-header" else es
    headers = dict(API_HEADERS)
    if variant == "request-header":
        headers["traceparent"] = TRACEPARENT
    body = {"query": ES_QUERY, "size": 5}
    for _ in range(count):
        if variant in ("search", "client-header"):
            await client.search(index=ES_INDEX, query=ES_QUERY, size=5)
        else:
            await es.perform_request(
                "POST",
                f"/{ES_INDEX}/_search",
                headers=dict(headers),
                body=body,
                endpoint_id="search",
                path_parts={"index": ES_INDEX},
            )
    await es.close()


def _count(variant: str, url: str, searches: int, warmup: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT)}
        subprocess.run(
            [
                *NO_ASLR,
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "benchmarks.header_carry",
                "--measure",
                variant,
                url,
                str(warmup + searches),
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=3600,
        )
        found = _SUMMARY.search(out.read_text())
        if found is None:
            raise RuntimeError(f"no callgrind summary for {variant}")
        return int(found.group(1))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        asyncio.run(_searches(sys.argv[2], sys.argv[3], int(sys.argv[4])))
        return
    from benchmarks.run import Servers

    calls, warmup = 100, 50
    servers = Servers()
    try:
        url = servers.addresses["elasticsearch"]
        cells = [(variant, n) for variant in VARIANTS for n in (calls, 2 * calls)]
        with ThreadPoolExecutor(2) as pool:
            counts: Dict[Tuple[str, int], int] = dict(
                zip(cells, pool.map(lambda cell: _count(cell[0], url, cell[1], warmup), cells))
            )
    finally:
        servers.close("quit")
    per: Dict[str, float] = {
        variant: (counts[(variant, 2 * calls)] - counts[(variant, calls)]) / calls
        for variant in VARIANTS
    }
    print("| variant | instructions per search |\n|---|---:|")
    for variant, label in VARIANTS.items():
        print(f"| {label} | {per[variant]:,.0f} |")
    print(
        f"\none more header per request: {per['request-header'] - per['request']:+,.0f}; "
        f"set on the client: {per['client-header'] - per['search']:+,.0f}"
    )


if __name__ == "__main__":
    main()
