"""Admin subscription routes: create, read, status and plan changes, and their events."""

from __future__ import annotations

import pytest

from models import Member, Subscription, db
from shield.wire import iso
from tests.factories import subscribe
from tests.subscriptions.conftest import outbox, payloads, subscription_of

BASE = "/shield/v1/admin/members/{}/subscription"


@pytest.fixture
def admin(auth):
    return auth("root", admin=True)


def test_create_subscription(app, client, admin):
    r = client.post(
        BASE.format("carol"),
        json={"planId": "professional", "billingPeriod": "monthly"},
        headers=admin,
    )
    assert r.status_code == 201, r.json
    body = r.json
    assert body["userId"] == "carol" and body["planId"] == "professional"
    assert body["billingPeriod"] == "monthly" and body["price"] == 39.99
    assert body["status"] == "active"
    assert body["coverage"]["annualCap"] == 1500 and body["coverage"]["maxTickets"] == 15
    with app.app_context():
        assert db.session.get(Member, "carol") is not None
        [event] = payloads("carol", "subscription_status_changed")
        assert event["data"] == {
            "subscriptionId": body["subscriptionId"],
            "previousStatus": "inactive",
            "newStatus": "active",
            "planId": "professional",
            "effectiveDate": body["startedAt"],
            "reason": "subscription_created",
        }
    r = client.get(BASE.format("carol"), headers=admin)
    assert r.status_code == 200 and r.json == body
    r = client.post(
        BASE.format("carol"), json={"planId": "basic", "billingPeriod": "annual"}, headers=admin
    )
    assert r.status_code == 409 and r.json["error"]["code"] == "CONFLICT"
    with app.app_context():
        assert subscription_of("carol").plan_id == "professional"


@pytest.mark.parametrize(
    "body",
    [
        {"planId": "gold", "billingPeriod": "monthly"},
        {"planId": "basic", "billingPeriod": "weekly"},
        {"planId": "basic"},
        {"billingPeriod": "annual"},
        {"planId": 1, "billingPeriod": "annual"},
        {"planId": "basic", "billingPeriod": "annual", "trial": True},
        [],
    ],
)
def test_create_rejects_bad_bodies(app, client, admin, body):
    r = client.post(BASE.format("dave"), json=body, headers=admin)
    assert r.status_code == (422 if isinstance(body, dict) else 400)
    with app.app_context():
        assert db.session.query(Subscription).count() == 0
        assert db.session.get(Member, "dave") is None


def test_create_rejects_bad_json(app, client, admin):
    r = client.post(BASE.format("dave"), data="{", content_type="application/json", headers=admin)
    assert r.status_code == 400 and r.json["error"]["code"] == "INVALID_PAYLOAD"
    r = client.post(BASE.format("dave"), data="planId=basic", headers=admin)
    assert r.status_code == 415


def test_get_unknown_member_is_404(client, admin):
    r = client.get(BASE.format("ghost"), headers=admin)
    assert r.status_code == 404 and r.json["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("post", "", {"planId": "basic", "billingPeriod": "monthly"}),
        ("get", "", None),
        ("post", "/status", {"status": "cancelled"}),
        ("post", "/plan", {"planId": "professional"}),
    ],
)
def test_members_get_403(app, client, auth, method, path, body):
    with app.app_context():
        subscribe("alice", "basic")
    r = getattr(client, method)(BASE.format("alice") + path, json=body, headers=auth("alice"))
    assert r.status_code == 403 and r.json["error"]["code"] == "NOT_AUTHORIZED"
    with app.app_context():
        sub = subscription_of("alice")
        assert (sub.status, sub.plan_id) == ("active", "basic")
        assert outbox("alice") == []


def test_status_change_to_past_due_pushes_and_goes_to_inbox(app, client, admin):
    with app.app_context():
        sub_id = subscribe("alice", "pro").id
    r = client.post(
        BASE.format("alice") + "/status",
        json={"status": "past_due", "reason": "payment_failed"},
        headers=admin,
    )
    assert r.status_code == 200, r.json
    assert r.json["status"] == "past_due"
    with app.app_context():
        [row] = outbox("alice", "subscription_status_changed")
        assert row.push_state == "pending"
        assert row.payload["data"] == {
            "subscriptionId": sub_id,
            "previousStatus": "active",
            "newStatus": "past_due",
            "planId": "pro",
            "effectiveDate": row.payload["timestamp"],
            "reason": "payment_failed",
        }
        [inbox] = payloads("alice", "notification_received")
        assert inbox["data"]["notification"]["title"] == "Payment failed"
        assert inbox["data"]["unreadCount"] == 1


