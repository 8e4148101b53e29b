"""Loopback stand-ins for Elasticsearch, Weaviate and the Elastic APM Server intake.

They speak the real protocols on 127.0.0.1, so the real clients (and your own code) can be traced and
tested without Docker. Pytest fixtures for them live in ``instrumentation.testing.pytest_plugin``.
"""

from instrumentation.testing._threaded import InThread

__all__ = ["InThread"]
