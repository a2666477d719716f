"""Where the ETag path reads members' resource versions: the database, or a per-process cache.

`SHIELD_VERSION_CACHE` picks the store (read lazily, in the serving process, on first use):

- `off`: one indexed SELECT per conditional GET (`DatabaseVersionStore`).
- `notify`: a per-process cache kept fresh by PostgreSQL LISTEN/NOTIFY (`NotifyVersionCache`);
  a 304 lags a commit by at most `SHIELD_VERSION_CACHE_MAX_STALENESS` seconds (default 1.0),
  enforced on every read, not hoped for. PostgreSQL only.
- `auto` (the default): `notify` on PostgreSQL, `off` on SQLite.

See cache.py for the argument that the bound holds.
"""

from __future__ import annotations

import logging
import os
import threading

from flask import Flask, current_app

from .cache import CHANNEL, NotifyVersionCache
from .store import FIELDS, DatabaseVersionStore

log = logging.getLogger(__name__)

EXTENSION_KEY = "shield.versions"
MODES = ("off", "notify", "auto")
DEFAULT_MAX_STALENESS = 1.0
DEFAULT_HEARTBEAT = 0.2
# Per process: ~310 bytes a member, so ~240,000 members' versions (docs/performance.md).
DEFAULT_MAX_BYTES = 72 * 1024 * 1024

_DATABASE_STORE = DatabaseVersionStore()
_init_lock = threading.Lock()

__all__ = [
    "CHANNEL",
    "FIELDS",
    "DatabaseVersionStore",
    "NotifyVersionCache",
    "version_store",
    "resolve_mode",
    "stop",
]


def resolve_mode(app: Flask) -> str:
    """The store this app uses: `off` or `notify`."""
    mode = str(app.config.get("SHIELD_VERSION_CACHE") or "auto").strip().lower()
    if mode not in MODES:
        raise RuntimeError(f"SHIELD_VERSION_CACHE must be one of {', '.join(MODES)}, not {mode!r}")
    on_postgres = app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    if mode == "auto":
        return "notify" if on_postgres else "off"
    if mode == "notify" and not on_postgres:
        log.warning("SHIELD_VERSION_CACHE=notify needs PostgreSQL; reading versions from SQLite")
        return "off"
    return mode


def _setting(app: Flask, name: str, default):
    value = app.config.get(name)
    if value is None:
        value = os.environ.get(name) or default
    return value


def _build(app: Flask):
    if resolve_mode(app) == "off":
        return _DATABASE_STORE
    from models import db

    url = db.engine.url.set(drivername="postgresql")
    return NotifyVersionCache(
        url.render_as_string(hide_password=False),
        max_staleness=float(
            _setting(app, "SHIELD_VERSION_CACHE_MAX_STALENESS", DEFAULT_MAX_STALENESS)
        ),
        heartbeat=float(_setting(app, "SHIELD_VERSION_CACHE_HEARTBEAT", DEFAULT_HEARTBEAT)),
        max_bytes=int(_setting(app, "SHIELD_VERSION_CACHE_BYTES", DEFAULT_MAX_BYTES)),
        fallback=_DATABASE_STORE,
    )


def built_store(app: Flask):
    """The app's store if this process has built it already, else None (never builds)."""
    entry = app.extensions.get(EXTENSION_KEY)
    return entry[1] if entry is not None and entry[0] == os.getpid() else None


def version_store():
    """The current app's store, built in this process on first use (after any fork)."""
    app = current_app._get_current_object()
    store = built_store(app)
    if store is not None:
        return store
    pid = os.getpid()
    with _init_lock:
        entry = app.extensions.get(EXTENSION_KEY)
        if entry is None or entry[0] != pid:
            entry = (pid, _build(app))
            app.extensions[EXTENSION_KEY] = entry
    return entry[1]


def stop(app: Flask) -> None:
    """Stop this app's cache listener, if it has one (tests; process exit does it anyway)."""
    entry = app.extensions.pop(EXTENSION_KEY, None)
    if entry is not None and hasattr(entry[1], "stop"):
        entry[1].stop()
