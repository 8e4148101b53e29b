"""Backends turn an ``Operation`` into telemetry: ``otel`` (spans + metric) and ``apm`` (Elastic APM)."""
