"""Frames, whatever the transport: one JSON spec envelope per server frame; client frames
are `{"event": name, "data": {...}}` (the plain socket) or a Socket.IO event `name, data`.

Server events are the outbox message (envelope + `id` + `seq`, an `Outgoing`); `connected`,
`pong` and `error` are envelopes without `id`/`seq` (a `Control`). Both carry the event name
and the envelope's JSON text, serialised once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from models import utcnow
from shield.events import ACK_OPTIONAL, ACK_REQUIRED, message
from shield.requests import json_problem
from shield.wire import iso

AUTH_EXPIRED = "AUTH_EXPIRED"
AUTH_INVALID = "AUTH_INVALID"
RATE_LIMITED = "RATE_LIMITED"
INVALID_PAYLOAD = "INVALID_PAYLOAD"
NOT_AUTHORIZED = "NOT_AUTHORIZED"
NOT_FOUND = "NOT_FOUND"
INTERNAL_ERROR = "INTERNAL_ERROR"
# The missed events can no longer be replayed: refetch claims, wallet, subscription over REST.
REPLAY_UNAVAILABLE = "REPLAY_UNAVAILABLE"

CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008  # auth failed or expired, heartbeat lost, rate limit
CLOSE_TOO_BIG = 1009  # sent by simple-websocket itself (max_message_size)
CLOSE_INTERNAL = 1011  # unexpected server error
CLOSE_RESTART = 1012  # the event log was reset under us: reconnect
CLOSE_TRY_AGAIN = 1013  # the client reads too slowly: reconnect and replay

ACK_EVENTS = {f"{name}_ack": name for name in ACK_REQUIRED | ACK_OPTIONAL}
# `pong`: the spec's heartbeat snippet answers a `ping` with one; a sign of life, no reply.
CLIENT_EVENTS = frozenset({"auth", "ping", "pong", "disconnect", *ACK_EVENTS})
DISCONNECT_REASONS = frozenset({"logout", "background", "manual"})
MAX_NAME = 64


class FrameError(Exception):
    """A client frame the server answers with an `error` frame."""

    def __init__(
        self, code: str, message: str, original: str | None = None, details: dict | None = None
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.original = original
        self.details = details


@dataclass(frozen=True)
class ClientFrame:
    event: str
    data: dict
    # The transport itself tied this ack to the event it delivered (a Socket.IO callback of
    # that event): the event needs no naming, a given transactionId is still checked.
    bound: bool = False


class Control(NamedTuple):
    """A server frame that is not an outbox event: its name and its envelope's JSON text."""

    name: str
    text: str


def dumps(frame: dict) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def server_frame(name: str, data: dict, now: datetime | None = None) -> Control:
    return Control(name, dumps({"event": name, "timestamp": iso(now or utcnow()), "data": data}))


def error_frame(
    code: str, message: str, original: str | None = None, details: dict | None = None
) -> Control:
    data: dict = {"code": code, "message": message}
    if original:
        data["originalEvent"] = original[:MAX_NAME]
    if details:
        data["details"] = details
    return server_frame("error", data)


def connected_frame(user_id: str, connection_id: str, server_version: str) -> Control:
    now = utcnow()
    return server_frame(
        "connected",
        {
            "userId": user_id,
            "connectionId": connection_id,
            "timestamp": iso(now),
            "serverVersion": server_version,
        },
        now,
    )


def pong_frame() -> Control:
    return server_frame("pong", {})


def parse(raw) -> ClientFrame:
    """Decode one client frame or raise FrameError(INVALID_PAYLOAD)."""
    if not isinstance(raw, str):
        raise FrameError(INVALID_PAYLOAD, "Frames must be JSON text frames.")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise FrameError(INVALID_PAYLOAD, "The frame is not valid JSON.") from None
    if not isinstance(value, dict):
        raise FrameError(INVALID_PAYLOAD, "A frame is a JSON object with an `event` name.")
    return frame_of(value.get("event"), value.get("data", {}))


def frame_of(name, data) -> ClientFrame:
    """Check a decoded client event (a plain frame's fields, or a Socket.IO event)."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise FrameError(INVALID_PAYLOAD, "A frame needs an `event` name.")
    if name not in CLIENT_EVENTS:
        raise FrameError(INVALID_PAYLOAD, f"Unknown event {name!r}.", name)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FrameError(INVALID_PAYLOAD, "`data` must be an object.", name)
    problem = json_problem(data)
    if problem:
        raise FrameError(INVALID_PAYLOAD, problem.replace("The body", "The frame"), name)
    return ClientFrame(name, data)


def parse_last_seq(value, original: str) -> int | None:
    """Read a `lastSeq` (query string or auth frame); None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        value = "x"
    try:
        seq = int(value)
    except (TypeError, ValueError):
        seq = -1
    if seq < 0 or (isinstance(value, float) and value != seq):
        raise FrameError(
            INVALID_PAYLOAD,
            "lastSeq must be a non-negative integer.",
            original,
            {"lastSeq": str(value)[:40]},
        )
    return seq


def auth_token(value) -> str | None:
    """Accept `<jwt>` or `Bearer <jwt>` (the spec's socket.io example)."""
    if not isinstance(value, str):
        return None
    scheme, _, rest = value.strip().partition(" ")
    token = rest.strip() if scheme.lower() == "bearer" else value.strip()
    return token or None


# The data field that names what an ack is about, when the client sends no event id.
ACK_FIELDS = {"payout_completed": "payoutId"}
ACK_FIELD_DEFAULT = "claimId"


def ack_field(name: str) -> str:
    return ACK_FIELDS.get(name, ACK_FIELD_DEFAULT)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A committed event ready for the wire: serialised once, sent to every target."""

    seq: int
    id: str
    name: str
    member_id: str | None
    audience: str
    text: str
    ack_required: bool
    ack_key: tuple[str, str] | None  # (event name, claimId/payoutId) for ackable events


def outgoing(
    seq: int, event_id: str, name: str, member_id: str | None, audience: str, payload: dict
) -> Outgoing:
    key = None
    if name in ACK_REQUIRED or name in ACK_OPTIONAL:
        value = (payload.get("data") or {}).get(ack_field(name))
        if isinstance(value, str):
            key = (name, value)
    text = dumps(message(payload, event_id, seq))
    return Outgoing(seq, event_id, name, member_id, audience, text, name in ACK_REQUIRED, key)
