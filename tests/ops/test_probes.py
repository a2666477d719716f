"""/healthz answers without I/O; /readyz names what is not ready and never hangs."""

from __future__ import annotations

import time

from app import create_app
from tests.conftest import _test_config

from .conftest import closed_port


def test_healthz_is_200_json_without_touching_the_database():
    app = create_app(
        _test_config(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/nothing")
    )
    r = app.test_client().get("/healthz")
    assert r.status_code == 200
    assert r.json == {"status": "ok"}


def test_readyz_is_200_on_a_migrated_database(migrated_app):
    r = migrated_app.test_client().get("/readyz")
    assert r.status_code == 200, r.json
    assert r.json["status"] == "ready"
    assert r.json["checks"]["database"] == {"ok": True}
    assert r.json["checks"]["schema"] == {"ok": True}
    assert r.headers["Cache-Control"] == "no-store"


def test_readyz_is_503_when_the_schema_is_not_at_the_head(app):
    """The session database is built by create_all: no migration was ever applied."""
    r = app.test_client().get("/readyz")
    assert r.status_code == 503
    assert r.json["checks"]["database"] == {"ok": True}
    assert not r.json["checks"]["schema"]["ok"]
    assert "flask --app app db upgrade" in r.json["checks"]["schema"]["error"]


def test_readyz_is_503_within_5_s_when_the_database_port_is_closed():
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/shield"
    app = create_app(_test_config(url))
    started = time.monotonic()
    r = app.test_client().get("/readyz")
    assert time.monotonic() - started < 5
    assert r.status_code == 503
    assert r.json["status"] == "not ready"
    assert not r.json["checks"]["database"]["ok"]
    assert "OperationalError" in r.json["checks"]["database"]["error"]
    assert r.json["checks"]["schema"] == {
        "ok": False,
        "error": "not checked: the database did not answer",
    }


def test_readyz_names_redis_when_it_is_configured_and_down(migrated_uri):
    app = create_app(_test_config(migrated_uri), REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")
    started = time.monotonic()
    r = app.test_client().get("/readyz")
    assert time.monotonic() - started < 5
    assert r.status_code == 503
    assert r.json["checks"]["schema"] == {"ok": True}
    assert not r.json["checks"]["redis"]["ok"]


def test_readyz_checks_redis_when_it_answers(migrated_uri, redis_url):
    app = create_app(_test_config(migrated_uri), REDIS_URL=redis_url)
    r = app.test_client().get("/readyz")
    assert r.status_code == 200, r.json
    assert r.json["checks"]["redis"] == {"ok": True}


def test_request_ids_are_kept_or_made(client):
    r = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42"})
    assert r.headers["X-Request-ID"] == "lb-7f3a.42"
    made = {client.get("/healthz").headers["X-Request-ID"] for _ in range(3)}
    assert len(made) == 3
    # Anything that is not a plausible id (too long, odd characters) is replaced, not echoed.
    for odd in ("x" * 65, "a b", "id\u00e9"):
        answered = client.get("/healthz", headers={"X-Request-ID": odd}).headers["X-Request-ID"]
        assert answered != odd and answered


def test_readyz_checks_the_version_cache_listener_where_it_is_used(migrated_uri):
    from tests.conftest import ON_POSTGRES

    app = create_app(_test_config(migrated_uri), SHIELD_VERSION_CACHE="auto")
    r = app.test_client().get("/readyz")
    assert r.status_code == 200, r.json
    if not ON_POSTGRES:  # SQLite: no cache, no check
        assert "version_cache" not in r.json["checks"]
        return
    from shield import versions

    try:
        assert r.json["checks"]["version_cache"] == {"ok": True}
        with app.app_context():
            store = versions.version_store()
        store.stop()  # the listener is gone: reads would fall back to the database
        r = app.test_client().get("/readyz")
        assert r.status_code == 503
        assert "listener is not connected" in r.json["checks"]["version_cache"]["error"]
    finally:
        versions.stop(app)
