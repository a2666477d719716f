"""The hot-read pool behind the claims list's 200: same rows, one round trip, survives a
connection the server dropped."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from models import db
from shield import hot_reads
from tests.polling.helpers import driver_statements, member_with_claim, poll


def test_the_list_is_the_same_on_every_engine(app, auth):
    client = app.test_client()
    headers = auth("alice")
    first = member_with_claim(app, client, headers, "alice")
    r = poll(client, headers)
    assert r.status_code == 200
    assert r.json["count"] == 1
    assert r.json["claims"][0] == first
    with app.app_context():
        engine = hot_reads.read_engine(app)
        assert (engine is None) == (db.engine.dialect.name != "postgresql")


@pytest.mark.postgres
def test_the_list_is_one_statement_on_an_autocommit_connection(app, auth):
    client = app.test_client()
    headers = auth("alice")
    member_with_claim(app, client, headers, "alice")
    assert poll(client, headers).status_code == 200  # the pool's first connection
    with driver_statements() as sent:
        assert poll(client, headers).status_code == 200
    reads = [(conn, sql) for conn, sql in sent if "FROM claims" in sql]
    assert len(reads) == 1
    on_that_connection = [sql for conn, sql in sent if conn is reads[0][0]]
    assert on_that_connection == [reads[0][1]]  # no pre-ping before it
    with app.app_context():
        raw = hot_reads.read_engine(app).raw_connection()
        assert raw.driver_connection.autocommit is True
        raw.close()


@pytest.mark.postgres
def test_a_connection_the_server_dropped_is_replaced_and_the_read_retried(app, auth):
    client = app.test_client()
    headers = auth("alice")
    member_with_claim(app, client, headers, "alice")
    assert poll(client, headers).status_code == 200
    with app.app_context():
        engine = hot_reads.read_engine(app)
        raw = engine.raw_connection()
        pid = raw.driver_connection.info.backend_pid
        raw.close()  # back to the pool, where the next read will find it
        db.session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        db.session.commit()
    r = poll(client, headers)
    assert r.status_code == 200, r.json
    assert r.json["count"] == 1
    with app.app_context():
        raw = engine.raw_connection()
        assert raw.driver_connection.info.backend_pid != pid
        raw.close()


def test_dispose_forgets_the_pool(app):
    with app.app_context():
        hot_reads.read_engine(app)
    hot_reads.dispose(app)
    assert hot_reads.EXTENSION_KEY not in app.extensions
