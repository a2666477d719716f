"""The subscription jobs: renewals, coverage-period resets, restriction expiry."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from jobs.subscriptions import (
    expire_cancellation_restrictions,
    renew_subscriptions,
    reset_coverage_periods,
)
from models import CoveragePeriod, EventSequence, OutboxEvent, db
from shield.subscriptions import service
from shield.subscriptions.billing import EXTENSION_KEY, ChargeResult
from shield.subscriptions.coverage import current_period
from shield.wire import iso
from tests.factories import subscribe
from tests.subscriptions.conftest import FakeBilling, outbox, payloads, subscription_of

START = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


def test_renewal_success_emits_subscription_renewed(app, ctx):
    sub_id = subscribe("alice", "basic", "monthly", now=START).id
    billing = FakeBilling()
    now = START + timedelta(days=31)
    assert renew_subscriptions(now=now, billing=billing) == 1
    assert billing.charges == [(sub_id, 999)]
    sub = subscription_of("alice")
    assert sub.status == "active" and sub.renewed_at == now
    assert sub.next_renewal_at == datetime(2025, 3, 15, 12, 0, tzinfo=UTC)
    [event] = payloads("alice", "subscription_renewed")
    assert event == {
        "event": "subscription_renewed",
        "timestamp": iso(now),
        "data": {
            "subscriptionId": sub_id,
            "planId": "basic",
            "billingPeriod": "monthly",
            "renewedAt": iso(now),
            "nextRenewalDate": "2025-03-15T12:00:00.000Z",
            "amountCharged": 9.99,
            "coverage": {
                "annualCap": 250,
                "remainingAmount": 250,
                "ticketsUsed": 0,
                "maxTickets": 3,
                "periodStart": "2025-01-15T12:00:00.000Z",
                "periodEnd": "2026-01-15T12:00:00.000Z",
            },
        },
    }
    # Nothing due any more: a second run charges and emits nothing.
    assert renew_subscriptions(now=now, billing=billing) == 0
    assert len(billing.charges) == 1
    assert len(payloads("alice", "subscription_renewed")) == 1


def test_renewal_coverage_shows_usage(app, ctx):
    subscribe("alice", "pro", "monthly", now=START)
    sub = subscription_of("alice")
    period = current_period(db.session, sub, START)
    period.used_cents, period.tickets_used = 12_550, 2
    db.session.commit()
    renew_subscriptions(now=START + timedelta(days=40), billing=FakeBilling())
    [event] = payloads("alice", "subscription_renewed")
    assert event["data"]["coverage"]["remainingAmount"] == 474.5
    assert event["data"]["coverage"]["ticketsUsed"] == 2


def test_not_yet_due_and_inactive_subscriptions_are_left_alone(app, ctx):
    subscribe("alice", "basic", "monthly", now=START)
    subscribe("bob", "basic", "monthly", now=START)
    service.change_status(db.session, "bob", "cancelled", now=START)
    db.session.commit()
    billing = FakeBilling()
    assert renew_subscriptions(now=START + timedelta(days=30), billing=billing) == 0
    assert renew_subscriptions(now=START + timedelta(days=32), billing=billing) == 1
    assert [sub_id for sub_id, _ in billing.charges] == [subscription_of("alice").id]


def test_failed_charge_moves_to_past_due(app, ctx):
    sub_id = subscribe("alice", "pro", "annual", now=START).id
    app.extensions[EXTENSION_KEY] = FakeBilling(ok=False, reason="card_declined")
    now = datetime(2026, 1, 15, 12, 5, tzinfo=UTC)
    assert renew_subscriptions(now=now) == 1
    sub = subscription_of("alice")
    assert sub.status == "past_due" and sub.failed_charges == 1
    assert sub.renewed_at is None
    assert sub.next_renewal_at == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    assert payloads("alice", "subscription_renewed") == []
    [row] = outbox("alice", "subscription_status_changed")
    assert row.payload == {
        "event": "subscription_status_changed",
        "timestamp": iso(now),
        "data": {
            "subscriptionId": sub_id,
            "previousStatus": "active",
            "newStatus": "past_due",
            "planId": "pro",
            "effectiveDate": iso(now),
            "reason": "payment_failed",
        },
    }
    assert row.push_state == "pending"  # the catalog pushes past_due
    [inbox] = payloads("alice", "notification_received")
    assert inbox["data"]["notification"]["type"] == "general"
    assert inbox["data"]["notification"]["data"] == {"route": "/subscription"}
    # Run again: past_due is not retried by the job, no second event.
    assert renew_subscriptions(now=now) == 0
    assert len(outbox("alice", "subscription_status_changed")) == 1
    # An admin reactivates it (payment method fixed): the next run charges the due period.
    app.extensions[EXTENSION_KEY] = FakeBilling()
    service.change_status(db.session, "alice", "active", "payment_updated", now=now)
    db.session.commit()
    assert subscription_of("alice").failed_charges == 0
    assert renew_subscriptions(now=now + timedelta(minutes=1)) == 1
    sub = subscription_of("alice")
    assert sub.status == "active"
    assert sub.next_renewal_at == datetime(2027, 1, 15, 12, 0, tzinfo=UTC)


def test_missed_cycles_are_caught_up_one_charge_each(app, ctx):
    subscribe("alice", "basic", "monthly", now=START)
    billing = FakeBilling()
    assert renew_subscriptions(now=START + timedelta(days=61), billing=billing) == 2
    assert [amount for _, amount in billing.charges] == [999, 999]
    assert subscription_of("alice").next_renewal_at == datetime(2025, 4, 15, 12, tzinfo=UTC)


def test_month_end_renewals_do_not_drift(app, ctx):
    start = datetime(2025, 1, 31, 9, 0, tzinfo=UTC)
    subscribe("alice", "basic", "monthly", now=start)
    assert subscription_of("alice").next_renewal_at == datetime(2025, 2, 28, 9, tzinfo=UTC)
    renew_subscriptions(now=datetime(2025, 3, 1, tzinfo=UTC), billing=FakeBilling())
    assert subscription_of("alice").next_renewal_at == datetime(2025, 3, 31, 9, tzinfo=UTC)


class ExplodingBilling:
    def __init__(self, bad_id):
        self.bad_id = bad_id
        self.calls = 0

    def charge(self, subscription, amount_cents):
        self.calls += 1
        if subscription.id == self.bad_id:
            raise TimeoutError("provider timed out")
        return ChargeResult(ok=True)


def test_a_provider_error_leaves_the_row_due_and_the_others_renewed(app, ctx):
    bad = subscribe("alice", "basic", "monthly", now=START).id
    subscribe("bob", "basic", "monthly", now=START)
    billing = ExplodingBilling(bad)
    assert renew_subscriptions(now=START + timedelta(days=32), billing=billing) == 1
    assert billing.calls == 2
    alice = subscription_of("alice")
    assert alice.status == "active" and alice.renewed_at is None
    assert payloads("alice", "subscription_renewed") == []
    assert len(payloads("bob", "subscription_renewed")) == 1


def test_annual_renewal_at_anniversary_resets_the_period_once(app, ctx):
    subscribe("alice", "basic", "annual", now=START)
    sub = subscription_of("alice")
    current_period(db.session, sub, START).used_cents = 5_000
    db.session.commit()
    now = datetime(2026, 1, 15, 12, 1, tzinfo=UTC)
    assert renew_subscriptions(now=now, billing=FakeBilling()) == 1
    names = [row.name for row in outbox("alice")]
    assert names == ["coverage_updated", "subscription_renewed"]
    [renewed] = payloads("alice", "subscription_renewed")
    assert renewed["data"]["coverage"]["periodStart"] == "2026-01-15T12:00:00.000Z"
    assert renewed["data"]["coverage"]["remainingAmount"] == 250
    assert renewed["data"]["amountCharged"] == 99
    assert reset_coverage_periods(now=now) == 0
    assert len(payloads("alice", "coverage_updated")) == 1


def test_period_reset_job(app, ctx):
    sub_id = subscribe("alice", "pro", "annual", now=START).id
    subscribe("bob", "pro", "annual", now=START)
    service.change_status(db.session, "bob", "cancelled", now=START)
    db.session.commit()
    period = current_period(db.session, subscription_of("alice"), START)
    period.used_cents, period.tickets_used = 30_000, 3
    db.session.commit()
    assert reset_coverage_periods(now=START + timedelta(days=364)) == 0
    now = datetime(2026, 1, 16, tzinfo=UTC)
    assert reset_coverage_periods(now=now) == 1
    [event] = payloads("alice", "coverage_updated")
    assert event == {
        "event": "coverage_updated",
        "timestamp": iso(now),
        "data": {
            "coverage": {
                "planId": "pro",
                "annualCap": 600,
                "usedAmount": 0,
                "remainingAmount": 600,
                "ticketsUsed": 0,
                "maxTickets": 6,
                "periodStart": "2026-01-15T12:00:00.000Z",
                "periodEnd": "2027-01-15T12:00:00.000Z",
            },
            "changeReason": "period_reset",
        },
    }
    assert sub_id == subscription_of("alice").id
    # Twice: nothing more. The cancelled subscription gets no new period.
    assert reset_coverage_periods(now=now + timedelta(hours=1)) == 0
    assert len(payloads("alice", "coverage_updated")) == 1
    assert outbox("bob", "coverage_updated") == []
    # Whoever touches the period later (a claim, a payout) finds it and emits nothing.
    current_period(db.session, subscription_of("alice"), now + timedelta(days=3), lock=True)
    db.session.commit()
    assert len(payloads("alice", "coverage_updated")) == 1
    periods = (
        db.session.execute(
            select(CoveragePeriod.period_start)
            .order_by(CoveragePeriod.period_start)
            .where(CoveragePeriod.subscription_id == sub_id)
        )
        .scalars()
        .all()
    )
    assert periods == [START, datetime(2026, 1, 15, 12, tzinfo=UTC)]


def test_first_touch_of_a_new_period_announces_it(app, ctx):
    """A claim in the new year before the job ran: the reset is emitted with it, once."""
    subscribe("alice", "basic", "annual", now=START)
    now = datetime(2026, 2, 1, tzinfo=UTC)
    current_period(db.session, subscription_of("alice"), now, lock=True)
    db.session.commit()
    [event] = payloads("alice", "coverage_updated")
    assert event["data"]["changeReason"] == "period_reset"
    assert reset_coverage_periods(now=now) == 0


def test_restriction_expiry_is_announced_once(app, client, auth, pay_claim):
    with app.app_context():
        subscribe("alice", "basic")
    pay_claim("alice")
    with app.app_context():
        paid = subscription_of("alice").last_payout_at
        end = paid + timedelta(days=90)
        assert expire_cancellation_restrictions(now=end - timedelta(seconds=1)) == 0
        assert (
            payloads("alice", "cancellation_restriction_changed")[-1]["data"]["reason"]
            == "payout_received"
        )
        assert expire_cancellation_restrictions(now=end) == 1
        expired = [
            p
            for p in payloads("alice", "cancellation_restriction_changed")
            if p["data"]["reason"] == "restriction_expired"
        ]
        assert expired == [
            {
                "event": "cancellation_restriction_changed",
                "timestamp": iso(end),
                "data": {
                    "canCancel": True,
                    "reason": "restriction_expired",
                    "lastPayoutDate": iso(paid),
                },
            }
        ]
        assert subscription_of("alice").restriction_expiry_sent is True
        assert expire_cancellation_restrictions(now=end + timedelta(days=5)) == 0
        assert len(payloads("alice", "cancellation_restriction_changed")) == 2
        # And now the member may cancel.
        service.cancel(db.session, "alice", now=end + timedelta(days=1))
        db.session.commit()
        assert subscription_of("alice").status == "cancelled"


def test_restriction_expiry_of_a_cancelled_subscription_is_silent(app, client, auth, pay_claim):
    with app.app_context():
        subscribe("alice", "basic")
    pay_claim("alice")
    with app.app_context():
        paid = subscription_of("alice").last_payout_at
        service.change_status(db.session, "alice", "cancelled")
        db.session.commit()
        assert expire_cancellation_restrictions(now=paid + timedelta(days=91)) == 1
        assert subscription_of("alice").restriction_expiry_sent is True
        reasons = [
            p["data"]["reason"] for p in payloads("alice", "cancellation_restriction_changed")
        ]
        assert reasons == ["payout_received"]


class SlowBilling(FakeBilling):
    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()

    def charge(self, subscription, amount_cents):
        with self.lock:
            self.charges.append((subscription.id, amount_cents))
        time.sleep(0.02)
        return ChargeResult(ok=True)


def _run_in_two_workers(make_app, job, **kwargs) -> list[int]:
    """Run `job` at the same moment in two app instances (as two processes would)."""
    apps = [make_app(), make_app()]
    with apps[0].app_context():
        # The event counter row exists on any database that has seen an event; the
        # truncated test database has none, and its very first creation is not what we test.
        if db.session.get(EventSequence, 1) is None:
            db.session.add(EventSequence(id=1, value=0))
            db.session.commit()
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def worker(worker_app):
        try:
            with worker_app.app_context():
                barrier.wait()
                results.append(job(**kwargs))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(a,)) for a in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_two_workers_renew_each_subscription_once(app, make_app):
    members = [f"m{i}" for i in range(12)]
    with app.app_context():
        for member in members:
            subscribe(member, "basic", "monthly", now=START)
    billing = SlowBilling()
    results = _run_in_two_workers(
        make_app, renew_subscriptions, now=START + timedelta(days=32), billing=billing
    )
    assert sum(results) == len(members)
    charged = [sub_id for sub_id, _ in billing.charges]
    assert len(charged) == len(set(charged)) == len(members)
    with app.app_context():
        rows = (
            db.session.execute(
                select(OutboxEvent).where(OutboxEvent.name == "subscription_renewed")
            )
            .scalars()
            .all()
        )
        assert len(rows) == len(members)


def test_two_workers_reset_and_expire_once(app, make_app):
    members = [f"m{i}" for i in range(8)]
    with app.app_context():
        for member in members:
            sub = subscribe(member, "basic", "annual", now=START)
            sub.last_payout_at = START + timedelta(days=1)
            sub.restriction_expiry_sent = False
        db.session.commit()
    now = datetime(2026, 2, 1, tzinfo=UTC)
    assert sum(_run_in_two_workers(make_app, reset_coverage_periods, now=now)) == len(members)
    assert sum(_run_in_two_workers(make_app, expire_cancellation_restrictions, now=now)) == len(
        members
    )
    with app.app_context():
        names = [row.name for row in outbox()]
        assert names.count("coverage_updated") == len(members)
        assert names.count("cancellation_restriction_changed") == len(members)
