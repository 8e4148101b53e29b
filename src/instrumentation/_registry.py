"""Which clients and backends exist.

A client is one module: every public module of ``instrumentation.clients`` is one, found by name
(``pkgutil``), and declares its own row, ``CLIENT = Client(...)``, its ``patches(engine)`` and its
``BaseInstrumentor`` class. The module's name is the client's name (``instrument(clients=[...])``);
its ``opentelemetry_instrumentor`` entry point is ``<name>_async``. ``register(module)`` adds a
client module from elsewhere (how the test suite instruments a client of its own). Adding a client
to the package is its module, its ``pyproject.toml`` lines (entry point, extra) and its docs page;
``tests/test_registry.py`` checks those lines against the rows.

Backends are few and their modules import their optional library, so their rows are here.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Dict, List, NamedTuple, Optional, Tuple

_PACKAGE = "instrumentation.clients"


class Client(NamedTuple):
    """A client library we trace, as its module declares it."""

    #: Our name for it: ``instrument(clients=[...])``; also its module's name.
    name: str
    #: What it imports as (checked with ``find_spec``: never imported by us).
    library: str
    #: The versions we support, as the instrumentor declares them to ``opentelemetry-instrument``.
    requirement: str
    #: The extra that installs it: ``pip install "async-search-instrumentation[<extra>]"``.
    extra: str
    #: ``db.system.name``.
    system: str
    #: The ``BaseInstrumentor`` class's name, in the client's module.
    instrumentor: str

    @property
    def entry_point(self) -> str:
        """The ``opentelemetry_instrumentor`` entry point (``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``)."""
        return entry_point(self.name)


def entry_point(name: str) -> str:
    """The ``opentelemetry_instrumentor`` entry point of the client named ``name``."""
    return f"{name}_async"


class Backend(NamedTuple):
    """A place calls are recorded."""

    name: str
    #: ``module:factory``; the factory takes ``Settings`` and returns a backend.
    factory: str
    #: The library it needs, when it is optional (``None``: always available).
    library: Optional[str]
    extra: Optional[str]


BACKENDS: Dict[str, Backend] = {
    backend.name: backend
    for backend in (
        Backend("otel", "instrumentation.backends.otel:OpenTelemetryBackend", None, None),
        Backend("apm", "instrumentation.backends.apm:ElasticApmBackend", "elasticapm", "apm"),
    )
}

_registered: List[str] = []
_modules: Optional[Dict[str, ModuleType]] = None


def builtin_names() -> Tuple[str, ...]:
    """The package's own clients, by module name, without importing them."""
    package = importlib.import_module(_PACKAGE)
    return tuple(
        sorted(info.name for info in pkgutil.iter_modules(package.__path__) if info.name[0] != "_")
    )


def modules() -> Dict[str, ModuleType]:
    """Client name -> its module (the package's own, then the registered ones)."""
    global _modules
    if _modules is None:
        found: Dict[str, ModuleType] = {}
        for path in (*(f"{_PACKAGE}.{name}" for name in builtin_names()), *_registered):
            module = importlib.import_module(path)
            client: Client = module.CLIENT
            found[client.name] = module
        _modules = found
    return _modules


def clients() -> Dict[str, Client]:
    return {name: module.CLIENT for name, module in modules().items()}


def forget(module: str) -> None:
    """Undo ``register(module)``."""
    global _modules
    if module in _registered:
        _registered.remove(module)
        _modules = None


def register(module: str) -> Client:
    """Make the client module ``module`` (a dotted name) known, as the package's own are."""
    global _modules
    if module not in _registered:
        _registered.append(module)
        _modules = None
    client: Client = importlib.import_module(module).CLIENT
    return client
