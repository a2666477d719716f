"""The Socket.IO endpoint (SHIELD_SOCKETIO_ENABLED=1): namespace `/shield/ws` on `/socket.io/`.

The spec's client, `io("wss://host/shield/ws", {auth: {token: "Bearer <jwt>"}, transports:
["websocket"]})`, connects here unchanged: socket.io-client reads the URL's path as the
namespace. python-socketio speaks the protocol (Socket.IO 5 over Engine.IO 4, WebSocket
only); everything else is the hub's, shared with the plain socket: rooms, the event log and
replay, fan-out, acks and resends, limits, heartbeat, presence. A refused connection is a
`connect_error` whose `data` is `{code, message}` with the spec's codes.
"""

from __future__ import annotations

import functools
import logging

import socketio
from flask import Flask
from socketio import packet as sio_packet

from shield.auth import bearer_token
from shield.errors import AuthError, error_response

from . import protocol as p
from .endpoint import origin_allowed
from .session import AuthFailed
from .socketio_connection import SioConnection
from .socketio_engine import LeanManager, LeanServer
from .socketio_session import SioSession
from .spawning import gevent_patched, make_apart

log = logging.getLogger(__name__)
NAMESPACE = "/shield/ws"
PATH = "/socket.io/"

# python-socketio / python-engineio log every packet at INFO: only their warnings here.
_library_log = logging.getLogger("shield.realtime.socketio_lib")
_library_log.setLevel(logging.WARNING)


def refused(code: str, message: str) -> socketio.exceptions.ConnectionRefusedError:
    return socketio.exceptions.ConnectionRefusedError(message, {"code": code, "message": message})


