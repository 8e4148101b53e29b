"""WeaviateAsyncClient (work in progress: no patch points yet)."""

from __future__ import annotations

from typing import Tuple

from instrumentation._patching import Patch

PATCHES: Tuple[Patch, ...] = ()
