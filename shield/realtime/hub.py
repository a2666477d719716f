"""The per-process hub: one tail of the outbox, dispatched in seq order to local sockets.

`watermark` is the highest seq dispatched. Events are accepted only as the next seq: a
contiguous run from the fast paths (in-process commit, Redis) goes out directly; anything
else (a hole, a NOTIFY, the periodic poll) makes the hub read `seq > watermark` from the
outbox. Because seq order is commit order and gapless, each event is dispatched once, in
order, and none is skipped. A socket joins under the dispatch lock and learns the watermark
at that instant: everything above it reaches the socket live, everything up to it is
replayed from the outbox if the client asked with `lastSeq`.

Two background loops per process (greenlets under gevent, threads otherwise), started with
the first socket: the tailer and the clock (pings, idle sockets, token expiry, ack resends,
presence). Nothing runs per socket but its handler and simple-websocket's reader: timers are
entries in the clock's one heap, and a socket's writer (on `spawn`: a greenlet, or a small
thread pool) exists only while it has frames queued.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import logging
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from time import monotonic

from flask import Flask

from models import db

from . import presence
from .connection import Connection
from .fanout import PgWaker, Publisher, RedisSubscriber
from .protocol import CLOSE_POLICY, CLOSE_RESTART, Outgoing
from .registry import Registry
from .replay import PAGE, acked_ids, tail, top_seq
from .settings import Settings

log = logging.getLogger(__name__)

LOCKS = 64


def make_spawner(threads: int):
    """gevent.spawn under a gevent-patched worker, else a bounded thread pool."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        import gevent

        return gevent.spawn
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="shield-ws-send").submit


