"""Reading what the instrumentation recorded: finished spans, their status, the duration metric."""

from __future__ import annotations

import json
from typing import Any, List, Optional

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

#: The metric every database call records one point of.
DURATION_METRIC = "db.client.operation.duration"
#: Fields of an exported span drawn at random or read off the clock, whatever the application did.
_RANDOM_OR_CLOCK = frozenset(
    {
        "trace_id",
        "span_id",
        "parent_id",
        "start_time",
        "end_time",
        "timestamp",
        "service.instance.id",
    }
)


def finished(exporter: Any) -> List[Any]:
    """The spans ``exporter`` (an ``InMemorySpanExporter``) has received, in the order they ended."""
    return list(exporter.get_finished_spans())


def duration_points(reader: Any) -> List[Any]:
    """The data points of the duration metric ``reader`` (an ``InMemoryMetricReader``) holds."""
    return metric_points(reader, DURATION_METRIC)


def metric_points(reader: Any, name: str) -> List[Any]:
    """The data points of metric ``name`` that ``reader`` (an ``InMemoryMetricReader``) holds."""
    return [point for metric in metrics_named(reader, name) for point in metric.data.data_points]


def metrics_named(reader: Any, name: str) -> List[Any]:
    """The metrics called ``name`` (their unit, description and points) ``reader`` holds."""
    data = reader.get_metrics_data()
    found: List[Any] = []
    if data is None:
        return found
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            found.extend(metric for metric in scope.metrics if metric.name == name)
    return found


def status_of(span: ReadableSpan) -> Optional[str]:
    """``None`` for a successful span, else its ``error.type`` (asserting the status agrees)."""
    error_type = (span.attributes or {}).get("error.type")
    if span.status.status_code is StatusCode.ERROR:
        assert error_type is not None, f"{span.name}: ERROR without error.type"
        assert span.status.description, f"{span.name}: ERROR without a reason"
        return str(error_type)
    assert span.status.status_code is StatusCode.UNSET, span.status
    assert error_type is None, f"{span.name}: error.type {error_type!r} on a successful span"
    return None


def exception_events(span: Any) -> List[Any]:
    """The span's ``exception`` events (one when an exception passed through the call)."""
    return [event for event in span.events if event.name == "exception"]


def exported_text(*spans: Any) -> str:
    """The spans as exported (``to_json``), without their ids, times and the SDK's random
    ``service.instance.id``: digits drawn at random or off the clock match any short literal a test
    looks for now and then (``"0.25"`` is in ``"...T08:02:10.252441Z"`` one run in a thousand)."""

    def kept(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: kept(v) for k, v in value.items() if k not in _RANDOM_OR_CLOCK}
        if isinstance(value, list):
            return [kept(item) for item in value]
        return value

    return "\n".join(json.dumps(kept(json.loads(span.to_json())), indent=4) for span in spans)
