"""Route tables: a REST request's operation name and path parts, from its method and path.

Clients whose library passes no endpoint id (OpenSearch, Weaviate REST) declare their routes as
rows ``(methods, pattern, name)``; ``Routes.match`` finds the first row that matches, trying only
the rows of the request's method whose first path segment could match, and remembers the answer
per (method, path) for the paths a service repeats.
"""

from __future__ import annotations

import re
from typing import Dict, Iterable, List, Optional, Pattern, Tuple

Match = Tuple[str, Dict[str, str]]
_LITERAL_FIRST = re.compile(r"\^?/([\w.-]+)(?:/|\$|$)")
_CACHE_LIMIT = 4096


def first_segment(path: str) -> str:
    return path.strip("/").split("/", 1)[0]


class Routes:
    """``rows``: ``(methods, pattern, name)``, methods ``|``-separated, the pattern matched against
    the whole path (anchored here); named groups become the match's parts."""

    def __init__(self, rows: Iterable[Tuple[str, str, str]]) -> None:
        #: method -> [(first literal segment or None, compiled pattern, name)], in row order.
        self._by_method: Dict[str, List[Tuple[Optional[str], Pattern[str], str]]] = {}
        for methods, pattern, name in rows:
            literal = _LITERAL_FIRST.match(pattern.replace("\\", ""))
            first = literal.group(1) if literal else None
            compiled = re.compile(f"^(?:{pattern.lstrip('^').rstrip('$')})$")
            for method in methods.split("|"):
                self._by_method.setdefault(method, []).append((first, compiled, name))
        self._seen: Dict[Tuple[str, str], Optional[Match]] = {}

    def match(self, method: str, path: str) -> Optional[Match]:
        """(name, named groups that matched) of the first row for ``method`` and ``path``."""
        key = (method, path)
        try:
            return self._seen[key]
        except KeyError:
            pass
        found: Optional[Match] = None
        first = first_segment(path)
        for literal, pattern, name in self._by_method.get(method, ()):
            if literal is not None and literal != first:
                continue
            matched = pattern.match(path)
            if matched is not None:
                parts = {k: v for k, v in matched.groupdict().items() if v is not None}
                found = (name, parts)
                break
        if len(self._seen) < _CACHE_LIMIT:
            self._seen[key] = found
        return found
