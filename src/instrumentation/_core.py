"""Turning clients on and off: one engine (its backends built once) for every active client.

``instrument()`` and each ``BaseInstrumentor.instrument()`` end here. The first activation builds the
backends and the engine from its ``Settings`` and hands the engine to the client module, which
closes its wrappers over it (``patches(engine)``). A later activation with the same settings (the
other instrumentor under ``opentelemetry-instrument``) reuses that engine; one with other settings
builds a new one and re-patches every active client with it (options are shared, as documented).
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import threading
from typing import Any, Dict, List, Optional, Tuple

from instrumentation import _registry
from instrumentation._config import Settings
from instrumentation._engine import Backend, Engine
from instrumentation._patching import Patch, Patcher
from instrumentation._registry import BACKENDS

_lock = threading.RLock()
_patcher = Patcher()
#: Active client -> the rows applied for it (closed over ``_engine``).
_active: Dict[str, Tuple[Patch, ...]] = {}
_engine: Optional[Engine] = None
_settings: Optional[Settings] = None
_logger = logging.getLogger("instrumentation")
_exit_check_registered = False
_NOTHING_RECORDS = (
    "async-search-instrumentation is active (%s) but no OpenTelemetry SDK or Elastic APM agent "
    "is configured, so no span or metric is recorded: install opentelemetry-distro and run under "
    "opentelemetry-instrument, or set a TracerProvider (see docs/getting-started.md)"
)


def library_available(library: Optional[str]) -> bool:
    """Whether ``library`` is importable, without importing it (``None``: nothing needed)."""
    if library is None:
        return True
    try:
        return importlib.util.find_spec(library) is not None
    except (ImportError, ValueError):
        return False


def available_clients() -> Tuple[str, ...]:
    return tuple(
        name for name, client in _registry.clients().items() if library_available(client.library)
    )


def default_backends() -> Tuple[str, ...]:
    """Every backend whose library is installed: ``otel``, plus ``apm`` with the agent.

    The APM backend records only inside a transaction of an ``elasticapm.Client``, so it is in
    effect on exactly when such a client exists, including one created *after* ``instrument()``
    (under ``opentelemetry-instrument``, the FastAPI/Starlette middleware creates its client
    later). Without a transaction it costs one context-variable lookup per call.
    """
    return tuple(name for name, backend in BACKENDS.items() if library_available(backend.library))


def build_backends(settings: Settings) -> List[Backend]:
    """The backends ``settings`` asks for; ``ValueError`` for one that is not available."""
    names = settings.backends if settings.backends is not None else default_backends()
    backends: List[Backend] = []
    for name in names:
        module_name, _, factory_name = BACKENDS[name].factory.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"the {name!r} backend is not available: {exc}") from exc
        factory: Any = getattr(module, factory_name)
        backends.append(factory(settings))
    return backends


def build_engine(settings: Settings) -> Engine:
    return Engine(
        build_backends(settings),
        settings.capture_query,
        settings.query_max_length,
        settings.propagate_context,
    )


def _patches(client: str, engine: Engine) -> Tuple[Patch, ...]:
    patches: Tuple[Patch, ...] = _registry.modules()[client].patches(engine)
    return patches


def activate(client: str, settings: Settings, engine: Optional[Engine] = None) -> None:
    """Instrument one client; ``settings`` (and ``engine``, built from them when not given) then
    apply to every active client."""
    global _engine, _settings
    with _lock:
        if engine is None:
            engine = _engine if settings == _settings and _engine is not None else None
            if engine is None:
                engine = build_engine(settings)
        if engine is not _engine:
            # New options: every active client's wrappers are rebuilt around the new engine.
            for name, rows in list(_active.items()):
                _patcher.remove(rows)
                _active[name] = _patches(name, engine)
                _patcher.apply(_active[name])
        _engine, _settings = engine, settings
        if client not in _active:
            _active[client] = _patches(client, engine)
            _patcher.apply(_active[client])
            if len(_active) == 1:
                _check_something_records(logging.INFO)


def deactivate(client: str) -> None:
    global _engine, _settings
    with _lock:
        rows = _active.pop(client, None)
        if rows is not None:
            _patcher.remove(rows)
        if not _active:
            _engine = _settings = None


def active_clients() -> Tuple[str, ...]:
    return tuple(sorted(_active))


def current_engine() -> Optional[Engine]:
    """The engine the active clients' wrappers run (``None`` while nothing is instrumented)."""
    return _engine


def _nothing_records() -> bool:
    engine = _engine
    if engine is None:
        return False
    try:
        return not any(backend.ready() for backend in engine.backends)
    except Exception:  # a check that could not run says nothing
        return False


def _check_something_records(level: int) -> None:
    """Say so when nothing can record: once at ``instrument()`` (INFO: an SDK may still be set up
    after it), and at exit (WARNING) if still nothing is. Costs nothing per call."""
    global _exit_check_registered
    if not _nothing_records():
        return  # something records (an agent closed at shutdown still recorded): nothing to say
    _logger.log(level, _NOTHING_RECORDS, ", ".join(sorted(_active)))
    if not _exit_check_registered:
        _exit_check_registered = True
        atexit.register(_check_at_exit)


def _check_at_exit() -> None:
    if _active and _nothing_records():
        _logger.warning(_NOTHING_RECORDS, ", ".join(sorted(_active)))
