"""What the tests share, so that each test file reads as a statement about the product.

* ``telemetry``: reading what was recorded (finished spans, their status, the duration metric).
* ``outcomes``: what the application saw, as comparable data (``outcome_of``,
  ``assert_same_outcome``).
* ``differential``: one scenario run plain, traced, plain again (``plain_traced_plain``), for the
  fault matrices and the real tier.
* ``audit``: ``SpanAudit``, every span ended exactly once and none left open.
* ``apm``: ``ApmRecorder``, the Elastic APM side of a traced run.
* ``in_flight``: a call provably in flight, cancelled or timed out there.
* ``in_process``: the real clients with the network replaced in process (load, memory).
* ``opentelemetry_instrument``: an app run under the real ``opentelemetry-instrument``.
* ``weaviate``: the Weaviate client's retry sleeps, skipped.

The servers the tests talk to are in ``tests.servers``; the fixtures in the ``conftest.py`` files.
``tests/support/test_*.py`` show the tools themselves can fail.
"""
