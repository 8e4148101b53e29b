"""Where the loopback stand-in servers are imported from.

They live in ``tests/servers/`` now and lived in ``instrumentation.testing`` before (up to
``b9ededf``). The benchmark imports whichever is there, ``tests.servers`` first, so the same
benchmark code runs against the package source of either era (``python -m benchmarks.callgrind
--src OLD/src``). Each module is imported only when asked for: a client process imports the
stand-in pieces it uses (the APM client helpers, Weaviate's ``connect_async_client``), nothing more.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Dict, Tuple

#: Our name -> (module under ``tests/servers/``, module of the older ``instrumentation.testing``).
_MODULES: Dict[str, Tuple[str, str]] = {
    "threaded": ("tests.servers.threaded", "instrumentation.testing._threaded"),
    "apm": ("tests.servers.apm_intake", "instrumentation.testing.apm_server"),
    "elasticsearch": (
        "tests.servers.elasticsearch",
        "instrumentation.testing.elasticsearch_server",
    ),
    "weaviate": ("tests.servers.weaviate_rest", "instrumentation.testing.weaviate_server"),
}


def module(name: str) -> ModuleType:
    """The stand-in module ``name`` (a key of ``_MODULES``), from ``tests.servers`` if it imports."""
    current, older = _MODULES[name]
    try:
        return importlib.import_module(current)
    except ImportError as first:
        try:
            return importlib.import_module(older)
        except ImportError:
            raise first from None
