"""Each client module declares its own row; what the package publishes (``pyproject.toml`` extras
and entry points, the installed distribution's metadata) and what the instrumentors declare must
agree with those rows."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

import instrumentation
from instrumentation import _registry, instrumentors
from instrumentation._engine import Engine
from instrumentation._registry import BACKENDS

CLIENTS = {name: _registry.modules()[name].CLIENT for name in _registry.builtin_names()}

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

PYPROJECT = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())


def _requirement_names(requirements: list) -> set:
    return {re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_every_client_has_its_entry_point_instrumentor_and_extra() -> None:
    entry_points = PYPROJECT["project"]["entry-points"]["opentelemetry_instrumentor"]
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(entry_points) == {client.entry_point for client in CLIENTS.values()}
    for name, client in CLIENTS.items():
        module = f"instrumentation.clients.{name}"
        assert client.name == name  # a client's module is named for it
        assert entry_points[client.entry_point] == f"{module}:{client.instrumentor}"
        instrumentor = getattr(importlib.import_module(module), client.instrumentor)
        assert instrumentor.client == client.name
        assert tuple(instrumentor().instrumentation_dependencies()) == (client.requirement,)
        assert getattr(instrumentation, client.instrumentor) is instrumentor
        assert getattr(instrumentors, client.instrumentor) is instrumentor
        library = client.requirement.split()[0]
        assert library.split("[")[0] in _requirement_names(extras[client.extra])
        assert importlib.import_module(module).patches(Engine([]))


def test_the_installed_distribution_publishes_the_same_entry_points() -> None:
    every = importlib.metadata.entry_points()
    if hasattr(every, "select"):
        group = every.select(group="opentelemetry_instrumentor")
    else:  # Python 3.9: a dict of groups
        group = every.get("opentelemetry_instrumentor", ())
    published = {
        entry_point.name: entry_point.value
        for entry_point in group
        if entry_point.value.startswith("instrumentation.")
    }
    assert published == {
        client.entry_point: f"instrumentation.clients.{name}:{client.instrumentor}"
        for name, client in CLIENTS.items()
    }


def test_every_optional_backend_has_its_extra_and_factory() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    for backend in BACKENDS.values():
        module_name, _, factory = backend.factory.partition(":")
        assert hasattr(importlib.import_module(module_name), factory)
        if backend.extra is not None:
            assert backend.extra in extras


def test_the_version_lives_in_one_place() -> None:
    assert "version" not in PYPROJECT["project"]
    assert "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["hatch"]["version"]["path"] == "src/instrumentation/_version.py"
    assert importlib.metadata.version("async-search-instrumentation") == instrumentation.__version__
