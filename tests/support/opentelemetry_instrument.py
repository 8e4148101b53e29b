"""Running an app of ``tests/apps`` under the real ``opentelemetry-instrument``, as users do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

APPS = Path(__file__).resolve().parents[1] / "apps"
OTEL_INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"


def run_instrumented(app: str, env: Dict[str, str]) -> List[Dict[str, Any]]:
    """Run ``app`` under opentelemetry-instrument with the console exporter; return its spans."""
    return run_instrumented_with_stderr(app, env)[0]


def run_instrumented_with_stderr(app: str, env: Dict[str, str]) -> Tuple[List[Dict[str, Any]], str]:
    """``run_instrumented``, and what the process wrote to stderr (warnings, loader errors)."""
    full_env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "test-app",
        **env,
    }
    done = subprocess.run(
        [str(OTEL_INSTRUMENT), sys.executable, str(APPS / app)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    spans: List[Dict[str, Any]] = []
    decoder = json.JSONDecoder()
    text = done.stdout
    position = text.find("{")
    while position != -1:
        span, end = decoder.raw_decode(text, position)
        spans.append(span)
        position = text.find("{", end)
    return spans, done.stderr
