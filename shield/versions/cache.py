"""A per-process cache of resource versions, kept fresh by PostgreSQL LISTEN/NOTIFY.

Every transaction that bumps a member's versions also runs
`pg_notify('shield_versions', '<member id>,<member id>...')` (the outbox hook,
shield/events/outbox.py). One listener thread per process LISTENs on that channel and drops
the named members' entries; a miss loads the member's whole version row with one SELECT.

Why a 304 can lag a commit by at most `max_staleness` seconds, whatever the listener does:

1. PostgreSQL delivers notifications in commit order, across channels, to every listener,
   including the session that sent them.
2. Every `heartbeat` seconds the listener notes t = time.monotonic() and then sends a
   NOTIFY on a channel of its own. When that heartbeat comes back, every transaction that
   had committed before t has had its notifications delivered - and, the listener handling
   them in order, applied. So the cache is *fresh as of t*.
3. A read uses the cache only while `now - fresh_as_of <= max_staleness`; otherwise it reads
   the database (the `off` path). A commit finished at time c is therefore reflected in every
   read after c + max_staleness. A dead, slow or reconnecting listener only costs speed.
4. A load that raced an invalidation must not store the older row it read: loads remember
   their stripe's epoch before the SELECT and store only if no invalidation of that stripe
   happened meanwhile. After a (re)connect LISTEN is issued first, then everything is
   dropped, so nothing missed while disconnected survives.

Ordinary readers take no lock: a dict lookup, a clock read and a comparison.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
import weakref

from shield.bounded_cache import SLOT_BYTES, BoundedCache, getsize

from .store import DatabaseVersionStore, Versions, load_row, pick

log = logging.getLogger(__name__)

CHANNEL = "shield_versions"
STRIPES = 256
MAX_PAYLOAD = 7000  # NOTIFY payloads must stay under 8000 bytes


def notify_payloads(member_ids) -> list[str]:
    """Comma-joined member ids, split so that each payload fits a NOTIFY."""
    payloads: list[str] = []
    current: list[str] = []
    size = 0
    for member_id in sorted(set(member_ids)):
        if current and size + len(member_id) + 1 > MAX_PAYLOAD:
            payloads.append(",".join(current))
            current, size = [], 0
        current.append(member_id)
        size += len(member_id) + 1
    if current:
        payloads.append(",".join(current))
    return payloads


def entry_bytes(member_id: str, row: tuple) -> int:
    """What one member's entry costs: its key, its row and the row's datetimes (the
    counters are small ints CPython shares); about 310 bytes with both valid_until set."""
    return SLOT_BYTES + getsize(member_id, row, *(v for v in row if not isinstance(v, int)))


_caches: weakref.WeakSet[NotifyVersionCache] = weakref.WeakSet()


def live_caches() -> list[NotifyVersionCache]:
    """This process's caches (the metrics thread reads their counters)."""
    return list(_caches)


def committed(member_ids) -> None:
    """After a commit that bumped these members: drop them from this process's caches now
    (read-your-writes within a process; other processes learn it from the NOTIFY)."""
    for cache in list(_caches):
        cache.invalidate(member_ids)