def test_status_change_without_reason_and_unchanged_is_409(app, client, admin):
    with app.app_context():
        subscribe("alice", "basic")
    r = client.post(BASE.format("alice") + "/status", json={"status": "inactive"}, headers=admin)
    assert r.status_code == 200
    with app.app_context():
        [event] = payloads("alice", "subscription_status_changed")
        assert "reason" not in event["data"]
        assert event["data"]["previousStatus"] == "active"
        assert event["data"]["newStatus"] == "inactive"
        assert outbox("alice", "notification_received") == []
    r = client.post(BASE.format("alice") + "/status", json={"status": "inactive"}, headers=admin)
    assert r.status_code == 409
    with app.app_context():
        assert len(payloads("alice", "subscription_status_changed")) == 1


def test_cancel_then_reactivate_clears_cancelled_at(app, client, admin):
    with app.app_context():
        subscribe("alice")
    r = client.post(BASE.format("alice") + "/status", json={"status": "cancelled"}, headers=admin)
    assert r.json["cancelledAt"] is not None
    r = client.post(BASE.format("alice") + "/status", json={"status": "active"}, headers=admin)
    assert r.json["cancelledAt"] is None and r.json["status"] == "active"


@pytest.mark.parametrize(
    "body",
    [
        {"status": "paused"},
        {},
        {"status": None},
        {"status": "active", "reason": "Bad Reason!"},
        {"status": "active", "extra": 1},
    ],
)
def test_status_rejects_bad_bodies(app, client, admin, body):
    with app.app_context():
        subscribe("alice")
    r = client.post(BASE.format("alice") + "/status", json=body, headers=admin)
    assert r.status_code == 422
    with app.app_context():
        assert subscription_of("alice").status == "active"
        assert outbox("alice") == []


def test_status_of_member_without_subscription_is_404(client, admin):
    r = client.post(BASE.format("ghost") + "/status", json={"status": "active"}, headers=admin)
    assert r.status_code == 404


def test_plan_change_applies_new_cap_at_once(app, client, auth, admin, pay_claim):
    with app.app_context():
        subscribe("alice", "basic")
    pay_claim("alice", 65)  # 50 used of basic's 250
    r = client.post(BASE.format("alice") + "/plan", json={"planId": "pro"}, headers=admin)
    assert r.status_code == 200, r.json
    assert r.json["planId"] == "pro" and r.json["price"] == 19.99
    with app.app_context():
        sub = subscription_of("alice")
        [event] = [
            p
            for p in payloads("alice", "coverage_updated")
            if p["data"]["changeReason"] == "plan_upgrade"
        ]
    assert event == {
        "event": "coverage_updated",
        "timestamp": event["timestamp"],
        "data": {
            "coverage": {
                "planId": "pro",
                "annualCap": 600,
                "usedAmount": 50,
                "remainingAmount": 550,
                "ticketsUsed": 1,
                "maxTickets": 6,
                "periodStart": iso(sub.started_at),
                "periodEnd": r.json["coverage"]["periodEnd"],
            },
            "changeReason": "plan_upgrade",
        },
    }
    assert r.json["coverage"] == event["data"]["coverage"]
    assert (
        client.get("/shield/v1/subscription", headers=auth("alice")).json["coverage"]
        == event["data"]["coverage"]
    )
    r = client.post(BASE.format("alice") + "/plan", json={"planId": "pro"}, headers=admin)
    assert r.status_code == 409


@pytest.mark.parametrize("body", [{"planId": "platinum"}, {}, {"planId": ["pro"]}])
def test_plan_rejects_bad_bodies(app, client, admin, body):
    with app.app_context():
        subscribe("alice", "basic")
    r = client.post(BASE.format("alice") + "/plan", json=body, headers=admin)
    assert r.status_code == 422
    with app.app_context():
        assert subscription_of("alice").plan_id == "basic"
        assert outbox("alice") == []


def test_overlong_member_id_is_404(client, admin):
    r = client.get(BASE.format("x" * 200), headers=admin)
    assert r.status_code == 404