def make_apart():
    """Run a call on a short-lived greenlet (gevent) and wait for it, else just call it.

    Under gevent every greenlet keeps the Python frame stack (in 4 KB pages) as deep as it
    ever went; a socket's handler lives as long as the socket, so the deep calls it makes
    (JWT check, database, frame writes) run apart and it keeps only the shallow stack it
    waits in: about 4 KB less per idle socket. The context (Flask's request and app
    contexts) goes with the call. A raw greenlet, not `gevent.spawn`: that one records the
    caller's stack, which makes CPython keep a frame object for each of the handler's frames
    for as long as it lives (about 1 KB per socket).
    """
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        from gevent import spawn_raw
        from gevent.event import AsyncResult

        def apart(fn, *args):
            result = AsyncResult()
            context = contextvars.copy_context()

            def call() -> None:
                try:
                    result.set(context.run(fn, *args))
                except BaseException as exc:  # re-raised in the caller by get()
                    result.set_exception(exc)

            spawn_raw(call)
            return result.get()

        return apart
    return lambda fn, *args: fn(*args)


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
        self._timers: list = []  # (when, seq, conn, event id or None for token expiry)
        self._timer_seq = itertools.count()
        self._gone = 0  # sockets detached since the heap was last rid of them
        self._clock = threading.Condition()
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
                self.watermark = top_seq(db.session)
            finally:
                db.session.remove()
            for target, name in ((self._tail_loop, "tail"), (self._clock_loop, "clock")):
                threading.Thread(target=target, name=f"shield-ws-{name}", daemon=True).start()
            s = self.settings
            if s.redis_url:
                self._helpers.append(
                    RedisSubscriber(
                        s.redis_url, s.redis_prefix + "events", self.offer, self.read_now
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
        with self._clock:
            self._clock.notify_all()

    # -- sockets ------------------------------------------------------------------------------
    def attach(self, conn: Connection) -> int:
        """Join the connection's rooms; return the watermark it starts above."""
        conn.on_required = self._on_required
        with self._dispatch_lock:
            self.registry.join(conn)
            floor = self.watermark
        self.watch_expiry(conn)
        if self.publisher is not None:
            self.publisher.call(presence.mark(self.settings, [conn]))
        return floor

    def detach(self, conn: Connection) -> None:
        self.registry.leave(conn)
        if self.publisher is not None and conn.principal is not None:
            self.publisher.call(presence.unmark(self.settings, conn.principal.id, conn.id))
        if conn.principal is not None:
            self._forget()

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
                if self._take(offered):
                    read = True
                if read:
                    self._read_outbox()
            except Exception:
                log.exception("socket tail failed; retrying")
                self._sleep(1.0)

    def _take(self, offered: dict[int, Outgoing]) -> bool:
        """Dispatch the contiguous run; return True if a hole needs the outbox."""
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
        return any(seq > self.watermark for seq in offered)

    def _read_outbox(self) -> None:
        with self.app.app_context():
            try:
                top = top_seq(db.session)
                if top < self.watermark:
                    self._reset(top)
                    return
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
            self.watermark = top
        for conn in self.registry.connections():
            self.spawn(conn.close, CLOSE_RESTART, "Event log reset")

    def dispatch(self, events: list[Outgoing]) -> None:
        with self._dispatch_lock:
            for event in events:
                if event.seq <= self.watermark:
                    continue
                for conn in self.registry.targets(event):
                    conn.deliver(event)
                self.watermark = event.seq

    # -- the clock: pings, idle sockets, ack resends, presence -------------------------------
    def schedule_resend(self, conn: Connection, event_id: str, delay: float) -> None:
        with self._clock:
            heapq.heappush(
                self._timers, (monotonic() + delay, next(self._timer_seq), conn, event_id)
            )
            self._clock.notify()

    def watch_expiry(self, conn: Connection) -> None:
        """Arm the check of the connection's token expiry (again after a re-auth): one entry
        per connection; an armed earlier check re-arms itself for a later expiry."""
        with self._clock:
            when = monotonic() + (conn.expires_at - time.time())
            if conn.expiry_due is not None and conn.expiry_due <= when:
                return
            conn.expiry_due = when
            heapq.heappush(self._timers, (when, next(self._timer_seq), conn, None))
            self._clock.notify()

    def _forget(self) -> None:
        """Count a detached socket; drop closed sockets' timers once they may be a quarter of
        the heap (an expiry entry would otherwise hold its connection until the token
        expires). Each sweep is paid for by as many detaches: O(1) per socket."""
        with self._clock:
            self._gone += 1
            if self._gone >= 64 and self._gone * 4 >= len(self._timers):
                self._timers = [t for t in self._timers if not t[2].closed]
                heapq.heapify(self._timers)
                self._gone = 0

    def _clock_loop(self) -> None:
        next_sweep = monotonic() + self.settings.ping_interval
        while not self.stopped:
            due = []
            with self._clock:
                now = monotonic()
                while self._timers and self._timers[0][0] <= now:
                    due.append(heapq.heappop(self._timers))
                if not due and now < next_sweep:
                    until = min(next_sweep, self._timers[0][0] if self._timers else next_sweep)
                    self._clock.wait(until - now)
                    continue
            try:
                if due:
                    self._expire([t for t in due if t[3] is None])
                    self._resend([t for t in due if t[3] is not None])
                if monotonic() >= next_sweep:
                    next_sweep = monotonic() + self.settings.ping_interval
                    self._sweep()
            except Exception:
                log.exception("socket clock failed")
                self._sleep(1.0)

    def _expire(self, due: list) -> None:
        """Close sockets whose token has expired; a renewed token is checked again later."""
        now = time.time()
        with self._clock:
            for when, _, conn, _ in due:
                if conn.closed or when != conn.expiry_due:
                    continue  # gone, or replaced by an earlier check
                conn.expiry_due = None
                if conn.expires_at > now:
                    self.watch_expiry(conn)
                else:
                    self.spawn(conn.expire)

    def _resend(self, due: list) -> None:
        live = [(conn, event_id) for _, _, conn, event_id in due if not conn.closed]
        if not live:
            return
        with self.app.app_context():
            try:  # acked over REST or another socket since: no resend
                acked = acked_ids(db.session, list({event_id for _, event_id in live}))
            finally:
                db.session.remove()
        for conn, event_id in live:
            if event_id in acked:
                conn.acknowledged(event_id)
                continue
            delay = conn.resend(event_id)
            if delay is not None:
                self.schedule_resend(conn, event_id, delay)

    def _sweep(self) -> None:
        now = monotonic()
        connections = self.registry.connections()
        for n, conn in enumerate(connections, 1):
            if n % 256 == 0:
                time.sleep(0)  # let the pings' writers run (and end) before starting more
            why = conn.heartbeat(now)
            if why == "idle":
                log.debug("socket %s: no sign of life, closing", conn.id)
                self.spawn(conn.close, CLOSE_POLICY, "Heartbeat timeout")
            elif why == "stuck":
                log.info("socket %s: write stuck, aborting", conn.id)
                conn.abort()
        if self.publisher is not None and connections:
            self.publisher.call(presence.mark(self.settings, connections))

    def _sleep(self, seconds: float) -> None:
        with self._clock:
            self._clock.wait(seconds)
