"""Turning clients on and off: one dispatcher (its backends built once) for every active client.

``instrument()`` and each ``BaseInstrumentor.instrument()`` end here. The first activation builds the
backends and the dispatcher from its ``Settings``; a later activation with the same settings (the
other instrumentor under ``opentelemetry-instrument``) reuses them, and one with other settings
replaces them for every active client (options are shared, as documented).
"""

from __future__ import annotations

import atexit
import importlib
import importlib.util
import logging
import threading
from typing import Any, List, Optional, Set, Tuple

from instrumentation import _state
from instrumentation._config import Settings
from instrumentation._dispatch import Backend, Dispatcher
from instrumentation._patching import Patch, Patcher
from instrumentation._registry import BACKENDS, CLIENTS

_lock = threading.RLock()
_patcher = Patcher()
_active: Set[str] = set()
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
    return tuple(name for name, client in CLIENTS.items() if library_available(client.library))


def _patches(client: str, propagation: bool = False) -> Tuple[Patch, ...]:
    """The client's ``PATCHES``; with ``propagation``, also its ``PROPAGATION_PATCHES`` (rows that
    only carry trace context into requests, applied only while ``propagate_context`` is on)."""
    module = importlib.import_module(CLIENTS[client].module)
    patches: Tuple[Patch, ...] = module.PATCHES
    if propagation:
        patches += getattr(module, "PROPAGATION_PATCHES", ())
    return patches


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


def build_dispatcher(settings: Settings) -> Dispatcher:
    return Dispatcher(
        build_backends(settings),
        settings.capture_query,
        settings.query_max_length,
        settings.propagate_context,
    )


def activate(client: str, settings: Settings, dispatcher: Optional[Dispatcher] = None) -> None:
    """Instrument one client; ``settings`` (and ``dispatcher``, built from them when not given)
    then apply to every active client."""
    with _lock:
        if dispatcher is None:
            if settings == _state.settings and _state.dispatcher is not None:
                dispatcher = _state.dispatcher
            else:
                dispatcher = build_dispatcher(settings)
        _state.settings = settings
        _state.dispatcher = dispatcher
        if client not in _active:
            _patcher.apply(_patches(client, settings.propagate_context))
            _active.add(client)
            if len(_active) == 1:
                _check_something_records(logging.INFO)
        else:  # already active: only the propagation rows may change with the new settings
            extra = _patches(client, True)[len(_patches(client)) :]
            if settings.propagate_context:
                _patcher.apply(extra)
            else:
                _patcher.remove(extra)


def deactivate(client: str) -> None:
    with _lock:
        if client in _active:
            _patcher.remove(_patches(client, True))
            _active.discard(client)
        if not _active:
            _state.dispatcher = None
            _state.settings = None


def active_clients() -> Tuple[str, ...]:
    return tuple(sorted(_active))


def _nothing_records() -> bool:
    dispatcher = _state.dispatcher
    if dispatcher is None:
        return False
    try:
        return not any(backend.ready() for backend in dispatcher.backends)
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
