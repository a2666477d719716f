"""HTTP counts kept in plain Python, copied into the Prometheus metrics in the background.

In the multiprocess mode every prometheus_client increment is a locked write to a memory-
mapped file (about 2 us, 5 us for a counter and a histogram); the polls' fast path answers a
304 in about 10 us of Python under granian, so it counts into a dict instead (a lock, a
bisect and two additions) and a daemon thread of each process moves the counts into the
metrics every FLUSH_SECONDS, as does every scrape for its own process. A scrape therefore
shows every request answered more than FLUSH_SECONDS before it.

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
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, str], list] = {}
        self._pid = 0
        self._caches_seen: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        """A child counts its own requests, from zero, with a thread of its own."""
        self._lock = threading.Lock()
        self._pending = {}
        self._pid = 0
        self._caches_seen = weakref.WeakKeyDictionary()

    def observe(self, route: str, method: str, status: str, seconds: float) -> None:
        """Count one answered request (route template, method, status as text)."""
        bucket = bisect_left(BOUNDS, seconds)
        key = (route, method, status)
        with self._lock:
            cell = self._pending.get(key)
            if cell is None:
                cell = self._pending[key] = [0.0, [0] * (len(BOUNDS) + 1)]
                if self._pid != os.getpid():  # first request in this process (after a fork)
                    self._start()
            cell[0] += seconds
            cell[1][bucket] += 1

    def _start(self) -> None:
        self._pid = os.getpid()
        threading.Thread(target=self._loop, name="shield-metrics", daemon=True).start()

    def _loop(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            time.sleep(FLUSH_SECONDS)
            self.flush()

    def flush(self) -> None:
        """Move what was counted into the Prometheus metrics (thread-safe)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        for (route, method, status), (total, buckets) in pending.items():
            metrics.HTTP_REQUESTS.labels(route, method, status).inc(sum(buckets))
            histogram = metrics.HTTP_SECONDS.labels(route, method)
            # prometheus_client's Histogram keeps one value per bucket (non-cumulative) and
            # the sum; adding whole buckets at once is what `observe` does one at a time.
            # tests/ops/test_metrics.py checks the exposition this gives.
            histogram._sum.inc(total)
            for index, count in enumerate(buckets):
                if count:
                    histogram._buckets[index].inc(count)
        self._sync_version_caches()

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
atexit.register(METER.flush)
