"""What is active right now; read on every traced call, written only by ``instrument``/``uninstrument``."""

from __future__ import annotations

from typing import Optional

from instrumentation._config import Settings
from instrumentation._dispatch import Dispatcher

#: ``None`` while nothing is instrumented: wrappers left behind by a racing call just pass through.
dispatcher: Optional[Dispatcher] = None
settings: Optional[Settings] = None
