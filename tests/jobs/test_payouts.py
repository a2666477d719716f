import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

import jobs.payouts as payout_job
from jobs.payouts import process_payouts
from models import Claim, Payout, Wallet, WalletTransaction, db
from shield.rules import PAYOUT_COMPLETION_DELAY
from shield.wire import iso
from tests.jobs.support import (
    T0,
    approve,
    as_message,
    events,
    file_claim,
    last_seq,
    member,
    pay,
    run_concurrently,
)
from tests.spec_check import assert_conforms

PAID_SET = {
    "payout_completed",
    "claim_paid",
    "claim_status_changed",
    "coverage_updated",
    "cancellation_restriction_changed",
    "notification_received",
}


def approved_claim(member_id="alice", *, at=T0, amount_cents=6500):
    claim = file_claim(member_id, at=at, amount_cents=amount_cents)
    payout = approve(claim.id, at=at + timedelta(hours=1))
    return claim.id, payout.id, at + timedelta(hours=1)


def transactions() -> int:
    return db.session.execute(select(func.count()).select_from(WalletTransaction)).scalar_one()


def test_completes_due_payout_and_emits_the_full_event_set(ctx):
    member("alice")
    claim_id, payout_id, approved_at = approved_claim()
    seq = last_seq()

    assert process_payouts(now=approved_at + PAYOUT_COMPLETION_DELAY - timedelta(seconds=1)) == 0
    assert db.session.get(Payout, payout_id).status == "pending"
    assert events(after=seq) == []

    now = approved_at + PAYOUT_COMPLETION_DELAY
    assert process_payouts(now=now) == 1
    db.session.expire_all()
    payout = db.session.get(Payout, payout_id)
    assert payout.status == "completed" and payout.completed_at == now
    assert db.session.get(Claim, claim_id).status == "paid"
    assert db.session.get(Wallet, "alice").balance_cents == 6500  # professional: no deductible
    emitted = events(after=seq)
    assert sorted(e.name for e in emitted) == sorted(PAID_SET)
    for event in emitted:
        assert event.member_id == "alice"
        assert event.payload["timestamp"] == iso(now)
        assert_conforms(as_message(event))
    by_name = {e.name: e.payload["data"] for e in emitted}
    assert by_name["payout_completed"] == {
        "payoutId": payout_id,
        "claimId": claim_id,
        "amount": 65,
        "status": "completed",
        "completedAt": iso(now),
        "transactionId": payout.transaction_id,
        "newWalletBalance": 65,
    }
    assert by_name["claim_paid"]["transactionId"] == payout.transaction_id
    assert by_name["claim_paid"]["walletBalance"] == 65
    assert by_name["claim_status_changed"]["previousStatus"] == "approved"
    assert by_name["claim_status_changed"]["newStatus"] == "paid"
    assert by_name["coverage_updated"]["changeReason"] == "claim_payout"
    assert by_name["coverage_updated"]["claimId"] == claim_id
    assert by_name["cancellation_restriction_changed"]["reason"] == "payout_received"
    assert by_name["cancellation_restriction_changed"]["canCancel"] is False

    # Idempotent: a second run (even much later) finds nothing and emits nothing.
    after = last_seq()
    assert process_payouts(now=now + timedelta(days=1)) == 0
    assert events(after=after) == []
    assert transactions() == 1


def test_payout_paid_by_admin_meanwhile_does_not_fail_or_double_pay(ctx, monkeypatch):
    member("alice")
    first_claim, first_payout, approved_at = approved_claim()
    second_claim, second_payout, _ = approved_claim()
    now = approved_at + PAYOUT_COMPLETION_DELAY
    original = payout_job._claim_next
    handed = []

    def stale_then_real(cutoff, skip):
        # The job picked first_payout, then an admin 'pay' completed it before the job did.
        if not handed:
            handed.append(True)
            pay(first_claim, at=now)
            return first_payout, first_claim
        return original(cutoff, skip)

    monkeypatch.setattr(payout_job, "_claim_next", stale_then_real)
    seq = last_seq()
    assert process_payouts(now=now) == 1
    db.session.expire_all()
    assert db.session.get(Payout, first_payout).status == "completed"
    assert db.session.get(Payout, second_payout).status == "completed"
    assert transactions() == 2
    assert db.session.get(Wallet, "alice").balance_cents == 2 * 6500
    assert len(events("payout_completed", after=seq)) == 2  # one per payout, not three


