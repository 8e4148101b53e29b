"""Turning clients on and off: settings, backends, and the patch tables of the client modules."""

from __future__ import annotations

import importlib
import importlib.util
import threading
from typing import Any, Dict, List, Set, Tuple

from instrumentation import _state
from instrumentation._config import Settings
from instrumentation._dispatch import Backend, Dispatcher
from instrumentation._patching import Patch, Patcher

#: client name -> module holding its ``PATCHES`` table (and ``LIBRARY``, the import it needs).
CLIENT_MODULES: Dict[str, str] = {
    "elasticsearch": "instrumentation.clients.elasticsearch",
    "weaviate": "instrumentation.clients.weaviate",
}
#: backend name -> "module:factory"; a factory takes ``Settings`` and returns a ``Backend``.
BACKEND_FACTORIES: Dict[str, str] = {
    "otel": "instrumentation.backends.otel:OpenTelemetryBackend",
    "apm": "instrumentation.backends.apm:ElasticApmBackend",
}

_lock = threading.RLock()
_patcher = Patcher()
_active: Set[str] = set()


def library_available(client: str) -> bool:
    """Whether the client library is importable, without importing it."""
    library = {"elasticsearch": "elasticsearch", "weaviate": "weaviate"}[client]
    try:
        return importlib.util.find_spec(library) is not None
    except (ImportError, ValueError):
        return False


def _patches(client: str) -> Tuple[Patch, ...]:
    module = importlib.import_module(CLIENT_MODULES[client])
    patches: Tuple[Patch, ...] = module.PATCHES
    return patches


def default_backends() -> Tuple[str, ...]:
    """``otel``, plus ``apm`` when the Elastic APM agent is installed.

    The APM backend records only inside a transaction of an ``elasticapm.Client``, so it is in
    effect on exactly when such a client exists, including one created *after* ``instrument()``
    (under ``opentelemetry-instrument``, the FastAPI/Starlette middleware creates its client
    later). Without a transaction it costs one context-variable lookup per call.
    """
    names: List[str] = ["otel"]
    if "apm" in BACKEND_FACTORIES and importlib.util.find_spec("elasticapm") is not None:
        names.append("apm")
    return tuple(names)


def build_backends(settings: Settings) -> List[Backend]:
    names = settings.backends if settings.backends is not None else default_backends()
    backends: List[Backend] = []
    for name in names:
        module_name, _, factory_name = BACKEND_FACTORIES[name].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"the {name!r} backend is not available: {exc}") from exc
        factory: Any = getattr(module, factory_name)
        backends.append(factory(settings))
    return backends


def activate(client: str, settings: Settings) -> None:
    """Instrument one client with ``settings`` (which then apply to every active client)."""
    with _lock:
        dispatcher = Dispatcher(build_backends(settings))
        _state.settings = settings
        _state.dispatcher = dispatcher
        if client not in _active:
            _patcher.apply(_patches(client))
            _active.add(client)


def deactivate(client: str) -> None:
    with _lock:
        if client in _active:
            _patcher.remove(_patches(client))
            _active.discard(client)
        if not _active:
            _state.dispatcher = None
            _state.settings = None


def active_clients() -> Tuple[str, ...]:
    return tuple(sorted(_active))
