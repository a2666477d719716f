"""How the hub runs work apart from the caller: writers (gevent greenlets or a small thread
pool) and short-lived greenlets for a socket handler's deep calls."""

from __future__ import annotations

import contextvars
import sys
from concurrent.futures import ThreadPoolExecutor


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


def gevent_patched() -> bool:
    """Is this a gevent-patched worker (gunicorn -k gevent)?"""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("threading")
