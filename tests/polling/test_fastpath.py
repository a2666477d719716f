"""The polls' 304 before Flask (`shield.polling_fastpath`): the same answer as Flask's path,
and only where Flask's path would give it."""

from __future__ import annotations

import time

import pytest

from models import db
from shield import versions
from shield.events import bump
from shield.polling_fastpath import PollFastPath
from tests.factories import subscribe
from tests.polling.helpers import CLAIMS, member_with_claim, poll, polled_claims

pytestmark = pytest.mark.postgres  # the fast path needs the LISTEN/NOTIFY version cache

POLLED = [CLAIMS, "/shield/v1/wallet", "/shield/v1/subscription"]


@pytest.fixture
def two_apps(app, make_app):
    """The same database behind an app with the fast path and one without."""
    fast = make_app(SHIELD_VERSION_CACHE="notify")
    slow = make_app(SHIELD_VERSION_CACHE="notify", SHIELD_POLL_FASTPATH="0")
    for each in (fast, slow):
        with each.app_context():
            assert versions.version_store().wait_ready(timeout=5)
    yield fast, slow
    versions.stop(fast)
    versions.stop(slow)


def _answered(app) -> int:
    return app.wsgi_app.answered


def _until_fast(app, client, headers, etag: str, path: str, timeout: float = 5.0):
    """Repeat a poll until the fast path answers it: after a 200 that stored a clock instant,
    the member's cached versions are reloaded once the NOTIFY of that write arrives."""
    deadline = time.monotonic() + timeout
    while True:
        before = _answered(app)
        response = poll(client, headers, etag, path=path)
        if _answered(app) == before + 1 or time.monotonic() > deadline:
            assert _answered(app) == before + 1, "the fast path never answered"
            return response
        time.sleep(0.02)


def test_the_fast_304_is_the_304_flask_gives(two_apps, auth):
    fast, slow = two_apps
    assert isinstance(fast.wsgi_app, PollFastPath)
    assert not isinstance(slow.wsgi_app, PollFastPath)
    alice = auth("alice")
    member_with_claim(fast, fast.test_client(), alice, "alice")
    for path in POLLED:
        answers = {}
        for name, each in (("fast", fast), ("slow", slow)):
            client = each.test_client()
            etag = poll(client, alice, path=path).headers["ETag"]
            # The same X-Request-ID in: both keep it, so every header must match.
            traced = {**alice, "X-Request-ID": "poll-1"}
            if name == "fast":
                r = _until_fast(fast, client, traced, etag, path)
            else:
                r = poll(client, traced, etag, path=path)
            answers[name] = (r.status_code, sorted(r.headers.items()), r.data)
        assert answers["fast"] == answers["slow"], path
        assert answers["fast"][0] == 304 and answers["fast"][2] == b""


def test_anything_but_an_unchanged_poll_goes_to_flask(two_apps, auth):
    fast, _ = two_apps
    client, alice, etag = polled_claims(fast, auth)
    answered = _answered(fast)
    # No If-None-Match, another ETag, a query string, another method: Flask answers.
    assert poll(client, alice).status_code == 200
    assert poll(client, alice, '"something-else"').status_code == 200
    assert client.get(CLAIMS + "?x=1", headers={**alice, "If-None-Match": etag}).status_code == 304
    assert client.head(CLAIMS, headers={**alice, "If-None-Match": etag}).status_code == 304
    # A token this process never verified: Flask checks it (a forged one gets a 401).
    forged = {"Authorization": alice["Authorization"][:-4] + "AAAA", "If-None-Match": etag}
    assert client.get(CLAIMS, headers=forged).status_code == 401
    assert _answered(fast) == answered
    # A change: the cache learns it by NOTIFY, the fast path stops matching, Flask sends 200.
    with fast.app_context():
        bump(db.session, "alice", "claims")
        db.session.commit()
    deadline = time.monotonic() + 5
    while poll(client, alice, etag).status_code == 304 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert poll(client, alice, etag).status_code == 200


def test_a_stale_cache_sends_the_poll_to_flask(two_apps, auth, monkeypatch):
    fast, _ = two_apps
    client = fast.test_client()
    alice = auth("alice")
    with fast.app_context():
        subscribe("alice", "basic")
    etag = poll(client, alice, path="/shield/v1/wallet").headers["ETag"]
    assert poll(client, alice, etag, path="/shield/v1/wallet").status_code == 304
    with fast.app_context():
        store = versions.version_store()
    monkeypatch.setattr(store, "max_staleness", -1.0)  # as if NOTIFY had gone quiet
    assert store.peek("alice", "wallet") is None
    answered = _answered(fast)
    assert poll(client, alice, etag, path="/shield/v1/wallet").status_code == 304  # from Flask
    assert _answered(fast) == answered


def test_left_out_where_the_socket_addon_runs_unless_asked_for(make_app, app):
    # Each socket's handler would keep the layer's frame for its whole life (~0.8 KB).
    assert not isinstance(make_app(SHIELD_WS_ENABLED=True).wsgi_app, PollFastPath)
    both = make_app(SHIELD_WS_ENABLED=True, SHIELD_POLL_FASTPATH="1")
    assert isinstance(both.wsgi_app, PollFastPath)
    assert isinstance(make_app().wsgi_app, PollFastPath)
