"""Shared bits of the polling tests: statement counting and a member with a claim."""

from __future__ import annotations

from contextlib import ExitStack, contextmanager

from sqlalchemy import event

from models import db
from shield import hot_reads
from tests.factories import claim_body, subscribe

CLAIMS = "/shield/v1/claims"


@contextmanager
def count_statements(app):
    """Collect every SQL statement the app sends while the block runs: through its engine,
    and as hot reads (plain driver statements on `shield.hot_reads`' pool)."""
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
        reads = hot_reads.read_engine(app)
    event.listen(engine, "before_cursor_execute", before)
    with ExitStack() as stack:
        stack.callback(event.remove, engine, "before_cursor_execute", before)
        if reads is not None:
            stack.enter_context(_hot_read_statements(reads, statements))
        yield statements


@contextmanager
def driver_statements():
    """Every statement psycopg sends while the block runs, as (driver connection, SQL)."""
    import psycopg

    sent: list[tuple[object, str]] = []
    execute = psycopg.Cursor.execute

    def recording(cursor, query, *args, **kwargs):
        sent.append((cursor.connection, str(query)))
        return execute(cursor, query, *args, **kwargs)

    psycopg.Cursor.execute = recording
    try:
        yield sent
    finally:
        psycopg.Cursor.execute = execute


@contextmanager
def _hot_read_statements(reads, statements: list[str]):
    pooled: list[object] = []

    def checkout(dbapi_connection, record, proxy):
        pooled.append(dbapi_connection)

    event.listen(reads.pool, "checkout", checkout)
    try:
        with driver_statements() as sent:
            yield
    finally:
        event.remove(reads.pool, "checkout", checkout)
    statements.extend(sql for conn, sql in sent if any(conn is p for p in pooled))


def member_with_claim(app, client, headers, member_id: str) -> dict:
    with app.app_context():
        subscribe(member_id, "basic")
    r = client.post(CLAIMS, json=claim_body(), headers=headers)
    assert r.status_code == 201, r.json
    return r.json


def polled_claims(app, auth, member_id: str = "alice"):
    """A member with a claim whose list poll now answers 304: (client, headers, ETag)."""
    client = app.test_client()
    headers = auth(member_id)
    member_with_claim(app, client, headers, member_id)
    etag = poll(client, headers).headers["ETag"]
    assert poll(client, headers, etag).status_code == 304
    return client, headers, etag


def poll(client, headers, etag: str | None = None, path: str = CLAIMS):
    extra = {"If-None-Match": etag} if etag else {}
    return client.get(path, headers={**headers, **extra})
