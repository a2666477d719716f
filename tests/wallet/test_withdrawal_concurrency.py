"""Concurrent withdrawals that together exceed the balance (PostgreSQL, real row locks)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from jobs.withdrawals import process_due_withdrawals
from models import WalletTransaction, db, utcnow
from shield.rules import WITHDRAWAL_SETTLE_DELAY
from shield.wallet import withdrawals
from shield.wallet.bank import SimulatedBank
from tests.wallet.helpers import WITHDRAWALS, key, state

REQUESTS = 20
AMOUNT = 7  # dollars; 20 x 7 = 140 against a balance of 80


@pytest.mark.postgres
def test_concurrent_withdrawals_never_overdraw(app, make_app, auth, fund):
    fund("alice", 50, 30)
    headers = [auth("alice", **{"Idempotency-Key": key()}) for _ in range(REQUESTS)]
    workers = [make_app() for _ in range(4)]  # several "processes", each with its own pool
    barrier = threading.Barrier(REQUESTS)
    results: list[tuple[int, dict] | None] = [None] * REQUESTS

    def post(index: int) -> None:
        client = workers[index % len(workers)].test_client()
        barrier.wait()
        response = client.post(
            WITHDRAWALS,
            headers=headers[index],
            json={"amount": AMOUNT, "bankAccountLastFour": "1234"},
        )
        results[index] = (response.status_code, response.get_json())

    threads = [threading.Thread(target=post, args=(i,)) for i in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    statuses = sorted(status for status, _ in results)
    assert set(statuses) <= {201, 409}, results
    successes = statuses.count(201)
    assert successes == 80 // AMOUNT  # 11 fit, the other 9 are refused
    refused = [body for status, body in results if status == 409]
    assert all(body["error"]["code"] == "INSUFFICIENT_FUNDS" for body in refused)
    with app.app_context():
        facts = state("alice")
        assert facts["balance"] == 8000 - successes * AMOUNT * 100 == 300
        assert facts["ledger"] == facts["balance"]
        assert facts["withdrawals"] == successes
        rows = (
            db.session.execute(
                select(WalletTransaction)
                .where(WalletTransaction.member_id == "alice")
                .order_by(WalletTransaction.created_at, WalletTransaction.id)
            )
            .scalars()
            .all()
        )
        running = 0
        for row in rows:  # every row's balanceAfter follows from the ones before it
            running += row.amount_cents
            assert row.balance_after_cents == running >= 0


@pytest.mark.postgres
def test_requests_and_job_failures_at_once_keep_the_ledger(app, make_app, auth, fund):
    """Member debits race the job's refunds on one wallet: no deadlock, no lost update."""
    fund("alice", 100)
    bank = SimulatedBank(fail_reason="Account closed")
    with app.app_context():
        t0 = utcnow()
        for _ in range(5):
            withdrawals.request_withdrawal(db.session, "alice", 500, "1234")
        db.session.commit()
        assert process_due_withdrawals(db.session, bank, t0) == 5
    later = t0 + WITHDRAWAL_SETTLE_DELAY + timedelta(seconds=1)
    requests, runners = 10, 2
    workers = [make_app() for _ in range(3)]
    barrier = threading.Barrier(requests + runners)
    statuses: list[int] = []
    moved: list[int] = []

    def post(index: int) -> None:
        client = workers[index % len(workers)].test_client()
        headers = auth("alice", **{"Idempotency-Key": key()})
        barrier.wait()
        response = client.post(
            WITHDRAWALS, headers=headers, json={"amount": 9, "bankAccountLastFour": "1234"}
        )
        statuses.append(response.status_code)

    def run(index: int) -> None:
        with workers[index % len(workers)].app_context():
            barrier.wait()
            moved.append(process_due_withdrawals(db.session, bank, later))
            db.session.remove()

    threads = [threading.Thread(target=post, args=(i,)) for i in range(requests)]
    threads += [threading.Thread(target=run, args=(i,)) for i in range(runners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert set(statuses) <= {201, 409} and len(statuses) == requests, statuses
    assert sum(moved) == 5
    successes = statuses.count(201)
    with app.app_context():
        facts = state("alice")
        assert facts["balance"] == facts["ledger"] == 10000 - successes * 900 >= 0
        assert facts["withdrawals"] == 5 + successes
