"""GET /subscription and POST /subscription/cancel."""

from __future__ import annotations

import re
from datetime import timedelta

from models import OutboxEvent, db
from shield.wire import iso
from tests.factories import subscribe
from tests.subscriptions.conftest import outbox, payloads, subscription_of

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
URL = "/shield/v1/subscription"


def test_get_subscription_shape(app, client, auth):
    with app.app_context():
        sub = subscribe("alice", "pro", "annual")
        sub_id, started = sub.id, sub.started_at
    r = client.get(URL, headers=auth("alice"))
    assert r.status_code == 200, r.json
    body = r.json
    assert set(body) == {
        "subscriptionId",
        "planId",
        "status",
        "billingPeriod",
        "price",
        "startedAt",
        "renewedAt",
        "nextRenewalDate",
        "cancelledAt",
        "coverage",
        "cancellation",
    }
    assert body["subscriptionId"] == sub_id
    assert body["planId"] == "pro" and body["status"] == "active"
    assert body["billingPeriod"] == "annual"
    assert body["price"] == 199  # dollars for the period
    assert body["startedAt"] == iso(started) and ISO_Z.match(body["startedAt"])
    assert body["renewedAt"] is None and body["cancelledAt"] is None
    assert body["nextRenewalDate"] == iso(started.replace(year=started.year + 1))
    assert body["coverage"] == {
        "planId": "pro",
        "annualCap": 600,
        "usedAmount": 0,
        "remainingAmount": 600,
        "ticketsUsed": 0,
        "maxTickets": 6,
        "periodStart": iso(started),
        "periodEnd": iso(started.replace(year=started.year + 1)),
    }
    assert body["cancellation"] == {
        "canCancel": True,
        "restrictionEndDate": None,
        "daysRemaining": None,
    }
    assert r.headers["ETag"] and r.headers["Cache-Control"] == "private, no-cache"


def test_monthly_price_in_dollars_with_cents(app, client, auth):
    with app.app_context():
        subscribe("alice", "basic", "monthly")
    r = client.get(URL, headers=auth("alice"))
    assert r.json["price"] == 9.99


def test_no_subscription_is_404_envelope(client, auth):
    r = client.get(URL, headers=auth("nobody"))
    assert r.status_code == 404
    assert r.json["error"]["code"] == "NOT_FOUND"
    r = client.post(URL + "/cancel", headers=auth("nobody"))
    assert r.status_code == 404 and r.json["error"]["code"] == "NOT_FOUND"


def test_members_only_see_their_own(app, client, auth):
    with app.app_context():
        subscribe("alice", "professional")
    r = client.get(URL, headers=auth("bob"))
    assert r.status_code == 404
    r = client.post(URL + "/cancel", headers=auth("bob"))
    assert r.status_code == 404
    assert client.get(URL, headers=auth("alice")).json["status"] == "active"


def test_etags_differ_between_members(app, client, auth):
    with app.app_context():
        subscribe("alice")
        subscribe("bob")
    a = client.get(URL, headers=auth("alice"))
    b = client.get(URL, headers=auth("bob"))
    assert a.headers["ETag"] != b.headers["ETag"]
    r = client.get(URL, headers=auth("bob", **{"If-None-Match": a.headers["ETag"]}))
    assert r.status_code == 200


def test_cancel_without_payout(app, client, auth):
    with app.app_context():
        sub_id = subscribe("alice", "pro").id
    r = client.post(URL + "/cancel", json={"reason": "moving abroad"}, headers=auth("alice"))
    assert r.status_code == 200, r.json
    assert r.json["status"] == "cancelled"
    assert ISO_Z.match(r.json["cancelledAt"])
    assert r.json["cancellation"]["canCancel"] is False
    with app.app_context():
        assert subscription_of("alice").status == "cancelled"
        [event] = payloads("alice", "subscription_status_changed")
        assert event == {
            "event": "subscription_status_changed",
            "timestamp": r.json["cancelledAt"],
            "data": {
                "subscriptionId": sub_id,
                "previousStatus": "active",
                "newStatus": "cancelled",
                "planId": "pro",
                "effectiveDate": r.json["cancelledAt"],
                "reason": "user_cancelled",
            },
        }
        # Not past_due: no push, no inbox entry.
        [row] = outbox("alice", "subscription_status_changed")
        assert row.push_state == "none"
        assert outbox("alice", "notification_received") == []
    r = client.post(URL + "/cancel", headers=auth("alice"))
    assert r.status_code == 409
    assert r.json["error"]["code"] == "ALREADY_CANCELLED"
    with app.app_context():
        assert len(payloads("alice", "subscription_status_changed")) == 1


def test_cancel_with_empty_body(app, client, auth):
    with app.app_context():
        subscribe("alice")
    r = client.post(URL + "/cancel", headers=auth("alice"))
    assert r.status_code == 200 and r.json["status"] == "cancelled"


def test_cancel_rejects_bad_input_and_writes_nothing(app, client, auth):
    with app.app_context():
        subscribe("alice")
    bad = [
        dict(data="{not json", content_type="application/json"),
        dict(data="reason=x", content_type="text/plain"),
        dict(json=["reason"]),
        dict(json={"reason": 5}),
        dict(json={"reason": ""}),
        dict(json={"reason": "x", "refund": True}),
        dict(json={"reason": "x" * 201}),
    ]
    for kwargs in bad:
        r = client.post(URL + "/cancel", headers=auth("alice"), **kwargs)
        assert 400 <= r.status_code < 500, (kwargs, r.status_code)
        assert "error" in r.json
    with app.app_context():
        assert subscription_of("alice").status == "active"
        assert outbox("alice") == []


def test_cancel_inside_restriction_is_refused_and_changes_nothing(app, client, auth, pay_claim):
    with app.app_context():
        subscribe("alice", "basic")
    pay_claim("alice", 65)
    with app.app_context():
        sub = subscription_of("alice")
        end = sub.last_payout_at + timedelta(days=90)
        events_before = db.session.query(OutboxEvent).count()
        version_before = sub.updated_at
    before = client.get(URL, headers=auth("alice"))
    assert before.json["cancellation"] == {
        "canCancel": False,
        "restrictionEndDate": iso(end),
        "daysRemaining": 90,
    }
    r = client.post(URL + "/cancel", json={"reason": "too expensive"}, headers=auth("alice"))
    assert r.status_code == 409
    assert r.json["error"]["code"] == "CANCELLATION_RESTRICTED"
    assert r.json["error"]["details"] == {"restrictionEndDate": iso(end), "daysRemaining": 90}
    with app.app_context():
        sub = subscription_of("alice")
        assert sub.status == "active" and sub.cancelled_at is None
        assert sub.updated_at == version_before
        assert db.session.query(OutboxEvent).count() == events_before
    after = client.get(URL, headers=auth("alice", **{"If-None-Match": before.headers["ETag"]}))
    assert after.status_code == 304


def test_coverage_reflects_payout(app, client, auth, pay_claim):
    with app.app_context():
        subscribe("alice", "basic")
    pay_claim("alice", 65)  # 65 - 15 deductible = 50 paid
    r = client.get(URL, headers=auth("alice"))
    cov = r.json["coverage"]
    assert (cov["usedAmount"], cov["remainingAmount"], cov["ticketsUsed"]) == (50, 200, 1)
    with app.app_context():
        [event] = payloads("alice", "coverage_updated")
    # Exactly the coverage_updated coverage object.
    assert event["data"]["coverage"] == cov
