"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

import os
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

from app import create_app
from models import db
from tests.conftest import ON_POSTGRES, _test_config

MIGRATIONS = os.path.join(os.path.dirname(__file__), "..", "..", "migrations")


def test_single_head():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


@pytest.fixture
def empty_database(database_uri, tmp_path):
    if not ON_POSTGRES:
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    import psycopg

    url = make_url(database_uri)
    name = f"shield_mig_{uuid.uuid4().hex[:10]}"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrations_match_models(empty_database):
    app = create_app(_test_config(empty_database))
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
        db.engine.dispose()
    assert diff == [], diff


def test_statement_sequence_backfill_follows_the_balances(empty_database):
    """Rows written before the wallet seq get the order their balances tell, not their
    timestamps: a payouts run stamped with one time, and a debit stamped before it."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text

    t = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    # (id, amount, balance_after, created_at): alice's true order is p1 p2 p3 w1 r1; the
    # ids and times say otherwise. bob goes back to 0 and up again; carol has no rows.
    rows = {
        "alice": [
            ("txn_c", 4000, 4000, t),
            ("txn_a", 2500, 6500, t),
            ("txn_b", 1000, 7500, t),
            ("txn_0", -3000, 4500, t - timedelta(minutes=5)),
            ("txn_z", 3000, 7500, t + timedelta(minutes=1)),
        ],
        "bob": [
            ("txn_b1", 1000, 1000, t),
            ("txn_b2", -1000, 0, t + timedelta(seconds=1)),
            ("txn_b3", 500, 500, t + timedelta(seconds=2)),
        ],
        "carol": [],
    }
    balances = {"alice": 7500, "bob": 500, "carol": 0}
    app = create_app(_test_config(empty_database))
    with app.app_context():
        upgrade(revision="c4d8e2f1a7b3")
        with db.engine.begin() as conn:
            for member_id, txns in rows.items():
                conn.execute(
                    text(
                        "INSERT INTO members (id, email, role, push_enabled, created_at) "
                        "VALUES (:id, :id, 'member', true, :t)"
                    ),
                    {"id": member_id, "t": t},
                )
                conn.execute(
                    text(
                        "INSERT INTO wallets (member_id, balance_cents, updated_at) "
                        "VALUES (:id, :balance, :t)"
                    ),
                    {"id": member_id, "balance": balances[member_id], "t": t},
                )
                for txn_id, amount, after, at in txns:
                    conn.execute(
                        text(
                            "INSERT INTO wallet_transactions (id, member_id, type, amount_cents,"
                            " balance_after_cents, description, created_at) VALUES (:id, :m,"
                            " 'payout', :amount, :after, '', :at)"
                        ),
                        {"id": txn_id, "m": member_id, "amount": amount, "after": after, "at": at},
                    )
        upgrade()
        with db.engine.connect() as conn:
            order = {
                member_id: conn.execute(
                    text(
                        "SELECT id, amount_cents, balance_after_cents, seq FROM "
                        "wallet_transactions WHERE member_id = :m ORDER BY seq"
                    ),
                    {"m": member_id},
                ).all()
                for member_id in rows
            }
            last = dict(conn.execute(text("SELECT member_id, last_seq FROM wallets")).all())
        db.engine.dispose()
    assert [r.id for r in order["alice"]] == ["txn_c", "txn_a", "txn_b", "txn_0", "txn_z"]
    assert [r.id for r in order["bob"]] == ["txn_b1", "txn_b2", "txn_b3"]
    assert order["carol"] == []
    for member_id, txns in order.items():
        assert [r.seq for r in txns] == list(range(1, len(txns) + 1))
        running = 0
        for row in txns:
            running += row.amount_cents
            assert row.balance_after_cents == running
        assert running == balances[member_id]
    assert last == {"alice": 5, "bob": 3, "carol": 0}
