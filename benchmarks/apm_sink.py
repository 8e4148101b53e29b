"""The Elastic APM agent's network answered in-process, for instruction counts.

``InProcessTransport`` is the agent's own HTTP transport (``elasticapm.transport.http.Transport``)
with the two network calls replaced: ``send`` keeps the gzipped payload the agent built and reports
success, ``fetch_server_info`` reads the version the stand-in intake would report (and its sending thread
is woken by the block's flush, not by the clock). Everything the
agent does on the client side (queueing events, its sending thread, JSON encoding, gzip) still runs
and is counted; the HTTP request, its response and the intake's parsing are not.

The payloads are kept (a list append per flush, outside the per-call path) so that the worker's
``summary`` can say what was sent: transactions, spans, and the calls those spans stand for after
the agent's span compression.
"""

from __future__ import annotations

import gzip
import json
from typing import Any, Dict, List

from elasticapm.transport.http import Transport

#: What the stand-in intake (``tests/servers/apm_intake.py``) reports by default.
SERVER_VERSION = (8, 15, 0)


class InProcessTransport(Transport):  # type: ignore[misc]
    payloads: List[bytes] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The sending thread is woken by 500 queued events, a flush, or 1 s after the first queued
        # event: under callgrind's slowdown that second is a handful of calls, so how often it
        # wakes (and the count) would depend on the machine's speed. At native speed a block ends
        # well within the second: wake only on the block's flush, as there.
        kwargs.setdefault("queue_chill_time", 600.0)
        super().__init__(*args, **kwargs)

    def send(self, data: Any, forced_flush: bool = False, *args: Any, **kwargs: Any) -> Any:
        if data:
            InProcessTransport.payloads.append(bytes(data))
        return None

    def fetch_server_info(self) -> None:
        self.client.server_version = SERVER_VERSION


def sent() -> Dict[str, int]:
    """Events sent so far, by kind; ``calls_in_spans``: calls the (compressed) spans stand for."""
    counts = {"transaction": 0, "span": 0, "calls_in_spans": 0, "other": 0, "payloads": 0}
    for payload in InProcessTransport.payloads:
        counts["payloads"] += 1
        for line in gzip.decompress(payload).splitlines():
            event = json.loads(line)
            if "span" in event:
                counts["span"] += 1
                counts["calls_in_spans"] += int(
                    (event["span"].get("composite") or {}).get("count", 1)
                )
            elif "transaction" in event:
                counts["transaction"] += 1
            elif "metadata" not in event:
                counts["other"] += 1
    return counts
