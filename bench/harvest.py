"""Plain HTTP from the benchmark itself: collect the ETags members would hold, check statuses."""

from __future__ import annotations

import http.client
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

_local = threading.local()


def _conn(base: str) -> http.client.HTTPConnection:
    conn = getattr(_local, "conn", None)
    if conn is None or getattr(_local, "base", None) != base:
        parts = urlsplit(base)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        _local.conn, _local.base = conn, base
    return conn


def get(base: str, path: str, token: str | None = None, etag: str | None = None):
    """GET on a kept-alive connection of this thread; return (status, ETag or None)."""
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if etag:
        headers["If-None-Match"] = etag
    for attempt in range(2):
        conn = _conn(base)
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            return response.status, response.getheader("ETag")
        except (http.client.HTTPException, OSError):
            conn.close()
            _local.conn = None
            if attempt:
                raise
    raise AssertionError("unreachable")


def etags(base: str, path: str, tokens: dict[str, str], *, threads: int = 12) -> dict:
    """{member: (status, etag)} for one GET per member, as a first poll would do."""
    members = list(tokens)

    def one(member):
        return member, get(base, path, tokens[member])

    with ThreadPoolExecutor(threads) as pool:
        return dict(pool.map(one, members))
