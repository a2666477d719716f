"""The hub's clock: one loop per process for every socket's timers.

Nothing runs per socket: ack resends and token-expiry checks are entries in one heap, and
the heartbeat is one sweep over the registry: every `ping_interval` it pings and refreshes
presence, and every `idle_check_interval` (idle timeout / 20) it drops idle sockets and
stuck writes.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from time import monotonic
from typing import TYPE_CHECKING

from models import db
from shield.ops import metrics

from . import presence
from .protocol import CLOSE_POLICY
from .replay import acked_ids
from .settings import Settings

if TYPE_CHECKING:
    from .connection import Connection
    from .hub import Hub

log = logging.getLogger(__name__)


IDLE_CHECKS = 20  # idle checks per idle timeout: a silent client goes within 5% of it


def idle_check_interval(settings: Settings) -> float:
    """How often idle sockets are looked for: 3 s with the 60 s default, so a client is
    dropped 60-63 s after its last sign of life (the spec's 60 s), without a timer per
    socket: one pass over the registry, pings only every `ping_interval`."""
    return min(settings.ping_interval, settings.idle_timeout / IDLE_CHECKS)


class Clock:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.settings = hub.settings
        self._timers: list = []  # (when, seq, conn, event id or None for token expiry)
        self._timer_seq = itertools.count()
        self._gone = 0  # sockets detached since the heap was last rid of them
        self._cond = threading.Condition()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def sleep(self, seconds: float) -> None:
        with self._cond:
            self._cond.wait(seconds)

    # -- timers -------------------------------------------------------------------------------
    def schedule_resend(self, conn: Connection, event_id: str, delay: float) -> None:
        with self._cond:
            heapq.heappush(
                self._timers, (monotonic() + delay, next(self._timer_seq), conn, event_id)
            )
            self._cond.notify()

    def watch_expiry(self, conn: Connection) -> None:
        """Arm the check of the connection's token expiry (again after a re-auth): one entry
        per connection; an armed earlier check re-arms itself for a later expiry."""
        with self._cond:
            when = monotonic() + (conn.expires_at - time.time())
            if conn.expiry_due is not None and conn.expiry_due <= when:
                return
            conn.expiry_due = when
            heapq.heappush(self._timers, (when, next(self._timer_seq), conn, None))
            self._cond.notify()

    def forget(self) -> None:
        """Count a detached socket; drop closed sockets' timers once they may be a quarter of
        the heap (an expiry entry would otherwise hold its connection until the token
        expires). Each sweep is paid for by as many detaches: O(1) per socket."""
        with self._cond:
            self._gone += 1
            if self._gone >= 64 and self._gone * 4 >= len(self._timers):
                self._timers = [t for t in self._timers if not t[2].closed]
                heapq.heapify(self._timers)
                self._gone = 0

    # -- the loop -----------------------------------------------------------------------------
    def run(self) -> None:
        ping_every = self.settings.ping_interval
        check_every = idle_check_interval(self.settings)
        next_ping = monotonic() + ping_every
        next_check = monotonic() + check_every
        while not self.hub.stopped:
            due = []
            with self._cond:
                now = monotonic()
                while self._timers and self._timers[0][0] <= now:
                    due.append(heapq.heappop(self._timers))
                periodic = min(next_ping, next_check)
                if not due and now < periodic:
                    until = min(periodic, self._timers[0][0] if self._timers else periodic)
                    self._cond.wait(until - now)
                    continue
            try:
                if due:
                    self._expire([t for t in due if t[3] is None])
                    self._resend([t for t in due if t[3] is not None])
                now = monotonic()
                if now >= next_ping:
                    next_ping = now + ping_every
                    next_check = now + check_every
                    self._sweep(ping=True)
                elif now >= next_check:
                    next_check = now + check_every
                    self._sweep(ping=False)
            except Exception:
                log.exception("socket clock failed")
                self.sleep(1.0)

    def _expire(self, due: list) -> None:
        """Close sockets whose token has expired; a renewed token is checked again later."""
        now = time.time()
        with self._cond:
            for when, _, conn, _ in due:
                if conn.closed or when != conn.expiry_due:
                    continue  # gone, or replaced by an earlier check
                conn.expiry_due = None
                if conn.expires_at > now:
                    self.watch_expiry(conn)
                else:
                    self.hub.spawn(conn.expire)

    def _resend(self, due: list) -> None:
        live = [(conn, event_id) for _, _, conn, event_id in due if not conn.closed]
        if not live:
            return
        with self.hub.app.app_context():
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

    def _sweep(self, ping: bool) -> None:
        """Drop idle and stuck sockets; with `ping`, also ping the others and refresh
        presence. Without it this is a few attribute reads per socket."""
        hub = self.hub
        now = monotonic()
        connections = hub.registry.connections()
        metrics.acks_pending(sum(len(c.pending or ()) for c in connections))
        for n, conn in enumerate(connections, 1):
            if ping and n % 256 == 0:
                time.sleep(0)  # let the pings' writers run (and end) before starting more
            why = conn.heartbeat(now, ping)
            if why == "idle":
                log.debug("socket %s: no sign of life, closing", conn.id)
                hub.spawn(conn.close, CLOSE_POLICY, "Heartbeat timeout")
            elif why == "stuck":
                log.info("socket %s: write stuck, aborting", conn.id)
                conn.abort()
        if ping and hub.publisher is not None and connections:
            hub.publisher.call(presence.mark(self.settings, hub.publisher.namespace, connections))
