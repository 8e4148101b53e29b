"""MkDocs hook: the site shows the version of the package it documents."""

from __future__ import annotations

from typing import Any

from instrumentation import __version__


def on_config(config: Any, **kwargs: Any) -> Any:
    config["site_name"] = f"{config['site_name']} {__version__}"
    config.setdefault("extra", {})["version"] = __version__
    return config
