"""The withdrawal job and the service steps it drives, with simulated and failing banks."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from jobs.withdrawals import process_due_withdrawals, process_withdrawals
from models import Notification, Withdrawal, db, utcnow
from shield.errors import Conflict
from shield.rules import WITHDRAWAL_SETTLE_DELAY
from shield.wallet import withdrawals
from shield.wallet.bank import FAILED, IN_TRANSIT, SETTLED, SimulatedBank
from tests.wallet.helpers import events, state

LATER = WITHDRAWAL_SETTLE_DELAY + timedelta(seconds=1)


class RecordingBank:
    """Counts every call; reports whatever `outcome` says once the delay has passed."""

    def __init__(self, outcome=(SETTLED, None), delay=WITHDRAWAL_SETTLE_DELAY, pause=0.0):
        self.outcome = outcome
        self.delay = delay
        self.pause = pause
        self.started: list[str] = []
        self.lock = threading.Lock()

    def start_transfer(self, withdrawal):
        time.sleep(self.pause)
        with self.lock:
            self.started.append(withdrawal.id)
        return f"ref_{withdrawal.id}"

    def transfer_status(self, ref, started_at, now):
        if now < started_at + self.delay:
            return IN_TRANSIT, None
        return self.outcome


class BrokenBank(RecordingBank):
    def start_transfer(self, withdrawal):
        raise ConnectionError("bank unreachable")


def _pending(member_id: str, *amounts_cents: int, now=None) -> list[str]:
    ids = [
        withdrawals.request_withdrawal(db.session, member_id, cents, "1234", now=now).id
        for cents in amounts_cents
    ]
    db.session.commit()
    return ids


def _statuses(ids: list[str]) -> list[str]:
    db.session.expire_all()
    return [db.session.get(Withdrawal, i).status for i in ids]


def test_simulated_bank_settles_after_the_delay(app, fund):
    fund("alice", 100)
    with app.app_context():
        t0 = utcnow()
        ids = _pending("alice", 1000, 2000)
        bank = RecordingBank()
        assert process_due_withdrawals(db.session, bank, t0) == 2
        assert _statuses(ids) == ["processing", "processing"]
        assert sorted(bank.started) == sorted(ids)
        rows = [db.session.get(Withdrawal, i) for i in ids]
        assert all(w.transfer_ref == f"ref_{w.id}" and w.processing_at == t0 for w in rows)
        assert events("alice", "withdrawal_status_changed") == []  # no event for this step
        assert process_due_withdrawals(db.session, bank, t0 + timedelta(seconds=30)) == 0
        assert process_due_withdrawals(db.session, bank, t0 + LATER) == 2
        assert _statuses(ids) == ["completed", "completed"]
        assert len(bank.started) == 2
        changes = events("alice", "withdrawal_status_changed")
        assert [(e["data"]["previousStatus"], e["data"]["newStatus"]) for e in changes] == [
            ("processing", "completed"),
            ("processing", "completed"),
        ]
        assert {e["data"]["completedAt"] for e in changes} == {
            (t0 + LATER).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        }
        assert state("alice")["balance"] == 7000 == state("alice")["ledger"]
        assert process_due_withdrawals(db.session, bank, t0 + LATER * 2) == 0


def test_failing_bank_fails_and_refunds(app, fund):
    fund("alice", 100)
    with app.app_context():
        t0 = utcnow()
        [wid] = _pending("alice", 4000)
        bank = RecordingBank(outcome=(FAILED, "Account closed"))
        assert process_due_withdrawals(db.session, bank, t0) == 1
        assert process_due_withdrawals(db.session, bank, t0 + LATER) == 1
        assert _statuses([wid]) == ["failed"]
        withdrawal = db.session.get(Withdrawal, wid)
        assert withdrawal.failure_reason == "Account closed" and withdrawal.completed_at is None
        [event] = events("alice", "withdrawal_status_changed")
        assert event["data"] == {
            "withdrawalId": wid,
            "previousStatus": "processing",
            "newStatus": "failed",
            "amount": 40,
            "bankAccountLastFour": "1234",
            "failureReason": "Account closed",
            "newWalletBalance": 100,
        }
        assert event["_push"] == "pending"
        inbox = (
            db.session.execute(
                select(Notification).where(
                    Notification.member_id == "alice",
                    Notification.source_event == "withdrawal_status_changed",
                )
            )
            .scalars()
            .all()
        )
        assert len(inbox) == 1
        assert state("alice")["balance"] == 10000 == state("alice")["ledger"]


def test_simulated_bank_default_and_failure_mode(app, fund):
    fund("alice", 100)
    with app.app_context():
        t0 = utcnow()
        ok, bad = _pending("alice", 1000, 2000)
        app.extensions["shield.bank"] = SimulatedBank()
        assert process_withdrawals(t0) == 2
        assert db.session.get(Withdrawal, ok).transfer_ref == f"sim_{ok}"
        # Complete the first, then switch the bank to failing for the second.
        withdrawals.complete_withdrawal(db.session, ok, t0 + LATER)
        db.session.commit()
        app.extensions["shield.bank"] = SimulatedBank(fail_reason="Rejected by bank")
        assert process_withdrawals(t0 + timedelta(seconds=1)) == 0
        assert process_withdrawals(t0 + LATER) == 1
        assert _statuses([ok, bad]) == ["completed", "failed"]
        assert state("alice")["balance"] == 9000


def test_a_bank_error_leaves_the_withdrawal_pending(app, fund, caplog):
    fund("alice", 100)
    with app.app_context():
        [wid] = _pending("alice", 1000)
        assert process_due_withdrawals(db.session, BrokenBank()) == 0
        assert _statuses([wid]) == ["pending"]
        assert db.session.get(Withdrawal, wid).transfer_ref is None
        assert "bank unreachable" in caplog.text
        assert "1234" not in caplog.text.replace(wid, "")
        assert process_due_withdrawals(db.session, RecordingBank()) == 1
        assert _statuses([wid]) == ["processing"]


def test_service_steps_refuse_illegal_transitions(app, fund):
    fund("alice", 100)
    with app.app_context():
        t0 = utcnow()
        a, b = _pending("alice", 1000, 1000)
        bank = RecordingBank()
        withdrawals.start_processing(db.session, a, bank, t0)
        db.session.commit()
        with pytest.raises(Conflict):
            withdrawals.start_processing(db.session, a, bank, t0)
        db.session.rollback()
        withdrawals.fail_withdrawal(db.session, a, "Account closed", t0)
        db.session.commit()
        for step in (
            lambda: withdrawals.complete_withdrawal(db.session, a, t0),
            lambda: withdrawals.fail_withdrawal(db.session, a, "again", t0),
            lambda: withdrawals.start_processing(db.session, a, bank, t0),
        ):
            with pytest.raises(Conflict):
                step()
            db.session.rollback()
        withdrawals.complete_withdrawal(db.session, b, t0)  # pending -> completed (by hand)
        db.session.commit()
        assert _statuses([a, b]) == ["failed", "completed"]
        assert state("alice")["balance"] == 9000 == state("alice")["ledger"]
        assert len(bank.started) == 1


def test_two_runs_at_once_take_each_step_once(app, make_app, fund):
    """Two workers (own apps and connections) over the same queue: no step runs twice."""
    fund("alice", 100)
    with app.app_context():
        t0 = utcnow()
        ids = _pending("alice", *([500] * 8))
    bank = RecordingBank(pause=0.05)
    workers = [make_app(), make_app()]
    moved = [0, 0]
    barrier = threading.Barrier(2)

    def run(index: int, now):
        with workers[index].app_context():
            barrier.wait()
            moved[index] = process_due_withdrawals(db.session, bank, now)
            db.session.remove()

    for now in (t0, t0 + LATER):
        threads = [threading.Thread(target=run, args=(i, now)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sum(moved) == len(ids), moved
    assert sorted(bank.started) == sorted(ids)  # each transfer started exactly once
    with app.app_context():
        assert _statuses(ids) == ["completed"] * len(ids)
        assert len(events("alice", "withdrawal_status_changed")) == len(ids)
        assert state("alice")["balance"] == 6000 == state("alice")["ledger"]
