"""The ETag rules of the polled GETs, with versions from the database and from the cache."""

from __future__ import annotations

from datetime import timedelta

import pytest

import shield.polling
from models import utcnow
from shield import versions
from shield.polling import CACHE_CONTROL
from tests.polling.helpers import CLAIMS, count_statements, member_with_claim, poll

MODES = ["off", pytest.param("notify", marks=pytest.mark.postgres)]


@pytest.fixture(params=MODES)
def papp(request, app, make_app):
    """An app reading versions the way the parameter says (`app` has emptied the tables)."""
    papp = make_app(
        SHIELD_VERSION_CACHE=request.param,
        SHIELD_VERSION_CACHE_MAX_STALENESS=0.5,
        SHIELD_VERSION_CACHE_HEARTBEAT=0.05,
    )
    yield papp
    versions.stop(papp)


def _ready(app):
    with app.app_context():
        store = versions.version_store()
        assert getattr(store, "wait_ready", lambda timeout: True)(timeout=5)
        return store


def test_304_carries_the_validators_and_etags_differ_between_members(papp, auth):
    client = papp.test_client()
    _ready(papp)
    alice, bob = auth("alice"), auth("bob")
    member_with_claim(papp, client, alice, "alice")
    member_with_claim(papp, client, bob, "bob")
    first = poll(client, alice)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == CACHE_CONTROL
    assert first.headers["Vary"] == "Authorization"
    again = poll(client, alice, etag)
    assert again.status_code == 304
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == CACHE_CONTROL
    assert again.headers["Vary"] == "Authorization"
    assert again.data == b""
    bobs = poll(client, bob)
    assert bobs.status_code == 200 and bobs.headers["ETag"] != etag
    # Alice's ETag is no validator for Bob's list (same shape, other member).
    assert poll(client, bob, etag).status_code == 200
    # Weak comparison and lists, as RFC 9110 asks of If-None-Match.
    assert poll(client, alice, f'"nope", W/{etag}').status_code == 304


def test_a_change_in_this_process_is_seen_by_the_next_poll(papp, auth):
    client = papp.test_client()
    _ready(papp)
    alice = auth("alice")
    claim = member_with_claim(papp, client, alice, "alice")
    etag = poll(client, alice).headers["ETag"]
    assert poll(client, alice, etag).status_code == 304
    r = client.post(
        f"/shield/v1/admin/claims/{claim['claimId']}/approve",
        headers={**auth("root", admin=True), "Idempotency-Key": "a1"},
    )
    assert r.status_code == 200, r.json
    changed = poll(client, alice, etag)  # no wait: read-your-writes within a process
    assert changed.status_code == 200
    assert changed.json["claims"][0]["status"] == "approved"
    assert changed.headers["ETag"] != etag
    assert poll(client, alice, changed.headers["ETag"]).status_code == 304


def test_a_clock_derived_field_is_never_hidden_by_a_304(papp, auth, monkeypatch):
    """`appealable` flips at the appeal deadline without any write: no 304 after it."""
    client = papp.test_client()
    _ready(papp)
    alice = auth("alice")
    claim = member_with_claim(papp, client, alice, "alice")
    r = client.post(
        f"/shield/v1/admin/claims/{claim['claimId']}/deny",
        json={"denialCode": "D005"},
        headers={**auth("root", admin=True), "Idempotency-Key": "d1"},
    )
    assert r.status_code == 200, r.json
    first = poll(client, alice)
    assert first.json["claims"][0]["appealable"] is True
    etag = first.headers["ETag"]
    assert poll(client, alice, etag).status_code == 304
    later = utcnow() + timedelta(days=31)
    monkeypatch.setattr(shield.polling, "utcnow", lambda: later)
    monkeypatch.setattr("shield.claims.schemas.ClaimOut.context_now", lambda self: later)
    after = poll(client, alice, etag)
    assert after.status_code == 200
    assert after.json["claims"][0]["appealable"] is False
    assert after.headers["ETag"] != etag
    # The instant was stored (and the cache told): the new ETag validates again.
    assert poll(client, alice, after.headers["ETag"]).status_code == 304


def test_a_new_member_gets_a_200_and_then_304(papp, auth):
    client = papp.test_client()
    _ready(papp)
    carol = auth("carol")
    first = poll(client, carol)
    assert first.status_code == 200 and first.json == {"claims": [], "count": 0}
    assert poll(client, carol, first.headers["ETag"]).status_code == 304


