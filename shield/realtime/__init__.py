"""The optional socket addon: a plain WebSocket (Flask-Sock) at `/shield/ws`
(SHIELD_WS_ENABLED=1) and a Socket.IO endpoint, namespace `/shield/ws` on `/socket.io/`
(SHIELD_SOCKETIO_ENABLED=1). Both are transports of one hub per process.

Modules: `endpoint` (route, origin check), `session` (one socket's life, any transport),
`connection` (delivery state, rooms, heartbeat) on `outbound` (queue, single writer, close),
`ws_session` / `ws_connection` (the plain WebSocket's side of both), `socketio_server` /
`socketio_session` / `socketio_connection` / `socketio_engine` (Socket.IO's), `registry`
(rooms), `hub` (outbox tail in seq order, dispatch), `clock` (timers, heartbeat sweep),
`spawning` (writers, greenlets), `linger` (the lingering close), `fanout` (Redis pub/sub,
PostgreSQL LISTEN), `deployment` (the id in Redis names), `replay`, `acks`, `protocol`
(frames, error codes), `limits` (rate limit), `presence` (what the push dispatcher asks),
`settings`.
"""

from __future__ import annotations

import logging
import threading
import weakref

from flask import Flask

from shield.events import CommittedEvent, on_commit

from .deployment import deployment_id, namespace
from .hub import Hub
from .linger import reader_thread
from .presence import has_live_socket, push_hold_seconds
from .protocol import outgoing
from .settings import Settings, load

__all__ = ["init_app", "has_live_socket", "push_hold_seconds"]

log = logging.getLogger(__name__)

EXTENSION = "shield.realtime"
_states: weakref.WeakSet = weakref.WeakSet()
_lock = threading.Lock()


class State:
    """Per app: settings now; hub and Redis publisher made on first use (after any fork)."""

    def __init__(self, app: Flask, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.hub: Hub | None = None
        self.socketio = None  # socketio_server.Endpoint, when enabled
        self._publisher = None

    def publisher(self):
        """The Redis publisher (None without REDIS_URL, or while the deployment id cannot be
        read: the outbox poll and LISTEN still deliver, and the next call tries again)."""
        if not self.settings.redis_url:
            return None
        if self._publisher is None:
            with _lock:
                if self._publisher is None:
                    from .fanout import Publisher

                    try:
                        deployment = deployment_id(self.app, self.settings)
                    except Exception as exc:  # no `deployment` table yet: migrations pending
                        log.warning("socket fan-out off for now: no deployment id (%s)", exc)
                        return None
                    self._publisher = Publisher(
                        self.settings.redis_url,
                        namespace(self.app, self.settings),
                        deployment,
                    )
        return self._publisher

    def get_hub(self) -> Hub:
        if self.hub is None:
            publisher = self.publisher()
            with _lock:
                if self.hub is None:
                    self.hub = Hub(self.app, self.settings, publisher)
        return self.hub

    def committed(self, events: list[CommittedEvent]) -> None:
        hub = self.hub
        if hub is not None and hub.started:
            hub.offer(
                [outgoing(e.seq, e.id, e.name, e.member_id, e.audience, e.payload) for e in events]
            )
        publisher = self.publisher()
        if publisher is not None:
            publisher.publish(events)


def _on_commit(events: list[CommittedEvent]) -> None:
    for state in list(_states):
        state.committed(events)


def init_app(app: Flask) -> None:
    """Mount the enabled transports and start publishing this process's commits to them."""
    settings = load(app.config)
    state = State(app, settings)
    app.extensions[EXTENSION] = state
    if app.config.get("SHIELD_WS_ENABLED"):
        _mount_plain(app, settings)
    if app.config.get("SHIELD_SOCKETIO_ENABLED"):
        from .socketio_server import mount

        state.socketio = mount(app, state)
    _states.add(state)
    on_commit(_on_commit)


def _mount_plain(app: Flask, settings: Settings) -> None:
    from .endpoint import bp

    options = dict(app.config.get("SOCK_SERVER_OPTIONS") or {})
    options.setdefault("max_message_size", settings.max_message_size)
    # Pings are sent by the hub under each socket's send lock, not by simple-websocket's
    # reader thread (which would write without it, and holds a selector per socket).
    options["ping_interval"] = None
    # The reader closes the socket lingering, so a client still sending reads the close
    # frame (a 1009 above all) instead of a TCP reset.
    options["thread_class"] = reader_thread
    app.config["SOCK_SERVER_OPTIONS"] = options
    app.register_blueprint(bp)
