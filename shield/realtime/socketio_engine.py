"""Engine.IO 4 for the Socket.IO endpoint, WebSocket transport only, kept lean.

python-engineio's stock socket runs three greenlets per connection besides simple-websocket's
reader (the request's, a writer fed by a queue, a ping timer) and its Socket.IO manager
keeps a room (a bidict) per client and scans every room on each disconnect. Here:

- writes go straight to the WebSocket under a per-socket lock (`LeanSocket.send`): the
  connection's single writer (`outbound.Outbound`) already serialises the hub's frames;
- pings are the hub clock's, like the plain socket's (`SioConnection._transport_ping`), so
  there is no ping timer per socket; a PONG is recorded for the heartbeat;
- the request's greenlet reads frames and hands each message to a short-lived greenlet
  (`apart`), so the stack an idle socket keeps is shallow;
- an Engine.IO session without an accepted Socket.IO connect within SHIELD_WS_AUTH_TIMEOUT
  is closed (only then does the hub's clock look after it);
- simple-websocket enforces the frame size limit itself (a 1009 close, as on the plain
  socket) instead of reading an oversized frame whole;
- `LeanManager` keeps no per-client room (rooms are the hub's).

Pinned: python-engineio 4.15 / python-socketio 5.18 internals are used here only.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from time import monotonic

import engineio
import simple_websocket
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio import socket as eio_socket
from socketio import manager as sio_manager

log = logging.getLogger(__name__)


class LeanSocket(eio_socket.Socket):
    """One Engine.IO session on a WebSocket (no polling, no upgrade)."""

    def __init__(self, server: LeanServer, sid: str) -> None:
        # Not the base __init__: it makes a queue this socket does not use.
        self.server = server
        self.sid = sid
        self.queue = None
        self.last_ping = None  # engineio's own ping-timeout check stays off
        self.connected = False
        self.upgrading = False
        self.upgraded = False
        self.closing = False
        self.closed = False
        self.session: dict = {}
        self.ws = None
        self.early: list | None = []  # packets sent before the WebSocket is up (OPEN)
        self.write_lock = threading.Lock()
        self.pong = False
        self.admitted = False  # a Socket.IO connect was accepted (socketio_server)

    # -- writing ------------------------------------------------------------------------------
    def write(self, data: str) -> None:
        """Write one encoded Engine.IO packet; raise if the socket is gone."""
        with self.write_lock:
            ws = self.ws
            if ws is None:
                if self.early is None:
                    raise ConnectionError("closed")
                self.early.append(data)
                return
            ws.send(data)

    def send(self, pkt) -> None:
        """engineio's and python-socketio's own packets (handshake, CONNECT, acks, close)."""
        if self.closed:
            return
        try:
            self.write(pkt.encode())
        except Exception:  # the reader notices the broken socket and closes it
            log.debug("engine.io socket %s: write failed", self.sid)

    # -- reading ------------------------------------------------------------------------------
    def receive(self, pkt) -> None:
        if pkt.packet_type == eio_packet.PONG:
            self.pong = True
        elif pkt.packet_type == eio_packet.MESSAGE:
            self.server.apart(self.server._trigger_event, "message", self.sid, pkt.data)
        elif pkt.packet_type == eio_packet.CLOSE:
            self.close(wait=False, abort=True, reason=self.server.reason.CLIENT_DISCONNECT)
        elif pkt.packet_type not in (eio_packet.PING, eio_packet.NOOP, eio_packet.UPGRADE):
            raise eio_exceptions.UnknownPacketError()

    def handle_get_request(self, environ, start_response):
        return self._upgrade_websocket(environ, start_response)  # WebSocket only

    def _upgrade_websocket(self, environ, start_response):
        ws = simple_websocket.Server(environ, **self.server.websocket_options)
        try:
            self._run(ws)
        finally:
            self.server.sockets.pop(self.sid, None)
        if ws.mode == "gunicorn":
            raise StopIteration()
        if ws.mode == "werkzeug":
            raise ConnectionError()
        return []

    def _run(self, ws) -> None:
        with self.write_lock:
            self.ws = ws
            early, self.early = self.early, None
            try:
                for data in early:
                    ws.send(data)
            except simple_websocket.ConnectionClosed:
                pass
        self.connected = True
        self.upgraded = True
        deadline = monotonic() + self.server.auth_timeout
        while not self.closed:
            # Until a namespace connection is accepted, wait at most until the deadline: an
            # Engine.IO session that never authenticates is closed, as on the plain socket.
            wait = None if self.admitted else max(0.0, deadline - monotonic())
            try:
                data = ws.receive(timeout=wait)
            except simple_websocket.ConnectionClosed:
                break
            if data is None:
                if not self.admitted and monotonic() >= deadline:
                    log.debug("engine.io socket %s: no accepted connect in time", self.sid)
                    break
                continue
            try:
                self.receive(eio_packet.Packet(encoded_packet=data))
            except eio_exceptions.UnknownPacketError:
                pass
            except Exception:  # a malformed packet: drop the client
                log.info("engine.io socket %s: bad packet, closing", self.sid, exc_info=True)
                break
        self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)

    # -- closing ------------------------------------------------------------------------------
    def close(self, wait=True, abort=False, reason=None, code: int = 1000, message: str = ""):
        """Tell python-socketio (once), send Engine.IO's CLOSE unless aborting, close the
        WebSocket with `code` (the client reads it) and wake the reader."""
        if self.closed or self.closing:
            return
        self.closing = True
        self.server._trigger_event(
            "disconnect", self.sid, reason or self.server.reason.SERVER_DISCONNECT, run_async=False
        )
        if not abort:
            self.send(eio_packet.Packet(eio_packet.CLOSE))
        self.closed = True
        with self.write_lock:
            ws, self.early = self.ws, None
            if ws is not None:
                with contextlib.suppress(Exception):  # already closed by the peer
                    ws.close(code, message or None)
        self.wake()

    def wake(self) -> None:
        ws = self.ws
        if ws is not None:
            ws.connected = False
            ws.event.set()


class LeanServer(engineio.Server):
    """engineio's server with LeanSocket sessions; WebSocket only, no monitor task."""

    def __init__(
        self, *args, apart=None, websocket_options=None, auth_timeout=10.0, **kwargs
    ) -> None:
        kwargs.update(monitor_clients=False, transports=["websocket"], allow_upgrades=False)
        super().__init__(*args, **kwargs)
        self.apart = apart or (lambda fn, *a: fn(*a))
        self.websocket_options = websocket_options or {}
        self.auth_timeout = auth_timeout

    def _handle_connect(self, environ, start_response, transport, jsonp_index=None):
        sid = self.generate_id()
        s = LeanSocket(self, sid)
        self.sockets[sid] = s
        s.send(
            eio_packet.Packet(
                eio_packet.OPEN,
                {
                    "sid": sid,
                    "upgrades": [],
                    "pingTimeout": int(self.ping_timeout * 1000),
                    "pingInterval": int(self.ping_interval * 1000),
                    "maxPayload": self.max_http_buffer_size,
                },
            )
        )
        ret = self._trigger_event("connect", sid, environ, run_async=False)
        if ret is not None and ret is not True:
            del self.sockets[sid]
            return self._unauthorized(ret or None)
        return s.handle_get_request(environ, start_response)


