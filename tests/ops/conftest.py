"""A database built by the migrations (readiness wants the schema at the migration head)."""

from __future__ import annotations

import uuid

import pytest
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

from app import create_app
from models import db
from tests.conftest import ON_POSTGRES, _test_config


@pytest.fixture(scope="module")
def migrated_uri(database_uri, tmp_path_factory):
    """A database of its own (PostgreSQL: beside the session's), upgraded to head."""
    if ON_POSTGRES:
        import psycopg

        url = make_url(database_uri)
        name = f"shield_ops_{uuid.uuid4().hex[:10]}"
        admin = url.set(drivername="postgresql", database="postgres").render_as_string(
            hide_password=False
        )
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        uri = url.set(database=name).render_as_string(hide_password=False)
    else:
        uri = f"sqlite:///{tmp_path_factory.mktemp('ops') / 'migrated.sqlite3'}"
    app = create_app(_test_config(uri))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    yield uri
    if ON_POSTGRES:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def migrated_app(migrated_uri):
    app = create_app(_test_config(migrated_uri))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    from tests.processes import free_port

    return free_port()
