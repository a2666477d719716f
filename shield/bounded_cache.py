"""A dict held to a memory budget in bytes: the per-process caches of tokens and versions.

A count of entries says nothing about memory (a token is ten times a version row), and the
budget that matters is the worker's RSS. Each entry is charged what `size_of(key, value)`
says it costs (sys.getsizeof of its objects plus the dict's own slot, `SLOT_BYTES`); past
`max_bytes` the oldest entries go first, a sixty-fourth of the budget at a time, so an
eviction is rare and cheap and the cache stays nearly full.

Readers take no lock (`get` is a dict lookup); writers hold the owner's lock around `put`,
`pop` and `clear` (the owners have their own reasons to lock: the version cache's epochs).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable
from typing import Any

# What one entry costs the dict itself in CPython 3.11: a 24-byte entry plus its index slot,
# with the table kept at most 2/3 full and doubled as it grows (measured: 40-80 bytes).
SLOT_BYTES = 64
EVICT_FRACTION = 64


def getsize(*objects) -> int:
    """sys.getsizeof summed over the objects given (None and shared singletons cost 0)."""
    return sum(
        sys.getsizeof(o) for o in objects if o is not None and o is not True and o is not False
    )


class BoundedCache:
    def __init__(self, max_bytes: int, size_of: Callable[[Hashable, Any], int]) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._items: dict = {}
        self.bytes = 0
        self.evictions = 0

    def get(self, key):
        return self._items.get(key)

    def __contains__(self, key) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key, value) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= self._size_of(key, old)
        self._items[key] = value
        self.bytes += self._size_of(key, value)
        if self.bytes > self.max_bytes:
            self._evict(self.bytes - self.max_bytes + self.max_bytes // EVICT_FRACTION)

    def pop(self, key) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= self._size_of(key, old)

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0

    def _evict(self, need: int) -> None:
        """Drop the oldest entries (insertion order) until `need` bytes are freed."""
        freed, keys = 0, []
        for key in self._items:
            if freed >= need or len(keys) + 1 >= len(self._items):  # keep the newest
                break
            freed += self._size_of(key, self._items[key])
            keys.append(key)
        for key in keys:
            del self._items[key]
        self.bytes -= freed
        self.evictions += len(keys)