class LeanManager(sio_manager.Manager):
    """python-socketio's manager without a room per client (the hub keeps the rooms), so a
    disconnect costs O(1), not a scan of every client's room. At most `max_callbacks`
    outstanding ack callbacks per client (the oldest are forgotten)."""

    max_callbacks = 256

    def pre_connect(self, eio_sid, namespace):
        sid = self.server.eio.generate_id()
        try:
            self.basic_enter_room(sid, namespace, None, eio_sid=eio_sid)
        except sio_manager.base_manager.ValueDuplicationError:
            return None  # already connected to this namespace
        self.pending_connect.setdefault(namespace, set()).add(sid)
        return sid

    def pre_disconnect(self, sid, namespace):
        self.pending_disconnect.setdefault(namespace, set()).add(sid)
        return self.rooms[namespace][None].get(sid)

    def basic_disconnect(self, sid, namespace, **kwargs):
        self.basic_leave_room(sid, namespace, None)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            sids = pending.get(namespace)
            if sids is not None and sid in sids:
                sids.discard(sid)
                if not sids:
                    del pending[namespace]

    def _generate_ack_id(self, sid, callback):
        ack_id = super()._generate_ack_id(sid, callback)
        callbacks = self.callbacks[sid]
        if len(callbacks) > self.max_callbacks + 1:  # key 0 is the id counter
            del callbacks[next(k for k in callbacks if k != 0)]
        return ack_id
