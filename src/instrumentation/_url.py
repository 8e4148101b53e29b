"""``url.full`` for every client: credentials and query string removed, host brackets and port kept.

One function for all clients, so Elasticsearch, Weaviate (and any later client) redact alike. It
works on the text of the network location rather than re-assembling it from ``urlsplit``'s parts,
which drop the brackets of an IPv6 host (``[::1]:8080`` would come back as ``::1:8080``).
"""

from __future__ import annotations


def redact_url(url: str) -> str:
    """``scheme://host:port/path`` of ``url``: no ``user:password@``, no ``?query``, no ``#fragment``.

    The common URL (neither ``@``, ``?`` nor ``#`` in it) is returned as it is, at the cost of
    three substring checks.
    """
    if "?" in url or "#" in url:
        url = url.split("#", 1)[0].split("?", 1)[0]
    if "@" not in url:
        return url
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    netloc, slash, path = rest.partition("/")
    if "@" not in netloc:
        return url
    return f"{scheme}://{netloc.rpartition('@')[2]}{slash}{path}"
