"""The trace-context headers a request carries, and clearing them before a backend writes its own.

A request carries one trace: ``traceparent``, ``tracestate`` and ``elastic-apm-traceparent`` all
come from the one backend that injects the call's context (``_engine._Fanout.inject`` says which). The
carrier a client hands in may already hold some of them, from the application's own per-request
headers, in any letter case; ``clear`` removes those first, so that no header is sent twice (as
``traceparent`` and ``Traceparent``) and no ``tracestate`` of another trace rides along.
"""

from __future__ import annotations

from typing import Dict

#: Lower-case names of the headers that carry a trace context.
TRACE_HEADERS = frozenset({"traceparent", "tracestate", "elastic-apm-traceparent"})


def clear(carrier: Dict[str, str]) -> None:
    """Remove every trace-context header from ``carrier``, whatever its letter case. The common
    carrier holds none: that is known without a Python-level loop (``isdisjoint`` over the
    lower-cased names runs in C)."""
    try:
        if TRACE_HEADERS.isdisjoint(map(str.lower, carrier)):
            return
    except TypeError:  # a name that is not a string (bytes): the loop below passes over it
        pass
    for key in [key for key in carrier if isinstance(key, str) and key.lower() in TRACE_HEADERS]:
        del carrier[key]
