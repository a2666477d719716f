"""One socket's life: authenticate, join, `connected`, replay, then read frames until it ends."""

from __future__ import annotations

import logging
import time
from time import monotonic

from flask import Flask, request
from simple_websocket import ConnectionClosed

from models import db
from shield.auth import Principal, bearer_token, decode_token
from shield.config import SERVER_VERSION
from shield.errors import AuthError

from . import protocol as p
from .acks import acknowledge
from .connection import Connection
from .hub import Hub
from .limits import CLOSE, DROP, WARN, FrameLimiter
from .replay import gap_fillable, replay

log = logging.getLogger(__name__)


class AuthFailed(Exception):
    def __init__(self, code: str, message: str, original: str | None = None):
        super().__init__(message)
        self.code, self.message, self.original = code, message, original


class SocketSession:
    """Lives as long as the socket, in its handler: the token's expiry is on the connection,
    where the hub's clock checks it (the handler waits for frames with no timer)."""

    __slots__ = ("ws", "app", "hub", "settings", "conn", "principal", "done")

    def __init__(self, ws, app: Flask, hub: Hub) -> None:
        self.ws = ws
        self.app = app
        self.hub = hub
        self.settings = hub.settings
        self.conn = Connection(
            ws, hub.settings, hub.spawn, remote=request.remote_addr, lock=hub.lock_for()
        )
        self.principal: Principal | None = None
        self.done = False

    def run(self) -> None:
        """The handler waits for frames; the deep work (token check, database, writes) runs
        on a short-lived greenlet (`hub.apart`), so the stack an idle socket keeps is shallow."""
        conn = self.conn
        try:
            if self.hub.apart(self._open):
                self._loop()
        except ConnectionClosed:
            pass
        except Exception:  # database down, a bug: tell the client, never a half-dead socket
            log.exception("socket %s failed", conn.id)
            conn.close(
                p.CLOSE_INTERNAL,
                p.INTERNAL_ERROR,
                final=p.error_frame(
                    p.INTERNAL_ERROR, "Something went wrong on our side: reconnect shortly."
                ),
            )
        finally:
            self.hub.detach(conn)
            conn.close(p.CLOSE_NORMAL)

    def _open(self) -> bool:
        """Authenticate, join, `connected`, replay; False if the socket was refused."""
        conn = self.conn
        try:
            last_seq_raw, origin = self._authenticate()
        except AuthFailed as exc:
            conn.close(
                p.CLOSE_POLICY,
                exc.code,
                final=p.error_frame(exc.code, exc.message, exc.original),
            )
            return False
        conn.principal = self.principal
        self.hub.start()
        floor = self.hub.attach(conn)
        conn.send(p.connected_frame(self.principal.id, conn.id, SERVER_VERSION))
        self._replay(self._last_seq(last_seq_raw, origin), floor)
        return True

    # -- authentication -----------------------------------------------------------------------
    def _authenticate(self) -> tuple[object, str]:
        """Header, `token` query parameter, or a first `auth` frame within auth_timeout."""
        last_seq_raw = request.args.get("lastSeq")
        origin = "connect"
        header = request.headers.get("Authorization")
        if header:
            try:
                token = bearer_token(header)
            except AuthError as exc:
                raise AuthFailed(exc.code, exc.message, origin) from None
        else:
            token = p.auth_token(request.args.get("token"))
        if token is None:
            origin = "auth"
            frame = self._first_frame()
            token = p.auth_token(frame.data.get("token"))
            if token is None:
                raise AuthFailed(p.AUTH_INVALID, "The auth frame needs a token.", origin)
            if "lastSeq" in frame.data:
                last_seq_raw = frame.data["lastSeq"]
        self._accept_token(token, origin)
        return last_seq_raw, origin

    def _last_seq(self, raw, origin: str) -> int | None:
        try:
            return p.parse_last_seq(raw, origin)
        except p.FrameError as exc:  # reported after `connected`; the socket goes live
            self.conn.send(p.error_frame(exc.code, exc.message, exc.original, exc.details))
            return None

    def _first_frame(self) -> p.ClientFrame:
        raw = self.ws.receive(timeout=self.settings.auth_timeout)
        if raw is None:
            raise AuthFailed(
                p.AUTH_INVALID, f"No auth frame within {self.settings.auth_timeout:g} s."
            )
        try:
            frame = p.parse(raw)
        except p.FrameError as exc:
            raise AuthFailed(
                p.AUTH_INVALID, "The first frame must be an auth frame.", exc.original
            ) from None
        if frame.event != "auth":
            raise AuthFailed(p.AUTH_INVALID, "The first frame must be an auth frame.", frame.event)
        return frame

    def _accept_token(self, token: str, origin: str) -> None:
        try:
            principal = decode_token(token, self.app.config)
        except AuthError as exc:
            raise AuthFailed(exc.code, exc.message, origin) from None
        if self.principal is not None and principal.id != self.principal.id:
            raise AuthFailed(p.AUTH_INVALID, "The new token is for another user.", origin)
        self.principal = principal
        leeway = float(self.app.config.get("SHIELD_JWT_LEEWAY") or 0)
        self.conn.expires_at = principal.expires_at.timestamp() + leeway  # epoch seconds

    # -- replay -------------------------------------------------------------------------------
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

    # -- the frame loop -----------------------------------------------------------------------
    def _loop(self) -> None:
        conn = self.conn
        limiter = FrameLimiter(
            self.settings.rate_limit, self.settings.rate_close_after, monotonic()
        )
        while not self.done:
            if conn.expires_at <= time.time():
                conn.expire()
                return
            # No timeout, so no timer per socket: a close, an abort, the heartbeat and the
            # token's expiry (the hub's clock) all wake this through `_transport_wake`.
            raw = self.ws.receive()
            if conn.closed:
                return
            if raw is not None and not self.hub.apart(self._frame, raw, limiter):
                return

    def _frame(self, raw, limiter: FrameLimiter) -> bool:
        """One client frame, rate limit first; False once the socket is to be closed."""
        conn = self.conn
        now = monotonic()
        conn.seen(now)
        verdict = limiter.check(now)
        if verdict == CLOSE:
            conn.close(
                p.CLOSE_POLICY,
                p.RATE_LIMITED,
                final=p.error_frame(p.RATE_LIMITED, "Too many frames: closing.", _peek(raw)),
            )
            return False
        if verdict == WARN:
            conn.send(
                p.error_frame(
                    p.RATE_LIMITED,
                    f"At most {self.settings.rate_limit} frames per second; frame dropped.",
                    _peek(raw),
                )
            )
        elif verdict != DROP:
            self._handle(raw)
        return True

    def _handle(self, raw) -> None:
        try:
            frame = p.parse(raw)
            if frame.event == "ping":
                self.conn.send(p.pong_frame())
            elif frame.event == "auth":
                self._reauth(frame)
            elif frame.event == "disconnect":
                self._disconnect(frame)
            else:
                self._ack(frame)
        except p.FrameError as exc:
            self.conn.send(p.error_frame(exc.code, exc.message, exc.original, exc.details))
        except ConnectionClosed:
            raise
        except Exception:  # nothing a client sends may take the server down
            log.exception("socket %s: frame handling failed", self.conn.id)
            self.conn.send(
                p.error_frame(p.INTERNAL_ERROR, "Something went wrong on our side.", _peek(raw))
            )

    def _reauth(self, frame: p.ClientFrame) -> None:
        """A fresh token for the same user extends the connection's life."""
        token = p.auth_token(frame.data.get("token"))
        if token is None:
            raise p.FrameError(p.AUTH_INVALID, "The auth frame needs a token.", "auth")
        try:
            self._accept_token(token, "auth")
        except AuthFailed as exc:
            raise p.FrameError(exc.code, exc.message, "auth") from None
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

    def _ack(self, frame: p.ClientFrame) -> None:
        try:
            event_id = acknowledge(db.session, self.principal, self.conn, frame)
        except Exception:
            db.session.rollback()
            raise
        finally:
            db.session.remove()
        self.conn.acknowledged(event_id)


def _peek(raw) -> str | None:
    """The event name of a frame, if it has one, for `originalEvent`."""
    try:
        return p.parse(raw).event
    except p.FrameError as exc:
        return exc.original
