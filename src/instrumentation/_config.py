"""Options of ``instrument()``, their environment variables, and their validation.

Every option can be given as a keyword of ``instrumentation.instrument()`` (or of an instrumentor's
``instrument()``), or, for ``opentelemetry-instrument`` users, as an environment variable. A keyword
wins over the variable. A bad value raises ``ValueError`` here, at configuration time, so that nothing
ever has to raise while a traced call is in flight.

``OPTIONS`` is the single list the configuration reference in ``docs/`` is checked against.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple

from instrumentation import _registry
from instrumentation._record import CallView
from instrumentation._registry import BACKENDS

ENV_PREFIX = "OTEL_PYTHON_INSTRUMENTATION_SEARCH_"
CAPTURE_MODES = ("omit", "sanitize", "raw")
KNOWN_BACKENDS = tuple(BACKENDS)
DEFAULT_QUERY_MAX_LENGTH = 2048
logger = logging.getLogger("instrumentation")
#: (variable, bad value) pairs already warned about.
_warned: Set[Tuple[str, str]] = set()

RequestHook = Callable[[Any, CallView], None]
ResponseHook = Callable[[Any, CallView, Any], None]


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
        "list of: " + ", ".join(_registry.builtin_names()),
        "Which client libraries to instrument. With opentelemetry-instrument use "
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="
        + ",".join(_registry.entry_point(name) for name in _registry.builtin_names())
        + " instead.",
    ),
    Option(
        "backends",
        ENV_PREFIX + "BACKENDS",
        "otel, plus apm when elastic-apm is installed (it records inside agent transactions only)",
        "comma-separated list of: " + ", ".join(BACKENDS),
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
        "Record db.response.returned_rows and the db.client.response.returned_rows histogram (opt-in in the semantic conventions).",
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
        "propagate_context",
        ENV_PREFIX + "PROPAGATE_CONTEXT",
        "false",
        "true, false",
        "Send the call's trace context (W3C traceparent/tracestate, or the configured propagators) "
        "in each request's HTTP headers and gRPC metadata, so servers with tracing join the trace.",
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
        "callable (span, call) -> None",
        "Called after a recording span starts; exceptions are logged, never raised.",
    ),
    Option(
        "response_hook",
        None,
        "none",
        "callable (span, call, response) -> None",
        "Called before a recording span ends; response is None on failure.",
    ),
    Option(
        "semconv stability",
        "OTEL_SEMCONV_STABILITY_OPT_IN",
        "stable names plus db.system",
        "database, database/dup (others are ignored)",
        "By default db.system is emitted beside db.system.name (Elastic APM Server reads only "
        "db.system to draw the dependency); database: stable names only; database/dup: also "
        "db.statement, db.name, db.operation.",
    ),
)


class Settings(NamedTuple):
    """Validated options, shared by every client and backend while instrumented."""

    backends: Optional[Tuple[str, ...]]  # None: choose at instrument() time
    capture_query: str
    query_max_length: int
    record_returned_rows: bool
    apm_transactions: bool
    propagate_context: bool
    semconv_dup: bool
    semconv_db_system: bool  # the old db.system beside db.system.name (all but `database`)
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
    return None if value is None else _names(value, tuple(_registry.modules()), "clients")


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


def _semconv_opt_in(env: Mapping[str, str]) -> Tuple[str, ...]:
    return tuple(part.strip() for part in env.get("OTEL_SEMCONV_STABILITY_OPT_IN", "").split(","))


def semconv_dup_from_env(env: Mapping[str, str]) -> bool:
    """``OTEL_SEMCONV_STABILITY_OPT_IN`` as the semantic conventions define it, database group."""
    return "database/dup" in _semconv_opt_in(env)


def semconv_db_system_from_env(env: Mapping[str, str]) -> bool:
    """Whether the old ``db.system`` goes beside ``db.system.name``: yes unless the application
    asked for the stable names only (``database``, without ``database/dup``, which wins).

    Elastic APM Server (apm-data) classifies an OTLP span as a ``db/<system>`` dependency from
    ``db.system`` alone; docs/attributes.md says why this one old name is on by default.
    """
    opt_in = _semconv_opt_in(env)
    return "database/dup" in opt_in or "database" not in opt_in


def _tracer_provider(value: Any, option: str) -> Any:
    if value is not None and not callable(getattr(value, "get_tracer", None)):
        raise ValueError(f"{option} must be a TracerProvider, got {type(value).__name__}")
    return value


def _meter_provider(value: Any, option: str) -> Any:
    if value is not None and not callable(getattr(value, "get_meter", None)):
        raise ValueError(f"{option} must be a MeterProvider, got {type(value).__name__}")
    return value


def _capture_mode(value: Any, option: str) -> str:
    if not isinstance(value, str) or value.strip().lower() not in CAPTURE_MODES:
        raise ValueError(f"{option} must be one of {', '.join(CAPTURE_MODES)}, got {value!r}")
    return value.strip().lower()


def _max_length(value: Any, option: str) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        length = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{option} must be an integer, got {value!r}") from None
    if length < 16:
        raise ValueError(f"{option} must be at least 16, got {length}")
    return length


def _backends(value: Any, option: str) -> Tuple[str, ...]:
    return _names(value, KNOWN_BACKENDS, option)


def _option(
    keyword: str,
    value: Any,
    env: Mapping[str, str],
    key: str,
    parse: Callable[[Any, str], Any],
    default: Any,
) -> Any:
    """A keyword's value, else its environment variable's, else ``default``, parsed.

    A bad keyword raises ``ValueError`` naming it: the caller wrote it and can fix it. A bad
    environment variable only logs a warning and the default is used: it is read under
    ``opentelemetry-instrument`` too, where a raise would stop every instrumentor after ours (the
    OpenTelemetry convention for ``OTEL_*`` variables).
    """
    if value is not None:
        return parse(value, keyword)
    raw = _from_env(env, key)
    if raw is None:
        return default
    try:
        return parse(raw, ENV_PREFIX + key)
    except ValueError:
        if (key, raw) in _warned:  # every instrumentor reads the variables: say it once
            return default
        _warned.add((key, raw))
        logger.warning(
            "invalid value %r for %s; using the default (%s)",
            raw,
            ENV_PREFIX + key,
            "every available backend" if default is None else default,
        )
        return default


def build_settings(
    *,
    backends: Any = None,
    capture_query: Any = None,
    query_max_length: Any = None,
    record_returned_rows: Any = None,
    apm_transactions: Any = None,
    propagate_context: Any = None,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    request_hook: Any = None,
    response_hook: Any = None,
    env: Optional[Mapping[str, str]] = None,
    **unknown: Any,
) -> Settings:
    """Validate keyword options (``ValueError`` on a bad one) over environment variables (a warning
    and the default on a bad one)."""
    if env is None:
        env = os.environ
    # opentelemetry-instrument passes these to every instrumentor; they are not ours to reject.
    for key in ("skip_dep_check", "raise_exception_on_conflict"):
        unknown.pop(key, None)
    if unknown:
        raise ValueError(f"unknown option(s): {', '.join(sorted(unknown))}")
    return Settings(
        backends=_option("backends", backends, env, "BACKENDS", _backends, None),
        capture_query=_option(
            "capture_query", capture_query, env, "CAPTURE_QUERY", _capture_mode, "sanitize"
        ),
        query_max_length=_option(
            "query_max_length",
            query_max_length,
            env,
            "QUERY_MAX_LENGTH",
            _max_length,
            DEFAULT_QUERY_MAX_LENGTH,
        ),
        record_returned_rows=_option(
            "record_returned_rows", record_returned_rows, env, "RECORD_RETURNED_ROWS", _bool, False
        ),
        apm_transactions=_option(
            "apm_transactions", apm_transactions, env, "APM_TRANSACTIONS", _bool, False
        ),
        propagate_context=_option(
            "propagate_context", propagate_context, env, "PROPAGATE_CONTEXT", _bool, False
        ),
        semconv_dup=semconv_dup_from_env(env),
        semconv_db_system=semconv_db_system_from_env(env),
        tracer_provider=_tracer_provider(tracer_provider, "tracer_provider"),
        meter_provider=_meter_provider(meter_provider, "meter_provider"),
        request_hook=_hook(request_hook, "request_hook"),
        response_hook=_hook(response_hook, "response_hook"),
    )
