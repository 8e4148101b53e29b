"""The differential form of a test: one scenario run plain, traced, plain again.

Each run gets a fresh client; the three outcomes must be identical (see ``tests.support.outcomes``),
and only the traced run may leave telemetry. The fault matrices of both clients
(``tests/clients/test_*_faults.py``) and the real tier (``tests/real``) run their scenarios so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncContextManager, Awaitable, Callable, Dict, List, Optional

import instrumentation
from tests.support.apm import ApmRecorder
from tests.support.audit import SpanAudit
from tests.support.outcomes import Mask, Outcome, assert_same_outcome, outcome_of


@dataclass
class Differential:
    """What the three runs of a scenario left: the outcomes, and the traced run's telemetry."""

    outcomes: List[Outcome]
    #: the OpenTelemetry spans of the traced run
    spans: List[Any]
    #: the Elastic APM spans of the traced run (with an ``ApmRecorder``)
    apm_spans: List[Dict[str, Any]]

    @property
    def traced(self) -> Outcome:
        return self.outcomes[1]

    def assert_same_outcome(self) -> None:
        """The application saw the same plain, traced, and plain again after ``uninstrument()``."""
        plain, traced, plain_again = self.outcomes
        assert_same_outcome(plain, traced)
        assert_same_outcome(plain, plain_again)


async def plain_traced_plain(
    open_client: Callable[[], AsyncContextManager[Any]],
    call: Callable[[Any], Awaitable[Any]],
    instrumented: Callable[..., None],
    span_exporter: Any,
    *,
    apm: Optional[ApmRecorder] = None,
    audit: Optional[SpanAudit] = None,
    options: Optional[Dict[str, Any]] = None,
    mask: Optional[Mask] = None,
    prepare: Optional[Callable[[], Awaitable[None]]] = None,
) -> Differential:
    """Run ``call(client)`` three times, each with a fresh client from ``open_client()``.

    ``open_client()`` is an async context manager; the client it gives is made (and connected)
    before ``instrument()``, so making it leaves no span, and it may check the run after the call
    (requests the server saw) before closing. The runs: uninstrumented; instrumented with the
    ``instrumented`` fixture (OpenTelemetry, plus Elastic APM in a sampled transaction when ``apm``
    is given; ``options`` go to ``instrument()``); uninstrumented again. ``prepare()`` (optional)
    puts the servers back in the same state before each run; ``mask`` hides what differs between
    runs anyway (ports of per-run servers) from the outcomes. With ``audit``, every span of the
    traced run must have ended exactly once.
    """
    outcomes: List[Outcome] = []
    spans: List[Any] = []
    apm_spans: List[Dict[str, Any]] = []
    kwargs: Dict[str, Any] = {} if mask is None else {"mask": mask}
    for traced in (False, True, False):
        if prepare is not None:
            await prepare()
        async with open_client() as client:
            if traced:
                opts = dict(options or {})
                opts.setdefault("backends", ["otel", "apm"] if apm is not None else ["otel"])
                instrumented(**opts)
            span_exporter.clear()
            if audit is not None:
                audit.reset()
            try:
                if traced and apm is not None:
                    with apm.transaction():
                        outcomes.append(await outcome_of(lambda: call(client), **kwargs))
                else:
                    outcomes.append(await outcome_of(lambda: call(client), **kwargs))
            finally:
                if traced:
                    instrumentation.uninstrument()
        if traced:
            spans = list(span_exporter.get_finished_spans())
            if audit is not None:
                audit.assert_all_ended_once()
            if apm is not None:
                apm_spans = await apm.spans()
        else:
            assert list(span_exporter.get_finished_spans()) == [], "spans while uninstrumented"
    return Differential(outcomes, spans, apm_spans)
