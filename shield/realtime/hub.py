"""The per-process hub: one tail of the outbox, dispatched in seq order to local sockets.

`watermark` is the highest seq dispatched. Events are accepted only as the next seq: a
contiguous run from the fast paths (in-process commit, Redis) goes out directly; anything
else (a hole, a NOTIFY, the periodic poll) makes the hub read `seq > watermark` from the
outbox. Because seq order is commit order and gapless, each event is dispatched once, in
order, and none is skipped. A socket joins under the dispatch lock and learns the watermark
at that instant: everything above it reaches the socket live, everything up to it is
replayed from the outbox if the client asked with `lastSeq`.

Whether the event log was reset (a restored or recreated database: sockets are closed with
1012 to reconnect and replay) is decided from this deployment's database only: its top seq
went below one it reported before (`confirmed`). Fan-out messages never decide it: one from
another deployment is dropped by the subscriber, and events above what the database holds
are dropped and counted (`dropped`), the watermark going back to the database's top.

Two background loops per process (greenlets under gevent, threads otherwise), started with
the first socket: the tailer (here) and the clock (`clock.py`: pings, idle sockets, token
expiry, ack resends, presence). Nothing runs per socket but its handler and
simple-websocket's reader: timers are entries in the clock's one heap, and a socket's writer
(on `spawn`, see `spawning.py`: a greenlet, or a small thread pool) exists only while it has
frames queued.
"""

from __future__ import annotations

import itertools
import logging
import threading
from time import monotonic

from flask import Flask

from models import db

from . import presence
from .clock import Clock
from .connection import Connection
from .fanout import PgWaker, Publisher, RedisSubscriber
from .protocol import CLOSE_RESTART, Outgoing
from .registry import Registry
from .replay import PAGE, tail, top_seq
from .settings import Settings
from .spawning import make_apart, make_spawner

log = logging.getLogger(__name__)

LOCKS = 64


