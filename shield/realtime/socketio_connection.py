"""A Socket.IO client's connection: the hub's frames as Socket.IO events on its WebSocket.

Every frame is emitted under its own name with the spec envelope as the one argument
(`42/shield/ws,["claim_paid",{...envelope, id, seq}]`), built from the envelope's JSON
text serialised once for every socket. An ackable event carries a Socket.IO ack id, so the
client can acknowledge it with the callback as well as with a `<name>_ack` event.
"""

from __future__ import annotations

import contextlib

from .connection import Connection
from .protocol import AUTH_EXPIRED, AUTH_INVALID, CLOSE_POLICY, RATE_LIMITED, Control, Outgoing

MESSAGE = "4"  # Engine.IO packet types
PING = "2"
EVENT = "2"  # Socket.IO packet types
DISCONNECT = "1"
FINAL = frozenset({AUTH_EXPIRED, AUTH_INVALID, RATE_LIMITED})  # close reasons: no reconnect


class SioConnection(Connection):
    __slots__ = ("sock", "sid", "endpoint")

    def __init__(self, sock, sid: str, endpoint, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sock = sock  # socketio_engine.LeanSocket
        self.sid = sid  # the Socket.IO session id (acks, the manager)
        self.endpoint = endpoint  # socketio_server.Endpoint

    def _packet(self, kind: str, body: str = "") -> str:
        return f"{MESSAGE}{kind}{self.endpoint.namespace},{body}"

    def _transport_send(self, item: Outgoing | Control) -> None:
        ack_id = ""
        if isinstance(item, Outgoing) and item.ack_key is not None:
            ack_id = str(self.endpoint.ack_id(self, item))
        self.sock.write(self._packet(EVENT, f'{ack_id}["{item.name}",{item.text}]'))

    def _transport_ping(self) -> None:
        self.sock.write(PING)

    def _transport_pong_received(self) -> bool:
        received, self.sock.pong = self.sock.pong, False
        return received

    def _transport_close(self, code: int, reason: str) -> None:
        """A close that reconnecting as is would not cure (token expired or refused, a
        flood) is a Socket.IO disconnect: the client does not reconnect on its own. Any other
        close (heartbeat lost, server restart, event log reset, too slow) is a transport
        close, so the client's reconnection does its work."""
        with contextlib.suppress(Exception):
            if code == CLOSE_POLICY and reason in FINAL:
                self.sock.write(self._packet(DISCONNECT))
        self.sock.close(wait=False, code=code, message=reason)

    def _transport_abort(self) -> None:
        ws = self.sock.ws
        if ws is not None:
            ws.connected = False
            with contextlib.suppress(OSError):
                ws.sock.shutdown(2)  # socket.SHUT_RDWR

    def _transport_wake(self) -> None:
        self.sock.wake()
