"""Every event the subscription code emits conforms to the spec, field for field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobs.subscriptions import (
    expire_cancellation_restrictions,
    renew_subscriptions,
    reset_coverage_periods,
)
from models import db
from shield.subscriptions import service
from tests.spec_check import assert_conforms
from tests.subscriptions.conftest import FakeBilling, outbox

START = datetime(2024, 2, 29, 23, 30, tzinfo=UTC)  # leap day: the hardest anniversary


def test_all_subscription_events_conform(app, client, auth):
    admin = auth("root", admin=True)
    base = "/shield/v1/admin/members/{}/subscription"
    for member in ("alice", "bob"):
        r = client.post(
            base.format(member), json={"planId": "basic", "billingPeriod": "monthly"}, headers=admin
        )
        assert r.status_code == 201
    client.post(base.format("alice") + "/plan", json={"planId": "professional"}, headers=admin)
    client.post(base.format("bob") + "/status", json={"status": "inactive"}, headers=admin)
    client.post("/shield/v1/subscription/cancel", json={"reason": "x"}, headers=auth("bob"))
    client.post(base.format("bob") + "/status", json={"status": "active"}, headers=admin)
    with app.app_context():
        for member in ("carol", "dave"):
            sub = service.create_subscription(db.session, member, "pro", "annual", now=START)
            sub.last_payout_at = START + timedelta(days=2)
            sub.restriction_expiry_sent = False
        db.session.commit()
        now = datetime(2025, 3, 1, tzinfo=UTC)
        assert reset_coverage_periods(now=now) == 2
        assert renew_subscriptions(now=now, billing=FakeBilling(ok=False)) >= 2
        service.change_status(db.session, "carol", "active", now=now)
        db.session.commit()
        assert renew_subscriptions(now=now, billing=FakeBilling()) >= 1
        assert expire_cancellation_restrictions(now=now) >= 1
        rows = outbox()
    names = {row.name for row in rows}
    assert names >= {
        "subscription_status_changed",
        "subscription_renewed",
        "coverage_updated",
        "cancellation_restriction_changed",
        "notification_received",
    }
    for row in rows:
        assert_conforms(row.payload, with_ids=False)