class Hub:
    def __init__(self, app: Flask, settings: Settings, publisher: Publisher | None) -> None:
        self.app = app
        self.settings = settings
        self.publisher = publisher
        self.registry = Registry()
        self.spawn = make_spawner(settings.send_threads)
        # Connections' state locks, shared (about 200 bytes each under gevent); made here,
        # after gevent's monkey patching, like every other lock of the hub.
        self._locks = [threading.Lock() for _ in range(LOCKS)]
        self._next_lock = itertools.count()
        self._on_required = self.schedule_resend  # one bound method for every connection
        self.apart = make_apart()
        self.watermark = 0
        self.started = False
        self.stopped = False
        self._start_lock = threading.Lock()
        self._dispatch_lock = threading.Lock()
        self._wake = threading.Condition()
        self._offered: dict[int, Outgoing] = {}
        self._top_hint = 0
        self._read_now = False
        self.confirmed = 0  # the highest top seq this deployment's database reported
        self.dropped: dict[str, int] = {}  # fan-out messages or events dropped, by reason
        self._dropped_logged = 0.0
        self.clock = Clock(self)
        self._helpers: list = []

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the loops (first socket of this process); needs an app context."""
        if self.started:
            return
        with self._start_lock:
            if self.started:
                return
            try:
                self.watermark = self.confirmed = top_seq(db.session)
            finally:
                db.session.remove()
            for target, name in ((self._tail_loop, "tail"), (self.clock.run, "clock")):
                threading.Thread(target=target, name=f"shield-ws-{name}", daemon=True).start()
            s = self.settings
            if s.redis_url and self.publisher is not None:
                self._helpers.append(
                    RedisSubscriber(
                        s.redis_url,
                        self.publisher.channel,
                        self.publisher.deployment,
                        self.offer,
                        self.read_now,
                        self.count_dropped,
                    )
                )
            uri = self.app.config["SQLALCHEMY_DATABASE_URI"]
            if s.pg_listen and uri.startswith("postgresql"):
                self._helpers.append(PgWaker(uri, self.hint))
            self.started = True

    def stop(self) -> None:
        self.stopped = True
        for helper in self._helpers:
            helper.stopped = True
        with self._wake:
            self._wake.notify_all()
        self.clock.wake()

    # -- sockets ------------------------------------------------------------------------------
    def attach(self, conn: Connection) -> int:
        """Join the connection's rooms; return the watermark it starts above."""
        conn.on_required = self._on_required
        with self._dispatch_lock:
            self.registry.join(conn)
            floor = self.watermark
        self.watch_expiry(conn)
        if self.publisher is not None:
            self.publisher.call(presence.mark(self.settings, self.publisher.namespace, [conn]))
        return floor

    def rejoin(self, conn: Connection, principal) -> None:
        """The connection now acts for `principal` (a re-auth of the same user): its rooms
        follow the new role, with no event dispatched in between."""
        with self._dispatch_lock:
            self.registry.move(conn, principal)

    def detach(self, conn: Connection) -> None:
        self.registry.leave(conn)
        if self.publisher is not None and conn.principal is not None:
            self.publisher.call(
                presence.unmark(self.publisher.namespace, conn.principal.id, conn.id)
            )
        if conn.principal is not None:
            self.clock.forget()

    def lock_for(self):
        """A state lock for a new connection (see Connection.lock)."""
        return self._locks[next(self._next_lock) % LOCKS]

    # -- inputs -------------------------------------------------------------------------------
    def offer(self, events: list[Outgoing]) -> None:
        """Events known to be committed (this process's commits, Redis)."""
        with self._wake:
            for event in events:
                if event.seq > self.watermark:
                    self._offered[event.seq] = event
            self._wake.notify()

    def hint(self, top: int | None) -> None:
        """Events up to `top` are committed (NOTIFY); None: read the outbox now."""
        with self._wake:
            if top is None:
                self._read_now = True
            elif top > self._top_hint:
                self._top_hint = top
            self._wake.notify()

    def read_now(self) -> None:
        self.hint(None)

    def count_dropped(self, reason: str, count: int) -> None:
        """Count fan-out input that was not this log's (logged for each new reason, then at
        most once a minute)."""
        with self._wake:
            new = reason not in self.dropped
            self.dropped[reason] = self.dropped.get(reason, 0) + count
            now = monotonic()
            if not new and now - self._dropped_logged < 60:
                return
            self._dropped_logged = now
            totals = dict(self.dropped)
        log.warning(
            "socket fan-out: dropped input that is not this deployment's log, totals %s "
            "(another deployment on this Redis with the same SHIELD_DEPLOYMENT_ID?)",
            totals,
        )

    # -- the tail -----------------------------------------------------------------------------
    def _tail_loop(self) -> None:
        next_poll = monotonic() + self.settings.poll_interval
        while not self.stopped:
            with self._wake:
                wait = next_poll - monotonic()
                if (
                    wait > 0
                    and not self._offered
                    and not self._read_now
                    and self._top_hint <= self.watermark
                ):
                    self._wake.wait(wait)
                offered, self._offered = self._offered, {}
                read = self._read_now or self._top_hint > self.watermark
                self._read_now = False
            if monotonic() >= next_poll:
                read = True
                next_poll = monotonic() + self.settings.poll_interval
            try:
                beyond = self._take(offered)  # seqs past a hole: the outbox decides
                if read or beyond:
                    self._read_outbox()
                    unfit = sum(1 for seq in beyond if seq > self.watermark)
                    if unfit:  # offered, yet above what the database holds
                        self.count_dropped("unfit", unfit)
            except Exception:
                log.exception("socket tail failed; retrying")
                self._sleep(1.0)

    def _take(self, offered: dict[int, Outgoing]) -> list[int]:
        """Dispatch the contiguous run; return the seqs past a hole (read from the outbox)."""
        run: list[Outgoing] = []
        expected = self.watermark + 1
        for seq in sorted(offered):
            if seq < expected:
                continue
            if seq != expected:
                break
            run.append(offered[seq])
            expected += 1
        if run:
            self.dispatch(run)
        return [seq for seq in offered if seq > self.watermark]

    def _read_outbox(self) -> None:
        with self.app.app_context():
            try:
                top = top_seq(db.session)
                if top < self.confirmed:
                    self._reset(top)
                    return
                self.confirmed = top
                if top < self.watermark:
                    self._rewind(top)
                while top > self.watermark:
                    events = tail(db.session, self.watermark)
                    if not events:
                        break
                    self.dispatch(events)
                    if len(events) < PAGE:
                        break
            finally:
                db.session.remove()

    def _reset(self, top: int) -> None:
        log.warning(
            "event seq went back from %d to %d (database reset?): closing sockets",
            self.watermark,
            top,
        )
        with self._dispatch_lock:
            self.watermark = self.confirmed = top
        for conn in self.registry.connections():
            self.spawn(conn.close, CLOSE_RESTART, "Event log reset")

    def _rewind(self, top: int) -> None:
        """Events above the database's top were dispatched (a fan-out message that claimed
        this deployment but is not its log): go back to the top, so the real events with
        those seqs still reach every socket; nobody is closed."""
        self.count_dropped("unfit", self.watermark - top)
        with self._dispatch_lock:
            self.watermark = top
            for conn in self.registry.connections():
                conn.rewind(top)

    def dispatch(self, events: list[Outgoing]) -> None:
        with self._dispatch_lock:
            for event in events:
                if event.seq <= self.watermark:
                    continue
                for conn in self.registry.targets(event):
                    conn.deliver(event)
                self.watermark = event.seq

    # -- the clock (shield/realtime/clock.py) --------------------------------------------------
    def schedule_resend(self, conn: Connection, event_id: str, delay: float) -> None:
        self.clock.schedule_resend(conn, event_id, delay)

    def watch_expiry(self, conn: Connection) -> None:
        self.clock.watch_expiry(conn)

    def _sleep(self, seconds: float) -> None:
        self.clock.sleep(seconds)
