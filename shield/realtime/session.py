"""One socket's life, whatever its transport: the token, joining, `connected`, replay, and
what each client frame does (rate limit, ping, auth, disconnect, acks).

A transport's adapter (`ws_session` for the plain WebSocket, `socketio_server` for
Socket.IO) reads the token and the frames its own way and hands them to a `Session`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from time import monotonic

from flask import Flask
from simple_websocket import ConnectionClosed

from models import db
from shield.auth import Principal, decode_token
from shield.config import SERVER_VERSION
from shield.errors import AuthError
from shield.ops import metrics

from . import protocol as p
from .acks import acknowledge
from .connection import Connection
from .hub import Hub
from .limits import CLOSE, OK, WARN, FrameLimiter
from .replay import gap_fillable, replay

log = logging.getLogger(__name__)


class AuthFailed(Exception):
    def __init__(self, code: str, message: str, original: str | None = None):
        super().__init__(message)
        self.code, self.message, self.original = code, message, original


class Session:
    """Lives as long as the socket: the token's expiry is on the connection, where the hub's
    clock checks it (nothing waits on a timer per socket)."""

    __slots__ = ("app", "hub", "settings", "conn", "principal", "done")

    def __init__(self, app: Flask, hub: Hub, conn: Connection) -> None:
        self.app = app
        self.hub = hub
        self.settings = hub.settings
        self.conn = conn
        self.principal: Principal | None = None
        self.done = False

    def fail(self) -> None:
        """Something broke (database down, a bug): tell the client, never a half-dead socket."""
        log.exception("socket %s failed", self.conn.id)
        self.conn.close(
            p.CLOSE_INTERNAL,
            p.INTERNAL_ERROR,
            final=p.error_frame(
                p.INTERNAL_ERROR, "Something went wrong on our side: reconnect shortly."
            ),
        )

    # -- authentication -----------------------------------------------------------------------
    def accept_token(self, token: str, origin: str) -> None:
        """The connecting token (before `open`)."""
        self._use(self._decode(token, origin))

    def _decode(self, token: str, origin: str) -> Principal:
        try:
            return decode_token(token, self.app.config)
        except AuthError as exc:
            raise AuthFailed(exc.code, exc.message, origin) from None

    def _use(self, principal: Principal) -> None:
        """The token the socket now lives by (its expiry; its role, once joined)."""
        self.principal = principal
        leeway = float(self.app.config.get("SHIELD_JWT_LEEWAY") or 0)
        self.conn.expires_at = principal.expires_at.timestamp() + leeway  # epoch seconds

    # -- going live ---------------------------------------------------------------------------
    def open(self, last_seq_raw, origin: str) -> None:
        """Join the rooms, send `connected`, then the replay (after an accepted token)."""
        conn = self.conn
        conn.principal = self.principal
        self.hub.start()
        floor = self.hub.attach(conn)
        conn.send(p.connected_frame(self.principal.id, conn.id, SERVER_VERSION))
        self._replay(self._last_seq(last_seq_raw, origin), floor)

    def _last_seq(self, raw, origin: str) -> int | None:
        try:
            return p.parse_last_seq(raw, origin)
        except p.FrameError as exc:  # reported after `connected`; the socket goes live
            self.conn.send(p.error_frame(exc.code, exc.message, exc.original, exc.details))
            return None

    def _replay(self, last_seq: int | None, floor: int) -> None:
        if last_seq is None:
            self.conn.start([], floor)
            return
        try:
            fillable, details = gap_fillable(db.session, self.principal, last_seq)
            events = (
                replay(db.session, self.principal, last_seq, self.settings.replay_max)
                if fillable
                else None
            )
        finally:
            db.session.remove()
        if events is None:
            self.conn.send(
                p.error_frame(
                    p.REPLAY_UNAVAILABLE,
                    "Missed events can no longer be replayed: refetch claims, wallet and "
                    "subscription over REST, then use the events that follow.",
                    None,
                    details,
                )
            )
            self.conn.start([], floor)
            return
        self.conn.start(events, last_seq)

    # -- client frames ------------------------------------------------------------------------
    def limiter(self) -> FrameLimiter:
        return FrameLimiter(self.settings.rate_limit, self.settings.rate_close_after, monotonic())

    def admit(self, limiter: FrameLimiter, original: Callable[[], str | None]) -> bool | None:
        """Rate limit first. True: handle the frame; None: dropped; False: socket closed.
        `original` names the frame's event for an error (called only when one is sent)."""
        conn = self.conn
        metrics.frame_received()
        now = monotonic()
        conn.seen(now)
        verdict = limiter.check(now)
        if verdict == CLOSE:
            conn.close(
                p.CLOSE_POLICY,
                p.RATE_LIMITED,
                final=p.error_frame(p.RATE_LIMITED, "Too many frames: closing.", original()),
            )
            return False
        if verdict == WARN:
            conn.send(
                p.error_frame(
                    p.RATE_LIMITED,
                    f"At most {self.settings.rate_limit} frames per second; frame dropped.",
                    original(),
                )
            )
        return True if verdict == OK else None

    def answer(
        self, read: Callable[[], p.ClientFrame], original: Callable[[], str | None]
    ) -> p.Control | None:
        """Carry out one client frame; return the reply (pong, error) or None."""
        try:
            return self.act(read())
        except p.FrameError as exc:
            return p.error_frame(exc.code, exc.message, exc.original, exc.details)
        except ConnectionClosed:
            raise
        except Exception:  # nothing a client sends may take the server down
            log.exception("socket %s: frame handling failed", self.conn.id)
            return p.error_frame(p.INTERNAL_ERROR, "Something went wrong on our side.", original())

    def act(self, frame: p.ClientFrame) -> p.Control | None:
        """What a valid frame does (raises FrameError); the reply to send, if any."""
        if frame.event == "ping":
            return p.pong_frame()
        if frame.event == "pong":
            return None  # a sign of life, already noted by `admit`
        if frame.event == "auth":
            self._reauth(frame)
        elif frame.event == "disconnect":
            self._disconnect(frame)
        else:
            self.ack(frame)
        return None

    def _reauth(self, frame: p.ClientFrame) -> None:
        """A fresh token for the same user: the connection lives by it from now on, its
        expiry and its role (rooms are recomputed: a member token leaves the admin room).
        A bad or expired token is refused and the current one stays; a token for another
        user closes the socket (one socket, one user)."""
        token = p.auth_token(frame.data.get("token"))
        if token is None:
            raise p.FrameError(p.AUTH_INVALID, "The auth frame needs a token.", "auth")
        try:
            principal = self._decode(token, "auth")
        except AuthFailed as exc:
            raise p.FrameError(exc.code, exc.message, "auth") from None
        if principal.id != self.principal.id:
            self.done = True
            self.conn.close(
                p.CLOSE_POLICY,
                p.AUTH_INVALID,
                final=p.error_frame(
                    p.AUTH_INVALID,
                    "The new token is for another user: reconnect with it.",
                    "auth",
                ),
            )
            return
        self._use(principal)
        self.hub.rejoin(self.conn, principal)
        self.hub.watch_expiry(self.conn)  # a shorter-lived token is checked at its expiry

    def _disconnect(self, frame: p.ClientFrame) -> None:
        reason = frame.data.get("reason")
        if reason is not None and reason not in p.DISCONNECT_REASONS:
            raise p.FrameError(
                p.INVALID_PAYLOAD, "reason must be logout, background or manual.", "disconnect"
            )
        log.debug("socket %s: client disconnect (%s)", self.conn.id, reason or "no reason")
        self.done = True
        self.conn.close(p.CLOSE_NORMAL, reason or "disconnect")

    def ack(self, frame: p.ClientFrame) -> str:
        """Record an ack frame (raises FrameError); return the acknowledged event's id."""
        try:
            event_id = acknowledge(db.session, self.principal, self.conn, frame)
        except Exception:
            db.session.rollback()
            raise
        finally:
            db.session.remove()
        self.conn.acknowledged(event_id)
        return event_id
