# Every target creates what it needs from nothing: .venv (newest clients) and, for the tests,
# .venv-es8 (the newest elasticsearch 8.x, the other attribute generation users run) and .venv-os2
# (the newest opensearch-py 2.x).
PYTHON ?= python3
VENV := .venv
VENV_ES8 := .venv-es8
VENV_OS2 := .venv-os2
export PIP_DISABLE_PIP_VERSION_CHECK := 1

ES_TESTS := tests/clients/test_elasticsearch.py tests/clients/test_elasticsearch_helpers.py \
	tests/backends/test_otel.py tests/test_instrumentors.py tests/servers/test_elasticsearch.py \
	tests/clients/test_partial_failures.py

.PHONY: demo test test-es8 test-es8-real test-os2 test-matrix test-oldest test-newest lint docs bench \
	clean real-servers stop-real-servers

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

$(VENV_ES8)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV_ES8)
	$(VENV_ES8)/bin/pip install -q --upgrade pip
	$(VENV_ES8)/bin/pip install -q -e '.[dev]' 'elasticsearch[async]>=8.13,<9'
	touch $@

$(VENV_OS2)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV_OS2)
	$(VENV_OS2)/bin/pip install -q --upgrade pip
	$(VENV_OS2)/bin/pip install -q -e '.[dev]' 'opensearch-py[async]>=2.4,<3'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/python -m examples.demo

# The fast tier (loopback imitations), then the real tier (tests/real): python -m tests.real.support
# starts the real servers (python -m tests.real.servers start), runs pytest tests/real, then the
# Elasticsearch files of the tier under elasticsearch-py 8.x (.venv-es8) against the 8.x node, and
# stops them, also on failure. Without Java or Go it prints one line saying the real tier was
# skipped, unless REAL_SERVERS_REQUIRED=1 (.ci/run), where that fails. See docs/real-servers.md.
test: $(VENV)/.installed test-es8 test-os2
	$(VENV)/bin/pytest -q --ignore=tests/real
	$(VENV)/bin/python -m tests.real.support make-test --es8-python $(VENV_ES8)/bin/python -q

test-es8: $(VENV_ES8)/.installed
	$(VENV_ES8)/bin/pytest -q $(ES_TESTS)

# Only the 8.x real tier (make test runs it too): elasticsearch-py 8.x against the 8.x node of
# .real-servers/run/servers.json (make real-servers), else one the session starts and stops itself.
test-es8-real: $(VENV_ES8)/.installed
	$(VENV_ES8)/bin/pytest -q $$($(VENV_ES8)/bin/python -c \
		'from tests.real.support import ES8_TESTS; print(*ES8_TESTS)')

# opensearch-py 2.x (the newest 2.x) beside the 3.x of .venv: the OpenSearch client module's tests.
test-os2: $(VENV_OS2)/.installed
	$(VENV_OS2)/bin/pytest -q tests/clients/test_opensearch.py \
		tests/test_propagation.py::test_opensearch_requests_carry_the_call_span

# The Pythons we claim beside the default python3 (make test): the oldest with the oldest pins
# (tests/oldest-constraints.txt: every lower bound of pyproject.toml) and the newest with the
# newest of everything. Each environment holds the package as users get it: the built wheel, not
# the source tree. From pyenv when it has them, else from PATH; PYTHON_OLDEST=... to choose.
PYENV_ROOT ?= $(or $(shell pyenv root 2>/dev/null),$(HOME)/.pyenv)
PYTHON_OLDEST ?= $(or $(lastword $(wildcard $(PYENV_ROOT)/versions/3.9.*/bin/python3.9)),python3.9)
PYTHON_NEWEST ?= $(or $(lastword $(wildcard $(PYENV_ROOT)/versions/3.13.*/bin/python3.13)),python3.13)
VENV_OLDEST := .venv-oldest
VENV_NEWEST := .venv-newest

# A clean environment every run: a fresh venv, the wheel built from this tree with its dev extra
# (the test tools), and the fast tier run against it (pytest's pythonpath is the repository root,
# never src/). Then the check that the tests saw the wheel, and the versions they ran with.
define run-fast-tier-from-wheel
	rm -rf $(1)
	$(2) -m venv $(1)
	$(1)/bin/pip install -q --upgrade pip
	$(1)/bin/pip wheel -q --no-deps -w $(1)/wheel .
	$(1)/bin/pip install -q $(3) "$$(ls $(1)/wheel/*.whl)[dev]"
	$(1)/bin/pip check
	$(1)/bin/python -c 'import instrumentation, sys; \
		assert "site-packages" in instrumentation.__file__, instrumentation.__file__; \
		print("fast tier on Python", sys.version.split()[0], "with", instrumentation.__file__)'
	$(1)/bin/pip list 2>/dev/null | grep -i -E \
		'^(opentelemetry-[a-z-]+|wrapt|elasticsearch|opensearch-py|weaviate-client|elastic-apm|grpcio|protobuf|pytest) '
	$(1)/bin/pytest -q -p no:cacheprovider --ignore=tests/real
endef

test-matrix: test-oldest test-newest

test-oldest:
	$(call run-fast-tier-from-wheel,$(VENV_OLDEST),$(PYTHON_OLDEST),-c tests/oldest-constraints.txt)

test-newest:
	$(call run-fast-tier-from-wheel,$(VENV_NEWEST),$(PYTHON_NEWEST),)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests examples benchmarks
	$(VENV)/bin/ruff format --check src tests examples benchmarks
	$(VENV)/bin/mypy

# The site, strict; then the docs tests that need the docs extra (offline assets, the API page, edit
# links), which make test skips when that extra is not installed yet.
docs: $(VENV)/.installed
	$(VENV)/bin/pip install -q -e '.[docs]'
	$(VENV)/bin/mkdocs build --strict --site-dir site
	$(VENV)/bin/pytest -q tests/test_docs.py

# About 12 minutes: stand-in servers in their own process, one client process per configuration
# plus a callgrind phase (benchmarks/precise.py);
# writes benchmarks/results/ and the tables of docs/performance.md (see benchmarks/run.py).
bench: $(VENV)/.installed
	$(VENV)/bin/pip install -q -e '.[bench]'
	$(VENV)/bin/python -m benchmarks.run

# Real servers for tests/real (see tests/real/servers.py): builds what is missing under
# .real-servers/cache (Maven, Go), starts them and prints one JSON line of their URLs and versions.
real-servers: $(VENV)/.installed
	$(VENV)/bin/python -m tests.real.servers start

stop-real-servers:
	$(VENV)/bin/python -m tests.real.servers stop

clean:
	rm -rf $(VENV) $(VENV_ES8) $(VENV_OS2) $(VENV_OLDEST) $(VENV_NEWEST) .pytest_cache \
		.mypy_cache .ruff_cache site

# Local servers to try the instrumentation on (docs/getting-started.md): the real ones when they can
# be had (tests/real/servers.py), else the loopback stand-ins of tests/servers, in the foreground
# until Ctrl-C. Prints `export NAME=URL` lines. `make servers ARGS=--standins` skips the real ones.
.PHONY: servers
servers: $(VENV)/.installed
	$(VENV)/bin/python scripts/servers.py $(ARGS)
