"""A plain WebSocket's life (Flask-Sock): the token from the header, the query or a first
`auth` frame, then JSON text frames read until the socket ends (see `session.Session`)."""

from __future__ import annotations

import time

from flask import Flask, request
from simple_websocket import ConnectionClosed

from shield.auth import bearer_token
from shield.errors import AuthError

from . import protocol as p
from .hub import Hub
from .limits import FrameLimiter
from .linger import wait_closed
from .session import AuthFailed, Session
from .ws_connection import WsConnection


class SocketSession(Session):
    __slots__ = ("ws",)

    def __init__(self, ws, app: Flask, hub: Hub) -> None:
        conn = WsConnection(
            ws, hub.settings, hub.spawn, remote=request.remote_addr, lock=hub.lock_for()
        )
        super().__init__(app, hub, conn)
        self.ws = ws

    def run(self) -> None:
        """The handler waits for frames; the deep work (token check, database, writes) runs
        on a short-lived greenlet (`hub.apart`), so the stack an idle socket keeps is shallow."""
        conn = self.conn
        try:
            if self.hub.apart(self._open):
                self._loop()
        except ConnectionClosed:
            pass
        except Exception:
            self.fail()
        finally:
            self.hub.detach(conn)
            conn.close(p.CLOSE_NORMAL)
            # The server closes this socket once the handler returns: not before the
            # reader's lingering close is done (see linger.py).
            wait_closed(self.ws)

    def _open(self) -> bool:
        """Authenticate, join, `connected`, replay; False if the socket was refused."""
        try:
            last_seq_raw, origin = self._authenticate()
        except AuthFailed as exc:
            self.conn.close(
                p.CLOSE_POLICY,
                exc.code,
                final=p.error_frame(exc.code, exc.message, exc.original),
            )
            return False
        self.open(last_seq_raw, origin)
        return True

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
        self.accept_token(token, origin)
        return last_seq_raw, origin

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

    def _loop(self) -> None:
        conn = self.conn
        limiter = self.limiter()
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
        admitted = self.admit(limiter, lambda: _peek(raw))
        if admitted:
            reply = self.answer(lambda: p.parse(raw), lambda: _peek(raw))
            if reply is not None:
                self.conn.send(reply)
        return admitted is not False


def _peek(raw) -> str | None:
    """The event name of a frame, if it has one, for `originalEvent`."""
    try:
        return p.parse(raw).event
    except p.FrameError as exc:
        return exc.original
