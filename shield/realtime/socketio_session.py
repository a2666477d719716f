"""A Socket.IO client's session: its events and ack callbacks, through the one `Session`.

A client event `socket.emit(name, data[, callback])` is one frame: rate limited, then what
the plain socket's `{"event": name, "data": data}` frame does. Without a callback the reply
(`pong`, `error`) is emitted as an event; with one, the callback receives it instead, and an
accepted ack is answered `{"event": "<name>_ack", "data": {"eventId", "received": true}}`.
A server event acknowledged through its own callback is the ack frame `<name>_ack` naming
that event.
"""

from __future__ import annotations

import dataclasses
import json

from flask import Flask

from . import protocol as p
from .hub import Hub
from .session import Session
from .socketio_connection import SioConnection

SIGN_OF_LIFE = "pong"  # the spec heartbeat's client event: nothing to do but being seen


class SioSession(Session):
    __slots__ = ("limits",)

    def __init__(self, app: Flask, hub: Hub, conn: SioConnection) -> None:
        super().__init__(app, hub, conn)
        self.limits = self.limiter()

    @property
    def opened(self) -> bool:
        return self.conn.principal is not None

    def event(self, name, args: list, wants_reply: bool) -> dict | None:
        """One client event; returns what its callback gets when it has one."""
        original = name[: p.MAX_NAME] if isinstance(name, str) else None
        admitted = self.admit(self.limits, lambda: original)
        if admitted is None:  # dropped (`admit` reported it, at most once a second)
            if not wants_reply:
                return None
            reply = p.error_frame(p.RATE_LIMITED, "Too many frames; event dropped.", original)
        elif admitted is False:
            return None
        elif name == SIGN_OF_LIFE and len(args) <= 1:
            reply = None
        else:
            reply = self.answer(lambda: _frame(name, args), lambda: original)
        if wants_reply:
            return json.loads(reply.text) if reply is not None else None
        if reply is not None and reply.name not in p.ACK_EVENTS:
            self.conn.send(reply)
        return None

    def act(self, frame: p.ClientFrame) -> p.Control | None:
        if frame.event in p.ACK_EVENTS:
            event_id = self.ack(frame)
            return p.server_frame(frame.event, {"eventId": event_id, "received": True})
        return super().act(frame)

    def callback_ack(self, event: p.Outgoing, args: tuple) -> None:
        """The client called the ack callback of one of our events (rate counted already)."""
        name = f"{event.name}_ack"
        reply = self.answer(lambda: _callback_frame(name, event.id, args), lambda: name)
        if reply is not None and reply.name == "error":
            self.conn.send(reply)


def _frame(name, args: list) -> p.ClientFrame:
    if len(args) > 1:
        raise p.FrameError(
            p.INVALID_PAYLOAD,
            "An event carries one object.",
            name if isinstance(name, str) else None,
        )
    return p.frame_of(name, args[0] if args else {})


def _callback_frame(name: str, event_id: str, args: tuple) -> p.ClientFrame:
    """`ack()`, `ack({claimId, transactionId, received: true})`: the ack of this event."""
    if len(args) > 1 or (args and args[0] is not None and not isinstance(args[0], dict)):
        raise p.FrameError(p.INVALID_PAYLOAD, "An ack callback carries one object.", name)
    data = dict(args[0]) if args and args[0] else {}
    data["eventId"] = event_id
    return dataclasses.replace(p.frame_of(name, data), bound=True)
