"""How committed events reach the socket processes.

The outbox is the source of truth; everything here is a fast path or a wake-up:

- in-process: the outbox's on_commit listener hands this process's commits to its hub;
- Redis pub/sub (REDIS_URL): every process with the addon publishes its commits (after
  commit, from a background thread); every process holding sockets subscribes and gets the
  events without reading the database. Pub/sub ignores the Redis database number, so the
  channel is this deployment's (`<prefix><deployment id>:events`, see deployment.py) and
  every message names its deployment: one from another deployment is dropped and counted;
- PostgreSQL LISTEN `shield_events`: the outbox hook NOTIFYs the top seq in every
  event-producing transaction, from any process (the jobs process too); a hub that sees a
  top above what it has dispatched reads the gap from the outbox;
- a periodic read of the outbox (SHIELD_WS_POLL_INTERVAL) catches anything else.

The hub accepts an event only when it is the next seq (seq order is commit order, gapless),
so duplicates from several paths are dropped and a hole is always filled from the outbox.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable

from sqlalchemy.engine import make_url

from shield.events import CommittedEvent
from shield.events.outbox import PG_CHANNEL

from .protocol import Outgoing, outgoing

log = logging.getLogger(__name__)

_clients: dict[str, object] = {}
_clients_lock = threading.Lock()


def redis_client(url: str):
    """One client (and connection pool) per URL and process."""
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            import redis

            client = redis.Redis.from_url(
                url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30
            )
            _clients[url] = client
        return client


def encode(events: list[CommittedEvent], deployment: str) -> str:
    return json.dumps(
        {
            "deployment": deployment,
            "events": [[e.seq, e.id, e.name, e.member_id, e.audience, e.payload] for e in events],
        },
        separators=(",", ":"),
    )


def decode(raw: bytes | str) -> tuple[str | None, list]:
    """(deployment, raw event rows) of a message; the rows are made Outgoing once trusted."""
    body = json.loads(raw)
    rows = body["events"]
    if not isinstance(rows, list):
        raise TypeError("events")
    return body.get("deployment"), rows


def rows_to_events(rows: list) -> list[Outgoing]:
    events = []
    for seq, event_id, name, member_id, audience, payload in rows:
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise ValueError("seq")
        events.append(outgoing(seq, event_id, name, member_id, audience, payload))
    return events


class Publisher:
    """Publishes this process's commits to Redis without making the request wait."""

    def __init__(self, url: str, namespace: str, deployment: str, maxsize: int = 10_000) -> None:
        self.url = url
        self.namespace = namespace  # of the channel and the presence keys
        self.deployment = deployment
        self.channel = namespace + "events"
        self.queue: queue.Queue = queue.Queue(maxsize)
        self.thread = threading.Thread(target=self._run, name="shield-ws-publish", daemon=True)
        self.thread.start()

    def publish(self, events: list[CommittedEvent]) -> None:
        try:
            self.queue.put_nowait(("publish", encode(events, self.deployment)))
        except queue.Full:  # Redis is down or slow: the outbox read covers it
            log.warning("socket fan-out queue full; %d events left to the outbox poll", len(events))

    def call(self, fn: Callable) -> None:
        """Run fn(redis_client) on the publisher thread (presence writes, in order)."""
        with contextlib.suppress(queue.Full):
            self.queue.put_nowait(("call", fn))

    def _run(self) -> None:
        client = redis_client(self.url)
        while True:
            kind, item = self.queue.get()
            try:
                if kind == "publish":
                    client.publish(self.channel, item)
                else:
                    item(client)
            except Exception as exc:  # Redis down: sockets fall back to the outbox poll
                log.warning("socket fan-out to Redis failed: %s", exc)


class RedisSubscriber:
    """Feeds events published by this deployment's processes into this process's hub."""

    def __init__(
        self,
        url: str,
        channel: str,
        deployment: str,
        on_events: Callable[[list[Outgoing]], None],
        on_reconnect: Callable[[], None],
        on_dropped: Callable[[str, int], None],
    ) -> None:
        self.url = url
        self.channel = channel
        self.deployment = deployment
        self.on_events = on_events
        self.on_reconnect = on_reconnect
        self.on_dropped = on_dropped
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name="shield-ws-subscribe", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        backoff = 0.5
        while not self.stopped:
            pubsub = None
            try:
                pubsub = redis_client(self.url).pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                self.on_reconnect()  # whatever was published while we were away
                backoff = 0.5
                while not self.stopped:
                    message = pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        self._message(message["data"])
            except Exception as exc:
                log.warning("Redis subscription lost (%s); retrying in %.1f s", exc, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):  # closing a dead connection
                        pubsub.close()

    def _message(self, raw) -> None:
        try:
            deployment, rows = decode(raw)
            if deployment != self.deployment:
                self.on_dropped("foreign", len(rows))
                return
            events = rows_to_events(rows)
        except (ValueError, KeyError, TypeError, AttributeError):
            self.on_dropped("malformed", 1)
            return
        self.on_events(events)


class PgWaker:
    """LISTENs on the outbox's NOTIFY channel; every notification carries the top seq."""

    def __init__(self, database_uri: str, on_top: Callable[[int | None], None]) -> None:
        url = make_url(database_uri).set(drivername="postgresql")
        self.dsn = url.render_as_string(hide_password=False)
        self.on_top = on_top
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name="shield-ws-listen", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import psycopg

        backoff = 0.5
        while not self.stopped:
            try:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {PG_CHANNEL}")
                    self.on_top(None)  # read anything committed before LISTEN took effect
                    backoff = 0.5
                    while not self.stopped:
                        for note in conn.notifies(timeout=5.0):
                            try:
                                self.on_top(int(note.payload))
                            except ValueError:
                                self.on_top(None)
            except Exception as exc:
                log.warning("LISTEN %s lost (%s); retrying in %.1f s", PG_CHANNEL, exc, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
