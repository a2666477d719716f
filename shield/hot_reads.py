"""Reads on the polling hot path: one prepared statement on a pooled autocommit connection.

Measured on the claims list's 200 (bench, PostgreSQL): running its one SELECT through
SQLAlchemy cost about 570 us of CPU per request, of which the driver's own work was under
100 us; the rest was the pool's pre-ping round trip, building and cache-keying the
statement, switching the connection to autocommit and back, and result processing. On
PostgreSQL a hot read therefore runs as plain SQL on a pool of its own:

- autocommit connections (no BEGIN/ROLLBACK around a single SELECT),
- no pre-ping: a connection that died is found by the read itself, thrown away, and the read
  retried once on a fresh connection (a read is safe to repeat),
- the SQL compiled once per statement and prepared server-side (psycopg `prepare=True`).

Values come back as the driver gives them (no SQLAlchemy type processing): callers only
compare datetimes, which are aware on PostgreSQL. On other engines (SQLite, the embedded
default) the same statement runs through the session with full type processing.
"""

from __future__ import annotations

import os
import threading

from flask import Flask, current_app
from sqlalchemy import Select, create_engine
from sqlalchemy.engine import Engine

from models import db

EXTENSION_KEY = "shield.hot_reads"
_lock = threading.Lock()


class HotQuery:
    """A SELECT with named bind parameters, compiled once for the read pool's dialect."""

    def __init__(self, statement: Select) -> None:
        self.statement = statement
        self._sql: str | None = None

    def sql(self, engine: Engine) -> str:
        if self._sql is None:
            with _lock:
                compiled = self.statement.compile(dialect=engine.dialect)
                self._sql = str(compiled)
        return self._sql


def read_engine(app: Flask) -> Engine | None:
    """The app's hot-read pool (PostgreSQL only; None elsewhere), one per process."""
    entry = app.extensions.get(EXTENSION_KEY)
    if entry is not None and entry[0] == os.getpid():
        return entry[1] or None
    with _lock:
        entry = app.extensions.get(EXTENSION_KEY)
        if entry is not None and entry[0] == os.getpid():
            return entry[1] or None
        url = db.engine.url
        if url.get_backend_name() != "postgresql" or url.get_driver_name() != "psycopg":
            engine = False
        else:
            options = app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
            engine = create_engine(
                url,
                isolation_level="AUTOCOMMIT",
                pool_pre_ping=False,
                pool_reset_on_return=None,  # autocommit: nothing to roll back
                pool_size=options.get("pool_size", 10),
                max_overflow=options.get("max_overflow", 20),
                hide_parameters=True,
            )
        app.extensions[EXTENSION_KEY] = (os.getpid(), engine)
    return engine or None


def fetch_all(query: HotQuery, params: dict) -> list[tuple]:
    """Run `query` and return its rows as tuples."""
    engine = read_engine(current_app)
    if engine is None:
        return [tuple(row) for row in db.session.execute(query.statement, params)]
    sql = query.sql(engine)
    for attempt in (1, 2):
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(sql, params, prepare=True)
            rows = cursor.fetchall()
            cursor.close()
            return rows
        except engine.dialect.loaded_dbapi.OperationalError:
            # The server closed this connection (restart, idle timeout): drop it, try once more.
            connection.invalidate()
            if attempt == 2:
                raise
        finally:
            connection.close()
    raise AssertionError("unreachable")


def dispose(app: Flask) -> None:
    entry = app.extensions.pop(EXTENSION_KEY, None)
    if entry and entry[1] and entry[0] == os.getpid():
        entry[1].dispose()
