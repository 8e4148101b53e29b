"""Options of ``instrument()``, their environment variables, and their validation.

Every option can be given as a keyword of ``instrumentation.instrument()`` (or of an instrumentor's
``instrument()``), or, for ``opentelemetry-instrument`` users, as an environment variable. A keyword
wins over the variable. A bad value raises ``ValueError`` here, at configuration time, so that nothing
ever has to raise while a traced call is in flight.

``OPTIONS`` is the single list the configuration reference in ``docs/`` is checked against.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from instrumentation._operation import Operation

ENV_PREFIX = "OTEL_PYTHON_INSTRUMENTATION_SEARCH_"
CAPTURE_MODES = ("omit", "sanitize", "raw")
KNOWN_BACKENDS = ("otel", "apm")
KNOWN_CLIENTS = ("elasticsearch", "weaviate")
DEFAULT_QUERY_MAX_LENGTH = 2048

RequestHook = Callable[[Any, Operation], None]
ResponseHook = Callable[[Any, Operation, Any], None]


class Option(NamedTuple):
    name: str
    env: Optional[str]
    default: str
    allowed: str
    help: str


OPTIONS: Tuple[Option, ...] = (
    Option(
        "clients",
        None,
        "every supported client that is importable",
        "list of: elasticsearch, weaviate",
        "Which client libraries to instrument. With opentelemetry-instrument use "
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=elasticsearch_async,weaviate_async instead.",
    ),
    Option(
        "backends",
        ENV_PREFIX + "BACKENDS",
        "otel, plus apm when elastic-apm is installed (it records inside agent transactions only)",
        "comma-separated list of: otel, apm",
        "Where operations are recorded: OpenTelemetry spans and metrics, Elastic APM spans.",
    ),
    Option(
        "capture_query",
        ENV_PREFIX + "CAPTURE_QUERY",
        "sanitize",
        "omit, sanitize, raw",
        "Query text in db.query.text: literals replaced by '?', as sent, or not at all.",
    ),
    Option(
        "query_max_length",
        ENV_PREFIX + "QUERY_MAX_LENGTH",
        str(DEFAULT_QUERY_MAX_LENGTH),
        "integer >= 16",
        "Upper bound, in characters, of a captured query text.",
    ),
    Option(
        "record_returned_rows",
        ENV_PREFIX + "RECORD_RETURNED_ROWS",
        "false",
        "true, false",
        "Record db.response.returned_rows (opt-in in the semantic conventions).",
    ),
    Option(
        "apm_transactions",
        ENV_PREFIX + "APM_TRANSACTIONS",
        "false",
        "true, false",
        "Elastic APM backend: a call outside any transaction starts its own transaction "
        "(type db), so calls from background workers and scripts are not lost.",
    ),
    Option(
        "tracer_provider",
        None,
        "the global TracerProvider",
        "a TracerProvider",
        "Provider for the OpenTelemetry spans.",
    ),
    Option(
        "meter_provider",
        None,
        "the global MeterProvider",
        "a MeterProvider",
        "Provider for the db.client.operation.duration histogram.",
    ),
    Option(
        "request_hook",
        None,
        "none",
        "callable (span, operation) -> None",
        "Called after a recording span starts; exceptions are logged, never raised.",
    ),
    Option(
        "response_hook",
        None,
        "none",
        "callable (span, operation, response) -> None",
        "Called before a recording span ends; response is None on failure.",
    ),
    Option(
        "semconv stability",
        "OTEL_SEMCONV_STABILITY_OPT_IN",
        "stable names only",
        "database/dup (others are ignored)",
        "database/dup also emits the old names db.system, db.statement, db.name, db.operation.",
    ),
)


class Settings(NamedTuple):
    """Validated options, shared by every client and backend while instrumented."""

    backends: Optional[Tuple[str, ...]]  # None: choose at instrument() time
    capture_query: str
    query_max_length: int
    record_returned_rows: bool
    apm_transactions: bool
    semconv_dup: bool
    tracer_provider: Any
    meter_provider: Any
    request_hook: Optional[RequestHook]
    response_hook: Optional[ResponseHook]


def _from_env(env: Mapping[str, str], key: str) -> Optional[str]:
    value = env.get(ENV_PREFIX + key)
    if value is None or not value.strip():
        return None
    return value.strip()


def _names(value: Any, known: Sequence[str], option: str) -> Tuple[str, ...]:
    if isinstance(value, str):
        items: List[Any] = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
    else:
        raise ValueError(f"{option} must be a list of names, got {type(value).__name__}")
    names: List[str] = []
    for item in items:
        if not isinstance(item, str) or item not in known:
            raise ValueError(f"unknown {option} {item!r}; expected any of {', '.join(known)}")
        if item not in names:
            names.append(item)
    return tuple(names)


def parse_clients(value: Any) -> Optional[Tuple[str, ...]]:
    return None if value is None else _names(value, KNOWN_CLIENTS, "clients")


def _bool(value: Any, option: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in (
        "true",
        "1",
        "yes",
        "on",
        "false",
        "0",
        "no",
        "off",
    ):
        return value.lower() in ("true", "1", "yes", "on")
    raise ValueError(f"{option} must be true or false, got {value!r}")


def _hook(value: Any, option: str) -> Any:
    if value is not None and not callable(value):
        raise ValueError(f"{option} must be callable, got {type(value).__name__}")
    return value


def semconv_dup_from_env(env: Mapping[str, str]) -> bool:
    """``OTEL_SEMCONV_STABILITY_OPT_IN`` as the semantic conventions define it, database group."""
    opt_in = env.get("OTEL_SEMCONV_STABILITY_OPT_IN", "")
    return "database/dup" in (part.strip() for part in opt_in.split(","))


def build_settings(
    *,
    backends: Any = None,
    capture_query: Any = None,
    query_max_length: Any = None,
    record_returned_rows: Any = None,
    apm_transactions: Any = None,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    request_hook: Any = None,
    response_hook: Any = None,
    env: Optional[Mapping[str, str]] = None,
    **unknown: Any,
) -> Settings:
    """Validate keyword options over environment variables; raise ``ValueError`` on bad input."""
    if env is None:
        env = os.environ
    # opentelemetry-instrument passes these to every instrumentor; they are not ours to reject.
    for key in ("skip_dep_check", "raise_exception_on_conflict"):
        unknown.pop(key, None)
    if unknown:
        raise ValueError(f"unknown option(s): {', '.join(sorted(unknown))}")

    if backends is None:
        backends = _from_env(env, "BACKENDS")
    chosen = None if backends is None else _names(backends, KNOWN_BACKENDS, "backend")

    if capture_query is None:
        capture_query = _from_env(env, "CAPTURE_QUERY") or "sanitize"
    if not isinstance(capture_query, str) or capture_query.lower() not in CAPTURE_MODES:
        raise ValueError(
            f"capture_query must be one of {', '.join(CAPTURE_MODES)}, got {capture_query!r}"
        )

    if query_max_length is None:
        query_max_length = _from_env(env, "QUERY_MAX_LENGTH") or DEFAULT_QUERY_MAX_LENGTH
    try:
        if isinstance(query_max_length, bool):
            raise TypeError
        max_length = int(query_max_length)
    except (TypeError, ValueError):
        raise ValueError(f"query_max_length must be an integer, got {query_max_length!r}") from None
    if max_length < 16:
        raise ValueError(f"query_max_length must be at least 16, got {max_length}")

    if record_returned_rows is None:
        record_returned_rows = _from_env(env, "RECORD_RETURNED_ROWS") or False

    if apm_transactions is None:
        apm_transactions = _from_env(env, "APM_TRANSACTIONS") or False

    return Settings(
        backends=chosen,
        capture_query=capture_query.lower(),
        query_max_length=max_length,
        record_returned_rows=_bool(record_returned_rows, "record_returned_rows"),
        apm_transactions=_bool(apm_transactions, "apm_transactions"),
        semconv_dup=semconv_dup_from_env(env),
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        request_hook=_hook(request_hook, "request_hook"),
        response_hook=_hook(response_hook, "response_hook"),
    )


def describe() -> List[Dict[str, str]]:
    """The options as rows, for the generated configuration reference."""
    return [opt._asdict() for opt in OPTIONS]