class Endpoint(socketio.Server):
    def __init__(self, app: Flask, state) -> None:
        settings = state.settings
        self.app = app
        self.state = state
        self.namespace = NAMESPACE
        self.sessions: dict[str, SioSession] = {}
        super().__init__(
            client_manager=LeanManager(),
            logger=_library_log,
            engineio_logger=_library_log,
            async_mode="gevent" if gevent_patched() else "threading",
            async_handlers=False,
            # Engine.IO's handshake: the hub's clock pings every ping_interval; the client
            # gives up after pingInterval + pingTimeout without one (the idle timeout).
            ping_interval=settings.ping_interval,
            ping_timeout=max(settings.idle_timeout - settings.ping_interval, 1.0),
            max_http_buffer_size=settings.max_message_size,
            cors_allowed_origins=[],  # checked below, by the plain socket's rule
            http_compression=False,
            apart=make_apart(),
            websocket_options={"max_message_size": settings.max_message_size},
            auth_timeout=settings.auth_timeout,
        )
        self.on("connect", self._on_connect, namespace=NAMESPACE)
        self.on("disconnect", self._on_disconnect, namespace=NAMESPACE)

    def _engineio_server_class(self):
        return LeanServer

    # -- WSGI ---------------------------------------------------------------------------------
    def wsgi(self, environ, start_response):
        """`/socket.io/`, after the plain socket's origin rule and compression setting."""
        settings = self.state.settings
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and not origin_allowed(
            origin, environ.get("HTTP_HOST"), settings.allowed_origins
        ):
            with self.app.app_context():
                response = error_response(
                    403, p.NOT_AUTHORIZED, "This origin may not open a Shield socket."
                )
            return response(environ, start_response)
        if not settings.compression:
            environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)  # about 90 KB per socket
        return self.handle_request(environ, start_response)

    # -- connecting ---------------------------------------------------------------------------
    def _on_connect(self, sid: str, environ: dict, auth) -> bool:
        with self.app.app_context():
            try:
                return self._authenticate(sid, environ, auth)
            except socketio.exceptions.ConnectionRefusedError:
                raise
            except Exception:
                log.exception("socket.io connect failed")
                raise refused(
                    p.INTERNAL_ERROR, "Something went wrong on our side: reconnect shortly."
                ) from None

    def _authenticate(self, sid: str, environ: dict, auth) -> bool:
        """`auth.token` (`Bearer <jwt>` or `<jwt>`), else an Authorization header."""
        token = p.auth_token(auth.get("token")) if isinstance(auth, dict) else None
        if token is None and environ.get("HTTP_AUTHORIZATION"):
            try:
                token = bearer_token(environ["HTTP_AUTHORIZATION"])
            except AuthError as exc:
                raise refused(exc.code, exc.message) from None
        if token is None:
            raise refused(p.AUTH_INVALID, "Connect with auth: {token: 'Bearer <jwt>'}.")
        hub = self.state.get_hub()
        sock = self.eio.sockets.get(self.manager.eio_sid_from_sid(sid, NAMESPACE))
        if sock is None:
            return False
        conn = SioConnection(
            sock,
            sid,
            self,
            hub.settings,
            hub.spawn,
            remote=environ.get("REMOTE_ADDR"),
            lock=hub.lock_for(),
        )
        session = SioSession(self.app, hub, conn)
        try:
            session.accept_token(token, "connect")
        except AuthFailed as exc:
            raise refused(exc.code, exc.message) from None
        self.sessions[sid] = session
        sock.admitted = True
        return True

    def _handle_connect(self, eio_sid, namespace, data):
        """After python-socketio's CONNECT: join, `connected`, replay from `auth.lastSeq`."""
        super()._handle_connect(eio_sid, namespace, data)
        session = self._session(eio_sid, namespace)
        if session is None or session.opened:
            return
        last_seq = data.get("lastSeq") if isinstance(data, dict) else None
        with self.app.app_context():
            try:
                session.open(last_seq, "connect")
            except Exception:
                session.fail()

    def _on_disconnect(self, sid: str, reason=None) -> None:
        session = self.sessions.pop(sid, None)
        if session is not None:
            session.hub.detach(session.conn)
            session.conn.close(p.CLOSE_NORMAL)

    def _session(self, eio_sid, namespace) -> SioSession | None:
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace or "/")
        return self.sessions.get(sid) if sid is not None else None

    # -- client packets -----------------------------------------------------------------------
    def _handle_eio_message(self, eio_sid, data):
        if isinstance(data, bytes) or data[:1] in ("5", "6"):  # binary events and acks
            self._refuse(eio_sid, "Binary events are not accepted: send JSON.")
            return
        try:
            super()._handle_eio_message(eio_sid, data)
        except (ValueError, TypeError, KeyError, IndexError, RecursionError):
            self._refuse(eio_sid, "Not a Socket.IO packet with a JSON payload.")

    def _refuse(self, eio_sid, message: str) -> None:
        session = self._session(eio_sid, NAMESPACE)
        if session is not None and session.opened:
            with self.app.app_context():
                if session.admit(session.limits, lambda: None):
                    session.conn.send(p.error_frame(p.INVALID_PAYLOAD, message))

    def _handle_event(self, eio_sid, namespace, id, data):
        session = self._session(eio_sid, namespace)
        if session is None or not session.opened:
            return
        if not isinstance(data, list) or not data:
            self._refuse(eio_sid, "An event needs a name.")
            return
        with self.app.app_context():
            reply = session.event(data[0], data[1:], id is not None)
        if id is not None:
            self._send_packet(
                eio_sid,
                self.packet_class(sio_packet.ACK, namespace=namespace, id=id, data=[reply]),
            )

    def _handle_ack(self, eio_sid, namespace, id, data):
        session = self._session(eio_sid, namespace)
        if session is None or not session.opened:
            return
        with self.app.app_context():
            if session.admit(session.limits, lambda: None):
                self.manager.trigger_callback(session.conn.sid, id, data)

    def ack_id(self, conn: SioConnection, event: p.Outgoing) -> int:
        """An ack id for an ackable event sent to `conn` (SioConnection._transport_send)."""
        return self.manager._generate_ack_id(
            conn.sid, functools.partial(self._acked, conn.sid, event)
        )

    def _acked(self, sid: str, event: p.Outgoing, *args) -> None:
        session = self.sessions.get(sid)
        if session is not None:
            session.callback_ack(event, args)


def mount(app: Flask, state) -> Endpoint:
    """Serve `/socket.io/` in front of the app (and of the plain socket's `/shield/ws`)."""
    endpoint = Endpoint(app, state)
    inner = app.wsgi_app

    def wsgi_app(environ, start_response):
        if environ.get("PATH_INFO", "").startswith(PATH):
            return endpoint.wsgi(environ, start_response)
        return inner(environ, start_response)

    app.wsgi_app = wsgi_app
    return endpoint
