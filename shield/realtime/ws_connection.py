"""A plain WebSocket's connection (Flask-Sock / simple-websocket 1.1).

Pings are ours, not simple-websocket's `ping_interval` (its background thread would write
them without our send lock). The few simple-websocket / wsproto internals used are here.
"""

from __future__ import annotations

import contextlib
import socket

from wsproto.events import Ping

from .connection import Connection
from .protocol import Control, Outgoing


class WsConnection(Connection):
    __slots__ = ("ws",)

    def __init__(self, ws, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ws = ws

    def _transport_send(self, item: Outgoing | Control) -> None:
        self.ws.send(item.text)

    def _transport_ping(self) -> None:
        ws = self.ws
        if not ws.connected:
            raise ConnectionError("closed")
        ws.sock.send(ws.ws.send(Ping()))

    def _transport_pong_received(self) -> bool:
        received = getattr(self.ws, "pong_received", False)
        self.ws.pong_received = False
        return received

    def _transport_close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):  # already closed by the peer or the library
            self.ws.close(code, reason)

    def _transport_abort(self) -> None:
        self.ws.connected = False
        with contextlib.suppress(OSError):
            self.ws.sock.shutdown(socket.SHUT_RDWR)

    def _transport_wake(self) -> None:
        """Wake the handler blocked in `ws.receive()` so it sees the connection is gone.

        The handler waits without a timeout (no timer per socket), so `connected` is cleared
        too: `receive()` then returns instead of waiting again, even if the close frame
        could not be written."""
        self.ws.connected = False
        event = getattr(self.ws, "event", None)
        if event is not None:
            event.set()
