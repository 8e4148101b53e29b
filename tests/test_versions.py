"""The versions we claim are the versions we test: every lower bound of ``pyproject.toml`` is pinned
in ``tests/oldest-constraints.txt`` (what ``make test-oldest`` installs), and the classifiers name
exactly the Pythons the Makefile runs the tests on."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Dict, List

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from instrumentation import _registry

CLIENTS = {name: _registry.modules()[name].CLIENT for name in _registry.builtin_names()}

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
#: The extras the oldest environment installs (``[dev]`` holds ``[all,testing]``).
TESTED_EXTRAS = ("all", "elasticsearch", "opensearch", "weaviate", "apm", "testing", "dev")
#: Lint tools of the dev extra: the fast tier does not run them, so their floors are not pinned.
NOT_RUN_BY_THE_FAST_TIER = {"ruff", "mypy"}


def _floors() -> Dict[str, Version]:
    """Each third-party requirement of the package and its tested extras, with its lower bound."""
    requirements: List[str] = list(PROJECT["dependencies"])
    for extra in TESTED_EXTRAS:
        requirements += PROJECT["optional-dependencies"][extra]
    floors: Dict[str, Version] = {}
    for text in requirements:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name == PROJECT["name"] or name in NOT_RUN_BY_THE_FAST_TIER:
            continue
        (floor,) = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
        assert floors.setdefault(name, floor) == floor, f"two floors for {name}"
    return floors


def _pins() -> Dict[str, Version]:
    pins: Dict[str, Version] = {}
    for line in (ROOT / "tests" / "oldest-constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_every_lower_bound_is_pinned_in_the_oldest_environment() -> None:
    floors, pins = _floors(), _pins()
    assert floors, "no requirement read"
    assert {name: pins.get(name) for name in floors} == floors


def test_the_oldest_pins_are_lower_bounds_we_declare() -> None:
    floors = _floors()
    # Pins beyond our floors would be versions we test but do not claim.
    assert set(_pins()) <= set(floors)


def test_the_classifiers_name_exactly_the_pythons_the_tests_run_on() -> None:
    classified = sorted(
        Version(c.rsplit(" :: ", 1)[1])
        for c in PROJECT["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    makefile = (ROOT / "Makefile").read_text()
    oldest = re.search(r"^PYTHON_OLDEST \?=.*versions/(3\.\d+)\.\*", makefile, re.M)
    newest = re.search(r"^PYTHON_NEWEST \?=.*versions/(3\.\d+)\.\*", makefile, re.M)
    assert oldest and newest
    # make test runs on the default python3 of the machine CI runs on: 3.11.
    tested = sorted({Version(oldest.group(1)), Version("3.11"), Version(newest.group(1))})
    assert classified == tested
    assert PROJECT["requires-python"] == f">={classified[0]}"


def test_opentelemetry_instrument_finds_the_instruments_extra_it_reads() -> None:
    # The loader of opentelemetry-instrumentation asks each distribution for this extra (0.48b0
    # aborted on one without it): empty, since each instrumentor declares its own library.
    assert PROJECT["optional-dependencies"]["instruments"] == []


@pytest.mark.parametrize("client", list(CLIENTS))
def test_each_instrumentor_declares_the_floor_of_its_extra(client: str) -> None:
    declared = Requirement(CLIENTS[client].requirement)
    (floor,) = [Version(s.version) for s in declared.specifier if s.operator == ">="]
    assert _floors()[canonicalize_name(declared.name)] == floor


DATABASE_NAMES = (
    "DB_COLLECTION_NAME",
    "DB_NAMESPACE",
    "DB_OPERATION_BATCH_SIZE",
    "DB_OPERATION_NAME",
    "DB_QUERY_SUMMARY",
    "DB_QUERY_TEXT",
    "DB_RESPONSE_STATUS_CODE",
    "DB_SYSTEM_NAME",
)


def test_below_semconv_0_54_the_database_names_are_spelled_as_the_conventions_spell_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stable = pytest.importorskip("opentelemetry.semconv.attributes.db_attributes")
    from instrumentation import _attributes

    # As on semantic-conventions < 0.54b0 (the oldest environment runs that way for real).
    monkeypatch.setitem(sys.modules, "opentelemetry.semconv.attributes.db_attributes", None)
    monkeypatch.delattr(sys.modules["opentelemetry.semconv.attributes"], "db_attributes")
    spec = importlib.util.find_spec("instrumentation._attributes")
    assert spec is not None and spec.loader is not None
    fallback = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fallback)
    assert fallback._db is None
    for name in DATABASE_NAMES:
        assert getattr(fallback, name) == getattr(stable, name) == getattr(_attributes, name)
