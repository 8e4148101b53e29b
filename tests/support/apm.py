"""The Elastic APM side of a traced run: what a real agent client sent to the loopback intake."""

from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator, List, Tuple


class ApmRecorder:
    """A real agent client sending to the loopback intake (``tests.servers.apm_intake``).

    ``transaction()`` wraps the application's call in a sampled transaction; ``spans()`` flushes the
    agent and returns what the intake received since the last call, checking that no span arrived
    twice (the agent sends a span once per ``end()``: a second end would be a second event).
    """

    def __init__(self, client: Any, intake: Any) -> None:
        self.client = client
        self.intake = intake

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.intake.reset()
        self.client.begin_transaction("request")
        try:
            yield
        finally:
            self.client.end_transaction("GET /reliability", "HTTP 2xx")

    async def spans(self) -> List[Dict[str, Any]]:
        await self.intake.flush(self.client)
        spans = list(self.intake.spans)
        ids = [span["id"] for span in spans]
        assert len(ids) == len(set(ids)), f"an APM span was sent twice: {self.intake.describe()}"
        return spans


def apm_outcomes(spans: List[Dict[str, Any]]) -> List[Tuple[str, str]]:
    """(name, outcome) of each APM span, sorted: spans as the agent sends them (the loopback
    intake), or as APM Server indexes them (the real tier's intake: ``span.name``, ``event.outcome``)."""
    return sorted(
        (span["span"]["name"], span["event"]["outcome"])
        if "event" in span
        else (span["name"], span["outcome"])
        for span in spans
    )


def expected_apm_outcomes(spans: Any) -> List[Tuple[str, str]]:
    """The APM (name, outcome) pairs that match (span name, error.type or None) pairs."""
    return sorted((name, "success" if error is None else "failure") for name, error in spans)