class NotifyVersionCache:
    def __init__(
        self,
        dsn: str,
        *,
        max_staleness: float = 1.0,
        heartbeat: float = 0.2,
        max_bytes: int = 72 * 1024 * 1024,
        fallback: DatabaseVersionStore | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        if heartbeat <= 0 or max_staleness <= heartbeat:
            raise ValueError("need 0 < heartbeat < max_staleness")
        self.dsn = dsn
        self.max_staleness = max_staleness
        self.heartbeat = heartbeat
        self.max_bytes = max_bytes
        self.connect_timeout = connect_timeout
        self._fallback = fallback or DatabaseVersionStore()
        self._entries = BoundedCache(max_bytes, entry_bytes)
        self._epochs = [0] * STRIPES
        self._lock = threading.Lock()
        self._fresh_as_of = float("-inf")
        self.backend_pid: int | None = None
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._hb_channel = f"shield_versions_hb_{os.getpid()}_{uuid.uuid4().hex[:12]}"
        self.counts = {
            "hits": 0,
            "loads": 0,
            "stale_reads": 0,
            "invalidations": 0,
            "heartbeats": 0,
            "reconnects": 0,
        }
        self._thread = threading.Thread(target=self._run, name="shield-versions", daemon=True)
        self._thread.start()
        _caches.add(self)

    # --- readers -------------------------------------------------------------------------

    def fresh(self) -> bool:
        return time.monotonic() - self._fresh_as_of <= self.max_staleness

    def fresh_age(self) -> float:
        """Seconds since the cache was last known fresh (inf before the first heartbeat)."""
        return time.monotonic() - self._fresh_as_of

    def listening(self) -> bool:
        """The listener thread runs and holds its connection (readiness)."""
        return self._thread.is_alive() and self._connected.is_set()

    def peek(self, member_id: str, resource: str) -> Versions | None:
        """What `read` would answer, from memory only: None when it would have to ask the
        database (a stale cache or a member not loaded yet)."""
        if time.monotonic() - self._fresh_as_of > self.max_staleness:
            return None
        row = self._entries.get(member_id)
        if row is None:
            return None
        self.counts["hits"] += 1
        return pick(row, resource)

    def read(self, member_id: str, resource: str) -> Versions | None:
        if time.monotonic() - self._fresh_as_of > self.max_staleness:
            self.counts["stale_reads"] += 1
            return self._fallback.read(member_id, resource)
        row = self._entries.get(member_id)
        if row is None:
            row = self._load(member_id)
            if row is None:
                return None
        else:
            self.counts["hits"] += 1
        return pick(row, resource)

    def _load(self, member_id: str) -> tuple | None:
        stripe = hash(member_id) % STRIPES
        epoch = self._epochs[stripe]
        row = load_row(member_id)
        self.counts["loads"] += 1
        if row is None:
            return None
        with self._lock:
            if self._epochs[stripe] == epoch:
                self._entries.put(member_id, row)
        return row

    # --- writers outside the outbox hook (the 200 path's valid_until) ---------------------

    def changed(self, session, member_id: str) -> None:
        from sqlalchemy import text

        session.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": member_id})

    def committed(self, member_id: str) -> None:
        self.invalidate([member_id])

    # --- the listener ----------------------------------------------------------------------

    def invalidate(self, member_ids) -> None:
        with self._lock:
            for member_id in member_ids:
                self._epochs[hash(member_id) % STRIPES] += 1
                self._entries.pop(member_id)
        self.counts["invalidations"] += 1

    def _invalidate_all(self) -> None:
        with self._lock:
            for i in range(STRIPES):
                self._epochs[i] += 1
            self._entries.clear()

    def _run(self) -> None:
        import psycopg

        backoff = 0.1
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self.dsn,
                    autocommit=True,
                    connect_timeout=int(self.connect_timeout),
                    application_name="shield-versions",
                ) as conn:
                    self.backend_pid = conn.info.backend_pid
                    conn.execute(f"LISTEN {CHANNEL}")
                    conn.execute(f'LISTEN "{self._hb_channel}"')
                    self._invalidate_all()
                    self._connected.set()
                    backoff = 0.1
                    self._listen(conn)
            except Exception as exc:  # keep serving (from the database) and reconnect
                if self._stop.is_set():
                    break
                log.warning("version cache listener: %s; reconnecting in %.1fs", exc, backoff)
            finally:
                self._connected.clear()
            self.counts["reconnects"] += 1
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 5.0)

    def _listen(self, conn) -> None:
        hb = self._hb_channel
        while not self._stop.is_set():
            sent = time.monotonic()
            conn.execute("SELECT pg_notify(%s, %s)", (hb, repr(sent)))
            deadline = sent + self.heartbeat
            while True:
                remaining = deadline - time.monotonic()
                for note in conn.notifies(timeout=max(remaining, 0.0)):
                    if note.channel == hb:
                        stamp = float(note.payload)
                        if stamp > self._fresh_as_of:
                            self._fresh_as_of = stamp
                        self.counts["heartbeats"] += 1
                    elif note.payload:
                        self.invalidate(note.payload.split(","))
                if remaining <= 0 or self._stop.is_set():
                    break

    # --- lifecycle and numbers -------------------------------------------------------------

    def wait_ready(self, timeout: float = 5.0) -> bool:
        """Block until the cache is fresh (tests and the benchmark's warm-up)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.fresh():
                return True
            time.sleep(0.01)
        return False

    def stop(self) -> None:
        _caches.discard(self)
        self._stop.set()
        self._thread.join(timeout=self.heartbeat + self.connect_timeout + 1)

    def stats(self) -> dict:
        return {
            "mode": "notify",
            "entries": len(self._entries),
            "bytes": self._entries.bytes,
            "max_bytes": self.max_bytes,
            "evictions": self._entries.evictions,
            "max_staleness_s": self.max_staleness,
            "heartbeat_s": self.heartbeat,
            "fresh_age_s": round(time.monotonic() - self._fresh_as_of, 4),
            **self.counts,
        }
