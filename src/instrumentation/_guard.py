"""The one guard around our own code on the call path.

Everything the instrumentation does while a user's call is in flight (reading the request, starting
and ending spans, hooks) runs inside ``guard``. An exception there is ours, not the application's: it
is logged once per cause (exception type and the line that raised it) and swallowed, so the traced
call proceeds and its own result or exception passes through untouched.
"""

from __future__ import annotations

import logging
import traceback
from types import TracebackType
from typing import Optional, Set, Tuple, Type

logger = logging.getLogger("instrumentation")

_seen: Set[Tuple[str, str, int]] = set()
_SEEN_LIMIT = 1000


def _cause(exc: BaseException) -> Tuple[str, str, int]:
    frames = traceback.extract_tb(exc.__traceback__)
    last = frames[-1] if frames else None
    return (
        type(exc).__qualname__,
        last.filename if last else "",
        (last.lineno or 0) if last else 0,
    )


def report(exc: BaseException, what: str = "instrumentation") -> None:
    """Log an internal failure, once per cause, without ever raising."""
    try:
        cause = _cause(exc)
        if cause in _seen:
            return
        if len(_seen) < _SEEN_LIMIT:
            _seen.add(cause)
        logger.warning(
            "%s failed; the traced call is unaffected (logged once per cause)",
            what,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
    except Exception:  # pragma: no cover - logging itself failed; nothing left to do
        pass


class _Guard:
    """``with guard:`` swallows and reports ``Exception`` from our code; never ``BaseException``."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        report(exc)
        return True


guard = _Guard()