def test_one_failing_payout_does_not_block_the_others(ctx, monkeypatch):
    member("alice")
    bad_claim, bad_payout, approved_at = approved_claim()
    _, good_payout, _ = approved_claim()
    now = approved_at + PAYOUT_COMPLETION_DELAY
    real = payout_job.complete_payout

    def flaky(session, payout_id, now=None):
        if payout_id == bad_payout:
            raise RuntimeError("provider down")
        return real(session, payout_id, now=now)

    monkeypatch.setattr(payout_job, "complete_payout", flaky)
    assert process_payouts(now=now) == 1
    db.session.expire_all()
    assert db.session.get(Payout, bad_payout).status == "pending"
    assert db.session.get(Payout, good_payout).status == "completed"

    monkeypatch.setattr(payout_job, "complete_payout", real)
    assert process_payouts(now=now) == 1
    assert db.session.get(Payout, bad_payout).status == "completed"
    assert db.session.get(Claim, bad_claim).status == "paid"


@pytest.mark.postgres
def test_two_workers_pay_each_payout_exactly_once(app):
    members = [f"m{i}" for i in range(6)]
    payout_ids = []
    with app.app_context():
        for m in members:
            member(m)
            for _ in range(5):
                payout_ids.append(approved_claim(m)[1])
        now = T0 + timedelta(hours=1) + PAYOUT_COMPLETION_DELAY
        seq = last_seq()
    counts = run_concurrently(app, 2, lambda: process_payouts(now=now))
    assert sum(counts) == len(payout_ids) == 30
    with app.app_context():
        statuses = db.session.execute(select(Payout.status)).scalars().all()
        assert statuses == ["completed"] * 30
        assert transactions() == 30
        completed = [e.payload["data"]["payoutId"] for e in events("payout_completed", after=seq)]
        assert sorted(completed) == sorted(payout_ids)
        for m in members:
            assert db.session.get(Wallet, m).balance_cents == 5 * 6500


@pytest.mark.postgres
def test_job_skips_a_claim_an_admin_is_paying_without_waiting(app):
    # (Only this payout: any other would wait, by design, for the event-sequence row the
    # admin's open transaction holds until it commits.)
    with app.app_context():
        member("alice")
        claim_id, payout_id, approved_at = approved_claim()
    now = approved_at + PAYOUT_COMPLETION_DELAY
    locked, release, done = threading.Event(), threading.Event(), threading.Event()

    def admin_pays():
        with app.app_context():
            from shield.payouts.service import pay_claim

            pay_claim(db.session, claim_id, now=now)  # holds the claim and payout locks
            locked.set()
            release.wait(30)
            db.session.commit()
            done.set()

    admin = threading.Thread(target=admin_pays)
    admin.start()
    assert locked.wait(30)
    result: list[int] = []
    job = threading.Thread(target=lambda: result.append(_run(app, now)))
    job.start()
    job.join(15)
    assert not job.is_alive(), "the job waited for the admin's lock"
    assert result == [0]  # skipped, not waited for (SKIP LOCKED on the claim row)
    release.set()
    admin.join(30)
    assert done.is_set()
    assert _run(app, now) == 0
    with app.app_context():
        assert db.session.get(Payout, payout_id).status == "completed"
        assert transactions() == 1
        assert db.session.get(Wallet, "alice").balance_cents == 6500
        assert len(events("payout_completed")) == 1


def _run(app, now) -> int:
    with app.app_context():
        return process_payouts(now=now)
