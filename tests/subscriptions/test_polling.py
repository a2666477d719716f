"""ETag polling of /subscription: 304 while nothing shown changed, never across a change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import shield.polling
from shield.subscriptions.coverage import add_years
from tests.factories import subscribe
from tests.subscriptions.conftest import subscription_of

URL = "/shield/v1/subscription"


@pytest.fixture
def clock(monkeypatch):
    """Freeze the time the polling layer (and so `build(now)`) sees."""
    state = {"now": None}
    monkeypatch.setattr(shield.polling, "utcnow", lambda: state["now"])

    def set_now(moment: datetime) -> None:
        state["now"] = moment

    return set_now


def get(client, auth, etag=None):
    headers = auth("alice", **({"If-None-Match": etag} if etag else {}))
    return client.get(URL, headers=headers)


def test_304_until_days_remaining_changes(app, client, auth, pay_claim, clock):
    with app.app_context():
        subscribe("alice", "basic")
    pay_claim("alice")
    with app.app_context():
        paid = subscription_of("alice").last_payout_at
    end = paid + timedelta(days=90)

    clock(paid + timedelta(hours=1))
    first = get(client, auth)
    assert first.status_code == 200
    assert first.json["cancellation"]["daysRemaining"] == 90
    etag = first.headers["ETag"]

    clock(paid + timedelta(hours=23, minutes=59))
    r = get(client, auth, etag)
    assert r.status_code == 304
    assert r.headers["ETag"] == etag and r.headers["Vary"] == "Authorization"
    assert r.data == b""

    # The instant 89 days are left, the old ETag no longer matches.
    clock(paid + timedelta(days=1))
    r = get(client, auth, etag)
    assert r.status_code == 200
    assert r.json["cancellation"]["daysRemaining"] == 89
    assert r.headers["ETag"] != etag

    # On the last day, then when the restriction ends, canCancel flips with a new ETag.
    clock(end - timedelta(hours=1))
    last = get(client, auth, r.headers["ETag"])
    assert last.status_code == 200 and last.json["cancellation"]["daysRemaining"] == 1
    clock(end - timedelta(seconds=1))
    assert get(client, auth, last.headers["ETag"]).status_code == 304
    clock(end)
    r = get(client, auth, last.headers["ETag"])
    assert r.status_code == 200
    assert r.json["cancellation"] == {
        "canCancel": True,
        "restrictionEndDate": None,
        "daysRemaining": None,
    }


def test_304_stops_at_the_end_of_the_coverage_period(app, client, auth, clock):
    start = datetime(2024, 3, 10, 8, 0, tzinfo=UTC)
    with app.app_context():
        subscribe("alice", "pro", "annual", now=start)
    clock(start + timedelta(days=300))
    r = get(client, auth)
    assert r.json["coverage"]["periodStart"] == "2024-03-10T08:00:00.000Z"
    etag = r.headers["ETag"]
    clock(add_years(start, 1) - timedelta(seconds=1))
    assert get(client, auth, etag).status_code == 304
    clock(add_years(start, 1))
    r = get(client, auth, etag)
    assert r.status_code == 200
    assert r.json["coverage"]["periodStart"] == "2025-03-10T08:00:00.000Z"
    assert r.json["coverage"]["periodEnd"] == "2026-03-10T08:00:00.000Z"


def test_a_change_ends_the_304(app, client, auth):
    with app.app_context():
        subscribe("alice", "basic")
    r = get(client, auth)
    etag = r.headers["ETag"]
    assert get(client, auth, etag).status_code == 304
    admin = auth("root", admin=True)
    r = client.post(
        "/shield/v1/admin/members/alice/subscription/plan", json={"planId": "pro"}, headers=admin
    )
    assert r.status_code == 200, r.json
    r = get(client, auth, etag)
    assert r.status_code == 200 and r.json["planId"] == "pro"
    assert r.json["coverage"]["annualCap"] == 600


def test_get_writes_nothing_for_an_untouched_period(app, client, auth, clock):
    """Showing a new (empty) period must not create it: that is the reset job's event."""
    from models import CoveragePeriod, OutboxEvent, db

    start = datetime(2023, 5, 1, tzinfo=UTC)
    with app.app_context():
        subscribe("alice", "basic", "annual", now=start)
    clock(datetime(2024, 6, 1, tzinfo=UTC))
    r = get(client, auth)
    assert r.json["coverage"]["periodStart"] == "2024-05-01T00:00:00.000Z"
    with app.app_context():
        assert db.session.query(CoveragePeriod).count() == 1
        assert db.session.query(OutboxEvent).count() == 0
