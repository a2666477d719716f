"""HTTP counts kept in plain Python, copied into the Prometheus metrics in the background.

In the multiprocess mode every prometheus_client increment is a locked write to a memory-
mapped file (about 2 us, 5 us for a counter and a histogram); the polls' fast path answers a
304 in a few microseconds of Python under granian, so each thread counts into cells of its
own instead (no lock: a bisect and two additions) and a daemon thread of each process moves
the counts into the metrics every FLUSH_SECONDS, as does every scrape for its own process.
A scrape therefore shows every request answered more than FLUSH_SECONDS before it.

The same thread copies the version cache's own counters (shield.versions.cache).
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from bisect import bisect_left

from . import metrics

FLUSH_SECONDS = 0.5
BOUNDS = metrics.LATENCY_BUCKETS


class HttpMeter:
    """Counts per thread, without a lock on the request path: each thread adds to its own
    cells ([sum of seconds, count per bucket...]); the flusher copies each cell (one C-level
    list copy under the GIL) and adds what grew since its last copy to the metrics."""

    def __init__(self) -> None:
        self._forked()
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        """A child counts its own requests, from zero, with a thread of its own."""
        self._local = threading.local()
        self._lock = threading.Lock()  # registration and flushing only
        self._stores: list[tuple[threading.Thread, dict, dict]] = []
        self._pid = 0
        self._caches_seen: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def observe(self, route: str, method: str, status: str, seconds: float) -> None:
        """Count one answered request (route template, method, status as text)."""
        self.count((route, method, status), seconds)

    def count(self, key: tuple[str, str, str], seconds: float) -> None:
        """`observe` with the (route, method, status) tuple made once (the fast path)."""
        try:
            store = self._local.store
        except AttributeError:
            store = self._register()
        cell = store.get(key)
        if cell is None:
            cell = store[key] = [0.0] * (len(BOUNDS) + 2)
        cell[0] += seconds
        cell[1 + bisect_left(BOUNDS, seconds)] += 1

    def _register(self) -> dict:
        store: dict = {}
        with self._lock:
            self._stores.append((threading.current_thread(), store, {}))
            if self._pid != os.getpid():  # the first request of this process
                self._pid = os.getpid()
                threading.Thread(target=self._loop, name="shield-metrics", daemon=True).start()
        self._local.store = store
        return store

    def _loop(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            time.sleep(FLUSH_SECONDS)
            self.flush()

    def flush(self) -> None:
        """Move what was counted since the last flush into the Prometheus metrics."""
        with self._lock:
            for entry in list(self._stores):
                thread, store, seen = entry
                dead = not thread.is_alive()  # before copying: nothing can follow the copy
                for key, cell in list(store.items()):
                    now = cell[:]
                    before = seen.get(key)
                    seen[key] = now
                    if before is not None:
                        now = [a - b for a, b in zip(now, before, strict=True)]
                    self._add(key, now)
                if dead:  # flushed for good
                    self._stores.remove(entry)
            self._sync_version_caches()

    @staticmethod
    def _add(key: tuple[str, str, str], delta: list) -> None:
        total, buckets = delta[0], delta[1:]
        count = sum(buckets)
        if not count:
            return
        route, method, status = key
        metrics.HTTP_REQUESTS.labels(route, method, status).inc(count)
        histogram = metrics.HTTP_SECONDS.labels(route, method)
        # prometheus_client's Histogram keeps one value per bucket (non-cumulative) and the
        # sum; adding whole buckets at once is what `observe` does one at a time.
        # tests/ops/test_metrics.py checks the exposition this gives.
        histogram._sum.inc(total)
        for index, n in enumerate(buckets):
            if n:
                histogram._buckets[index].inc(n)

    def _sync_version_caches(self) -> None:
        from shield.versions.cache import live_caches

        worst = None
        for cache in live_caches():
            seen = self._caches_seen.setdefault(cache, {})
            counts = dict(cache.counts)
            for name, metric in (
                ("hits", metrics.VERSION_HITS),
                ("loads", metrics.VERSION_MISSES),
                ("stale_reads", metrics.VERSION_FALLBACKS),
            ):
                delta = counts[name] - seen.get(name, 0)
                if delta > 0:
                    metric.inc(delta)
                seen[name] = counts[name]
            age = cache.fresh_age()
            worst = age if worst is None else max(worst, age)
        if worst is not None:
            metrics.VERSION_STALENESS.set(worst)


METER = HttpMeter()
observe = METER.observe
count = METER.count
atexit.register(METER.flush)
