"""The byte-budgeted caches (shield/bounded_cache.py): what they charge is what they cost,
and the budget holds however many entries come."""

from __future__ import annotations

import gc
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest

from shield.auth import Principal, TokenCache, _token_entry_bytes
from shield.bounded_cache import BoundedCache
from shield.versions.cache import entry_bytes


def _measured(fill, n: int) -> tuple[float, int]:
    """(traced bytes per entry, the cache's own count) after `fill` made n entries."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    cache = fill(n)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / n, cache.bytes / n


def _versions(n: int) -> BoundedCache:
    cache = BoundedCache(1 << 40, entry_bytes)
    base = datetime.now(UTC)
    for i in range(n):
        until = base + timedelta(seconds=i)
        cache.put(f"m{i:06d}", (3, 1, 2, 1, 1, until, until + timedelta(days=1)))
    return cache


def _tokens(n: int) -> BoundedCache:
    cache = BoundedCache(1 << 40, _token_entry_bytes)
    base = time.time() + 3600
    for i in range(n):
        token = "eyJhbGciOiJIUzI1NiJ9." + "x" * 150 + f".{i:012d}"
        principal = Principal(f"m{i:06d}", "member", None, datetime.fromtimestamp(base + i, UTC))
        cache.put(TokenCache.key(token), principal)
    return cache


@pytest.mark.parametrize("fill", [_versions, _tokens], ids=["versions", "tokens"])
def test_what_an_entry_is_charged_is_what_it_costs(fill):
    traced, charged = _measured(fill, 50_000)
    # The charge is the budget's unit: within a quarter of the real cost, either way.
    assert 0.75 * traced <= charged <= 1.25 * traced, (traced, charged)


def test_the_budget_holds_and_the_oldest_go_first():
    cache = BoundedCache(100_000, lambda k, v: 1_000)
    for i in range(1_000):
        cache.put(i, i)
        assert cache.bytes <= 100_000
    assert cache.bytes == 1_000 * len(cache)
    assert 98 <= len(cache) <= 100  # evicted a sixty-fourth at a time: nearly full
    assert 999 in cache and 0 not in cache
    assert cache.evictions == 1_000 - len(cache)
    cache.put(999, 5)  # replacing an entry charges it once
    assert cache.bytes == 1_000 * len(cache)
    cache.pop(999)
    cache.pop(999)
    assert cache.bytes == 1_000 * len(cache)
    cache.clear()
    assert cache.bytes == 0 and len(cache) == 0


def test_an_entry_larger_than_the_budget_still_leaves_the_newest():
    cache = BoundedCache(10, lambda k, v: 50)
    cache.put("a", 1)
    cache.put("b", 2)
    assert "b" in cache and "a" not in cache
