"""The socket addon's settings: app config first, then the environment, then the default."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Settings:
    # Browser origins allowed to open a socket; empty = same origin only; "*" = any.
    allowed_origins: tuple[str, ...] = ()
    auth_timeout: float = 10.0  # seconds to wait for the first `auth` frame
    ping_interval: float = 30.0  # WebSocket ping frames
    idle_timeout: float = 60.0  # no frame and no pong for this long -> closed
    max_message_size: int = 64 * 1024  # bigger client frames -> close 1009
    rate_limit: int = 10  # client frames per second
    rate_close_after: int = 20  # frames dropped within 10 s before the socket is closed
    ack_timeout: float = 10.0  # first resend of an unacked required event
    ack_resends: int = 3  # resends per connection, the delay doubling each time
    push_hold: float = 10.0  # how long a critical push waits for a socket ack
    replay_max: int = 1000  # more missed events than this -> REPLAY_UNAVAILABLE
    poll_interval: float = 1.0  # safety-net read of the outbox (events from other processes)
    pg_listen: bool = True  # LISTEN shield_events on PostgreSQL for instant wake-ups
    queue_max: int = 1000  # frames waiting for one slow client before it is dropped
    send_timeout: float = 30.0  # a single send blocked this long -> connection aborted
    send_threads: int = 16  # sender pool size outside gevent
    compression: bool = False  # permessage-deflate (about 90 KB more per connection)
    redis_url: str | None = None
    redis_prefix: str = "shield:ws:"
    # Carried by the Redis channel, keys and messages; None: the id stored in the database.
    deployment_id: str | None = None


_TRUE = {"1", "true", "yes", "on"}
_ENV = {
    "allowed_origins": "SHIELD_WS_ALLOWED_ORIGINS",
    "auth_timeout": "SHIELD_WS_AUTH_TIMEOUT",
    "ping_interval": "SHIELD_WS_PING_INTERVAL",
    "idle_timeout": "SHIELD_WS_IDLE_TIMEOUT",
    "max_message_size": "SHIELD_WS_MAX_MESSAGE_SIZE",
    "rate_limit": "SHIELD_WS_RATE_LIMIT",
    "rate_close_after": "SHIELD_WS_RATE_CLOSE_AFTER",
    "ack_timeout": "SHIELD_WS_ACK_TIMEOUT",
    "ack_resends": "SHIELD_WS_ACK_RESENDS",
    "push_hold": "SHIELD_WS_PUSH_HOLD",
    "replay_max": "SHIELD_WS_REPLAY_MAX",
    "poll_interval": "SHIELD_WS_POLL_INTERVAL",
    "pg_listen": "SHIELD_WS_PG_LISTEN",
    "queue_max": "SHIELD_WS_QUEUE_MAX",
    "send_timeout": "SHIELD_WS_SEND_TIMEOUT",
    "send_threads": "SHIELD_WS_SEND_THREADS",
    "compression": "SHIELD_WS_COMPRESSION",
    "redis_url": "REDIS_URL",
    "redis_prefix": "SHIELD_WS_REDIS_PREFIX",
    "deployment_id": "SHIELD_DEPLOYMENT_ID",
}
DEPLOYMENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _convert(name: str, kind, raw):
    if name == "allowed_origins":
        if isinstance(raw, str):
            raw = raw.split(",")
        return tuple(o.strip().rstrip("/") for o in raw if o and o.strip())
    if kind == "bool":
        return raw if isinstance(raw, bool) else str(raw).strip().lower() in _TRUE
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if name == "redis_url":
        return raw or None
    if name == "deployment_id" and not DEPLOYMENT_ID.match(str(raw)):
        raise ValueError(
            "SHIELD_DEPLOYMENT_ID must be 1-64 letters, digits, '.', '_' or '-'; "
            f"got {str(raw)[:80]!r}."
        )
    return raw


def load(config, env=None) -> Settings:
    """Build Settings from a Flask config mapping, falling back to environment variables."""
    env = os.environ if env is None else env
    values = {}
    for field in fields(Settings):
        key = _ENV[field.name]
        raw = config.get(key) if key in config else env.get(key)
        if raw is None or (isinstance(raw, str) and raw == "" and field.name != "redis_url"):
            continue
        values[field.name] = _convert(field.name, field.type, raw)
    return Settings(**values)
