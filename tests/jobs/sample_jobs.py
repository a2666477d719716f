"""Tiny jobs for the scheduler tests (named by dotted path like the real ones)."""

from __future__ import annotations

import threading

calls: dict[str, int] = {}
called = threading.Condition()


def _count(name: str) -> None:
    with called:
        calls[name] = calls.get(name, 0) + 1
        called.notify_all()


def count(now=None) -> int:
    _count("count")
    return 3


def boom(now=None) -> int:
    _count("boom")
    raise RuntimeError("boom")


def wait_for(name: str, times: int, timeout: float) -> bool:
    with called:
        return called.wait_for(lambda: calls.get(name, 0) >= times, timeout=timeout)
