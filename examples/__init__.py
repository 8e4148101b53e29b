"""Runnable examples: ``python -m examples.demo`` (``make demo``) and ``fastapi-apm/app.py``."""
