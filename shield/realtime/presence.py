"""Who has a live socket right now: what the push dispatcher asks before a critical push.

Contract for the dispatcher (issue 4, point 5): before sending a *critical* push for an
event of member M, call `has_live_socket(M)`. If it is true, hold that push for
`push_hold_seconds()` (default 10 s, SHIELD_WS_PUSH_HOLD) and then send it only if the event
still has no EventAck; a socket ack is recorded with `ack_event(..., via="socket")`, so the
usual "acked -> cancel" check does the rest. If it is false, push at once.

With REDIS_URL set, presence is shared by every process and host: each socket process keeps
`<prefix><deployment id>:presence:<member id>` (a sorted set: connection id -> expiry,
refreshed at every heartbeat), so a separate jobs process sees sockets held by web workers.
Without Redis only this process's sockets are known (the embedded setup runs the scheduler
in the web process).
Works with or without SHIELD_WS_ENABLED in the calling process; never raises.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from flask import Flask, current_app

from .deployment import namespace
from .fanout import redis_client
from .settings import Settings, load

log = logging.getLogger(__name__)


def _key(space: str, member_id: str) -> str:
    return f"{space}presence:{member_id}"


def _ttl(settings: Settings) -> float:
    return max(settings.ping_interval, settings.idle_timeout) * 2 + 5


def _settings(app: Flask) -> Settings:
    state = app.extensions.get("shield.realtime")
    return state.settings if state is not None else load(app.config)


def has_live_socket(member_id: str, app: Flask | None = None) -> bool:
    """True if the member holds an authenticated socket on any process (see module doc)."""
    app = app or current_app._get_current_object()
    settings = _settings(app)
    if settings.redis_url:
        try:
            count = redis_client(settings.redis_url).zcount(
                _key(namespace(app, settings), member_id), time.time(), "+inf"
            )
            return count > 0
        except Exception as exc:  # Redis (or the database) down: push at once, not hold
            log.warning("presence lookup failed: %s", exc)
            return False
    state = app.extensions.get("shield.realtime")
    hub = state.hub if state is not None else None
    return bool(hub and hub.registry.in_room(f"user:{member_id}"))


def push_hold_seconds(app: Flask | None = None) -> float:
    """How long a critical push waits for a socket ack when has_live_socket() is true."""
    return _settings(app or current_app._get_current_object()).push_hold


def mark(settings: Settings, space: str, connections) -> Callable:
    """A Redis call that marks (or refreshes) connections as present (`space`: the
    deployment's namespace, `Publisher.namespace`)."""
    connections = list(connections)
    ttl = _ttl(settings)

    def write(client) -> None:
        # Read at write time: a connection closed since the sweep is not marked again.
        entries = [
            (c.principal.id, c.id) for c in connections if c.principal is not None and not c.closed
        ]
        if not entries:
            return
        expiry = time.time() + ttl
        pipe = client.pipeline(transaction=False)
        for member_id, conn_id in entries:
            key = _key(space, member_id)
            pipe.zadd(key, {conn_id: expiry})
            pipe.zremrangebyscore(key, "-inf", time.time())
            pipe.expire(key, int(ttl) + 1)
        pipe.execute()

    return write


def unmark(space: str, member_id: str, conn_id: str) -> Callable:
    def write(client) -> None:
        client.zrem(_key(space, member_id), conn_id)

    return write
