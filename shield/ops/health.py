"""Liveness and readiness: what /healthz and /readyz answer, in the web and jobs processes.

Readiness runs its checks side by side, each with its own short timeout, and the whole under
READY_DEADLINE seconds, so a probe never hangs on a database that does not answer:

- `database`: a connection of its own (never the app's pool, which may be the thing that
  is stuck) answers `SELECT version_num FROM alembic_version` within 2 s;
- `schema`: that version is the migrations' head (`flask --app app db upgrade` otherwise);
- `redis`: when REDIS_URL is set, PING answers within 1 s;
- `version_cache`: where the LISTEN/NOTIFY cache is used, its listener holds its
  connection and was fresh in the last VERSION_CACHE_READY_AGE seconds;
- extra checks a process adds (the jobs process: its scheduler).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from functools import cache

from flask import Flask

READY_DEADLINE = 3.0
DB_TIMEOUT = 2
VERSION_CACHE_READY_AGE = 10.0
MIGRATIONS = os.path.join(os.path.dirname(__file__), "..", "..", "migrations")

Check = Callable[[Flask], str | None]  # None when fine, else what is wrong (one line)

_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


class NotChecked(Exception):
    """A check that depends on another that failed."""


def liveness() -> dict:
    return {"status": "ok"}


@cache
def migration_head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    return ScriptDirectory.from_config(config).get_current_head()


@contextmanager
def short_connection(app: Flask):
    """A connection of its own with short connect and statement timeouts (probes, scrapes)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("postgresql"):
        args = {
            "connect_timeout": DB_TIMEOUT,
            "options": f"-c statement_timeout={DB_TIMEOUT * 1000}",
            "application_name": "shield-probe",
        }
    else:
        args = {"timeout": DB_TIMEOUT}
    engine = create_engine(url, poolclass=NullPool, connect_args=args, hide_parameters=True)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _schema_version(app: Flask) -> str | None:
    """The database's alembic version (None when it was never migrated)."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError, ProgrammingError

    with short_connection(app) as conn:
        conn.execute(text("SELECT 1"))
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except (ProgrammingError, OperationalError):  # no such table
            return None


def _database_checks(app: Flask) -> dict[str, str | None]:
    try:
        version = _schema_version(app)
    except Exception as exc:
        return {"database": _reason(exc), "schema": "not checked: the database did not answer"}
    head = migration_head()
    if version != head:
        found = f"at {version}" if version else "not migrated"
        schema = f"schema {found}, migrations head is {head}: run `flask --app app db upgrade`"
    else:
        schema = None
    return {"database": None, "schema": schema}


def redis_check(app: Flask) -> str | None:
    import redis

    client = redis.Redis.from_url(
        app.config["REDIS_URL"], socket_timeout=1, socket_connect_timeout=1
    )
    try:
        client.ping()
    finally:
        client.close()
    return None


def _uses_version_cache(app: Flask) -> bool:
    from shield.versions import resolve_mode

    return resolve_mode(app) == "notify"


def version_cache_check(app: Flask) -> str | None:
    from shield.versions import built_store, version_store

    store = built_store(app)
    if store is None:  # nothing has used it yet: start it, as the first poll would
        with app.app_context():
            store = version_store()
        store.wait_ready(timeout=1.0)
    if not store.listening():
        return "the LISTEN/NOTIFY listener is not connected (reads fall back to the database)"
    age = store.fresh_age()
    if age > VERSION_CACHE_READY_AGE:
        return f"the LISTEN/NOTIFY cache was last fresh {age:.1f} s ago"
    return None


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text[:200]}"


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():  # threads do not survive a fork
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=8, thread_name_prefix="readyz"))
        return _pool[1]


def run_in_pool(fn, *args):
    """Submit to this process's probe threads (the scrape's outbox queries use them too)."""
    return _executor().submit(fn, *args)


def readiness(
    app: Flask, extra: dict[str, Check] | None = None, *, polls: bool = True
) -> tuple[bool, dict]:
    """Run every check; return (ready, body) where body names each check and what failed.
    `polls`: this process answers polls (the web app), so its version cache counts."""
    started = time.monotonic()
    checks: dict[str, Check] = {}
    if app.config.get("REDIS_URL"):
        checks["redis"] = redis_check
    if polls and _uses_version_cache(app):
        checks["version_cache"] = version_cache_check
    checks.update(extra or {})
    pool = _executor()
    futures = {pool.submit(_database_checks, app): "database"}
    futures.update({pool.submit(fn, app): name for name, fn in checks.items()})
    done, _ = wait(futures, timeout=READY_DEADLINE)
    results: dict[str, str | None] = {}
    for future, name in futures.items():
        if future not in done:
            problem = f"no answer within {READY_DEADLINE:g} s"
            names = ("database", "schema") if name == "database" else (name,)
            results.update(dict.fromkeys(names, problem))
        elif future.exception() is not None:
            results[name] = _reason(future.exception())
        elif name == "database":
            results.update(future.result())
        else:
            results[name] = future.result()
    ready = all(problem is None for problem in results.values())
    body = {
        "status": "ready" if ready else "not ready",
        "checks": {
            name: {"ok": True} if problem is None else {"ok": False, "error": problem}
            for name, problem in results.items()
        },
        "seconds": round(time.monotonic() - started, 3),
    }
    return ready, body
