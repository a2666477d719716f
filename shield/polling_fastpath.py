"""The polls' 304 answered before Flask: a WSGI layer in front of the app.

Most requests this service gets are polls of the claims list, the wallet and the
subscription whose ETag still matches (`shield.polling.conditional_get`). When everything a
304 needs is already in this process's memory - the token verified before and not expired
(`TokenCache.peek`), the member's versions in the LISTEN/NOTIFY cache within its staleness
bound (`NotifyVersionCache.peek`) - the answer is the same 304 `conditional_get` would give,
built without a request context, URL routing, hooks or a Response object. Anything else
(another path, a query string, no If-None-Match, a token or member not cached, a stale
cache, an ETag that no longer matches, a clock-derived field due) goes to Flask unchanged,
so the rules stay in one place and this layer can only answer where they would say 304.

Installed by `create_app` (see `install` for when it is left out); without the version
cache (SQLite) every poll simply falls through.
"""

from __future__ import annotations

import os
from time import perf_counter

from flask import Flask

from . import polling  # its clock too: one `now` for both paths
from .auth import bearer_or_none, cached_principal
from .ops import logs, metrics_enabled
from .ops.meter import count
from .polling import names_etag, validator_headers
from .versions import built_store

# path -> (resource, item), as the routes pass them to conditional_get
POLLED = {
    "/shield/v1/claims": ("claims", "claims"),
    "/shield/v1/wallet": ("wallet", "wallet"),
    "/shield/v1/subscription": ("subscription", "subscription"),
}
# path -> the metrics' (route, method, status) of its fast answer
COUNTED = {path: (path, "GET", "304") for path in POLLED}
STATUS = "304 NOT MODIFIED"


class PollFastPath:
    def __init__(self, app: Flask, wsgi_app) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.answered = 0
        # Counted like Flask's answers (route, method, status, seconds), cheaply: see meter.py.
        self.count = count if metrics_enabled(app.config) else None

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        target = POLLED.get(path)
        if (
            target is not None
            and environ.get("REQUEST_METHOD") == "GET"
            and not environ.get("QUERY_STRING")
        ):
            started = perf_counter()
            etag = self._etag_if_unchanged(environ, *target)
            if etag is not None:
                self.answered += 1
                headers = validator_headers(etag)
                headers.append(
                    (logs.REQUEST_ID_HEADER, logs.request_id(environ.get("HTTP_X_REQUEST_ID")))
                )
                start_response(STATUS, headers)
                if self.count is not None:
                    self.count(COUNTED[path], perf_counter() - started)
                return []
        return self.wsgi_app(environ, start_response)

    def _etag_if_unchanged(self, environ, resource: str, item: str) -> str | None:
        """The current ETag when the request's If-None-Match names it, else None."""
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        token = bearer_or_none(environ.get("HTTP_AUTHORIZATION"))
        if not if_none_match or token is None:
            return None
        principal = cached_principal(self.app, token)
        store = built_store(self.app)
        if principal is None or not hasattr(store, "peek"):  # SQLite: no cache to peek at
            return None
        state = store.peek(principal.id, resource)
        if state is None:
            return None
        etag = polling.current_etag(principal.id, item, state, polling.utcnow())
        return etag if etag is not None and names_etag(if_none_match, etag) else None


def install(app: Flask) -> None:
    """Put the fast path in front of `app.wsgi_app`.

    SHIELD_POLL_FASTPATH: 1 / 0; by default on, except in a process that serves the socket
    addon (SHIELD_WS_ENABLED, SHIELD_SOCKETIO_ENABLED): there every socket's handler runs
    below this layer for the socket's whole life, and under gevent the extra frame costs
    ~0.8 KB per idle socket (measured: 39.9 -> 40.7 KB). Sockets belong in processes of
    their own anyway.
    """
    setting = app.config.get("SHIELD_POLL_FASTPATH", os.environ.get("SHIELD_POLL_FASTPATH"))
    if setting is None or setting == "":
        enabled = not (
            app.config.get("SHIELD_WS_ENABLED") or app.config.get("SHIELD_SOCKETIO_ENABLED")
        )
    else:
        enabled = str(setting).lower() not in ("0", "off", "false", "no")
    if enabled:
        app.wsgi_app = PollFastPath(app, app.wsgi_app)
