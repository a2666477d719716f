"""Fixtures: an app on a fresh database (SQLite by default, PostgreSQL when DATABASE_URL says
so), a client, and tokens. Tests marked `postgres` run only in the PostgreSQL pass; in CI a
missing PostgreSQL or Redis fails the run instead of skipping."""

from __future__ import annotations

import contextlib
import os
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app import create_app
from models import db
from shield import hot_reads
from shield.auth import issue_token
from shield.config import database_url

TEST_SECRET = "test-secret-0123456789abcdef0123456789"  # noqa: S105
IN_CI = os.environ.get("CI", "").lower() == "true"
BASE_URL = database_url(os.environ.get("DATABASE_URL"))
ON_POSTGRES = bool(BASE_URL and BASE_URL.startswith("postgresql"))
REDIS_URL = os.environ.get("SHIELD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Unset SHIELD_ENV means production; the suite (and anything it starts that inherits this
# environment) runs as `test`. Tests of production pass SHIELD_ENV explicitly.
os.environ["SHIELD_ENV"] = "test"


def pytest_configure(config):
    config.addinivalue_line("markers", "postgres: needs PostgreSQL (runs in the PostgreSQL pass)")
    config.addinivalue_line("markers", "redis: needs a Redis server")


def pytest_collection_modifyitems(config, items):
    if ON_POSTGRES:
        return
    keep, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker("postgres") else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def _service_missing(what: str, exc: Exception):
    message = f"{what}: {exc}" if "does not exist" in what else f"{what} is not reachable: {exc}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def database_uri(tmp_path_factory):
    """A database of our own for this test session (PostgreSQL: created and dropped)."""
    with fresh_database(tmp_path_factory) as uri:
        yield uri


@contextlib.contextmanager
def fresh_database(tmp_path_factory):
    """A new empty database (no tables): a SQLite file, or a PostgreSQL database dropped
    on exit."""
    if not ON_POSTGRES:
        yield "sqlite:///" + str(tmp_path_factory.mktemp("db") / "shield.sqlite3")
        return
    import psycopg

    url = make_url(BASE_URL)
    name = f"shield_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        if "does not exist" in str(exc):  # the server answered: the database is missing
            _service_missing(
                f"PostgreSQL answers, but the database {url.database!r} does not exist "
                f"(createdb -h {url.host} -U {url.username} {url.database})",
                exc,
            )
        _service_missing("PostgreSQL", exc)
    yield url.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def _schema(database_uri):
    app = create_app(_test_config(database_uri))
    with app.app_context():
        db.create_all()
        yield
        db.session.remove()
        db.engine.dispose()


def _test_config(database_uri: str) -> dict:
    return {
        "TESTING": True,
        "SHIELD_ENV": "test",
        "SQLALCHEMY_DATABASE_URI": database_uri,
        "SHIELD_JWT_SECRET": TEST_SECRET,
        "SHIELD_JWT_PUBLIC_KEY": None,
        "SHIELD_JWT_ISSUER": None,
        "SHIELD_JWT_AUDIENCE": None,
        "SHIELD_SCHEDULER": "off",
        "SHIELD_WS_ENABLED": False,
        "SHIELD_SOCKETIO_ENABLED": False,
        "REDIS_URL": None,
        "SHIELD_FCM_SERVICE_ACCOUNT": None,
        "SHIELD_VERSION_CACHE": "off",
    }


def _truncate() -> None:
    tables = list(reversed(db.metadata.sorted_tables))
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture
def make_app(database_uri, _schema):
    """Build apps on the session database (several may share it, like workers)."""
    apps = []

    def factory(**overrides):
        app = create_app(_test_config(database_uri), **overrides)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        hot_reads.dispose(app)


@pytest.fixture
def app(make_app):
    app = make_app()
    with app.app_context():
        _truncate()
    yield app
    with app.app_context():
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def token(app):
    """Mint a bearer token: token("alice"), token("root", admin=True)."""

    def mint(subject: str, *, admin: bool = False, email: str | None = None, **kw) -> str:
        return issue_token(
            app.config, subject, admin=admin, email=email or f"{subject}@example.com", **kw
        )

    return mint


@pytest.fixture
def auth(token):
    """Headers for a subject: auth("alice"), auth("root", admin=True)."""

    def headers(subject: str, *, admin: bool = False, **extra) -> dict:
        return {"Authorization": f"Bearer {token(subject, admin=admin)}", **extra}

    return headers


@pytest.fixture
def redis_url():
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        _service_missing("Redis", exc)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()
