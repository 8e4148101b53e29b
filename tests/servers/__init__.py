"""Loopback imitations of Elasticsearch, Weaviate (REST and gRPC) and the APM Server intake.

They speak the real protocols on 127.0.0.1, so the test suite, the demo, the example app and the
benchmarks drive the real clients without Docker. They imitate only what those callers reach, and
they are not part of the wheel. The suite's fixtures for them are in ``tests.servers.fixtures``.
"""
