"""Shared bits of the polling tests: statement counting and a member with a claim."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from models import db
from tests.factories import claim_body, subscribe

CLAIMS = "/shield/v1/claims"


@contextmanager
def count_statements(app):
    """Collect every SQL statement the app's engine sends while the block runs."""
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def member_with_claim(app, client, headers, member_id: str) -> dict:
    with app.app_context():
        subscribe(member_id, "basic")
    r = client.post(CLAIMS, json=claim_body(), headers=headers)
    assert r.status_code == 201, r.json
    return r.json


def poll(client, headers, etag: str | None = None, path: str = CLAIMS):
    extra = {"If-None-Match": etag} if etag else {}
    return client.get(path, headers={**headers, **extra})