def test_the_304_path_runs_exactly_one_statement_without_the_cache(make_app, app, auth):
    papp = make_app(SHIELD_VERSION_CACHE="off")
    client = papp.test_client()
    alice = auth("alice")
    member_with_claim(papp, client, alice, "alice")
    etag = poll(client, alice).headers["ETag"]
    with count_statements(papp) as statements:
        r = poll(client, alice, etag)
    assert r.status_code == 304
    assert len(statements) == 1, statements
    assert "resource_versions" in statements[0]


@pytest.mark.postgres
def test_the_304_path_runs_no_statement_with_the_cache(make_app, app, auth):
    papp = make_app(SHIELD_VERSION_CACHE="notify")
    try:
        client = papp.test_client()
        store = _ready(papp)
        alice = auth("alice")
        member_with_claim(papp, client, alice, "alice")
        etag = poll(client, alice).headers["ETag"]
        poll(client, alice, etag)  # loads alice's row if the 200 did not
        with count_statements(papp) as statements:
            responses = [poll(client, alice, etag).status_code for _ in range(20)]
        assert responses == [304] * 20
        assert statements == []
        assert store.stats()["hits"] >= 20
    finally:
        versions.stop(papp)


def test_auto_mode_picks_the_cache_on_postgresql_only(make_app, app):
    papp = make_app(SHIELD_VERSION_CACHE="auto")
    on_postgres = papp.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    expected = "notify" if on_postgres else "off"
    assert versions.resolve_mode(papp) == expected
    assert versions.resolve_mode(make_app(SHIELD_VERSION_CACHE="off")) == "off"
    with pytest.raises(RuntimeError):
        versions.resolve_mode(make_app(SHIELD_VERSION_CACHE="redis"))


def test_unauthenticated_polls_are_refused(client):
    r = client.get(CLAIMS)
    assert r.status_code == 401
    assert r.json["error"]["code"] in {"AUTH_INVALID", "AUTH_REQUIRED"}


def test_the_body_cache_is_off_where_the_version_cache_is(make_app, app):
    from shield.polling import body_cache

    papp = make_app(SHIELD_VERSION_CACHE="off")
    with papp.test_request_context():
        assert body_cache() is None


def test_the_body_cache_is_bounded_by_bytes():
    from shield.polling import BodyCache

    cache = BodyCache(16 * 100)
    for i in range(40):
        cache.put((f'"e{i}"', "/x?"), b"x" * 50)
    assert cache._bytes <= 1600 and len(cache) == 32
    assert cache.get(('"e39"', "/x?")) == b"x" * 50
    assert cache.get(('"e0"', "/x?")) is None  # oldest out first
    cache.put(('"big"', "/x?"), b"x" * 200)  # over 1/16 of the budget: not kept
    assert cache.get(('"big"', "/x?")) is None


@pytest.mark.postgres
def test_a_200_for_an_unchanged_version_comes_from_the_body_cache(make_app, app, auth, monkeypatch):
    papp = make_app(SHIELD_VERSION_CACHE="notify")
    try:
        client = papp.test_client()
        _ready(papp)
        alice = auth("alice")
        claim = member_with_claim(papp, client, alice, "alice")
        first = poll(client, alice)
        with count_statements(papp) as statements:
            again = poll(client, alice)  # no If-None-Match: a client that lost its ETag
        assert again.status_code == 200 and statements == []
        assert again.data == first.data and again.headers["ETag"] == first.headers["ETag"]
        assert again.headers["Cache-Control"] == CACHE_CONTROL
        assert again.mimetype == "application/json"
        # Another URL is another entry, even with the same ETag.
        with count_statements(papp) as statements:
            other = client.get(CLAIMS + "?view=all", headers=alice)
        assert other.status_code == 200 and statements
        # A change makes a new ETag, so the old body is never served for it.
        r = client.post(
            f"/shield/v1/admin/claims/{claim['claimId']}/deny",
            json={"denialCode": "D005"},
            headers={**auth("root", admin=True), "Idempotency-Key": "d2"},
        )
        assert r.status_code == 200, r.json
        changed = poll(client, alice)
        assert changed.json["claims"][0]["status"] == "denied"
        assert changed.json["claims"][0]["appealable"] is True
        assert poll(client, alice).data == changed.data
        # Past the appeal deadline the cached body is not used: appealable flips.
        later = utcnow() + timedelta(days=31)
        monkeypatch.setattr(shield.polling, "utcnow", lambda: later)
        monkeypatch.setattr("shield.claims.schemas.ClaimOut.context_now", lambda self: later)
        flipped = poll(client, alice)
        assert flipped.json["claims"][0]["appealable"] is False
        assert flipped.headers["ETag"] != changed.headers["ETag"]
    finally:
        versions.stop(papp)
