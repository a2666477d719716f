"""The wallet reads as a statement: listed in the API's order (the wallet's seq), every
balanceAfter is the one before it plus its own amount, page after page, whatever order the
money moves took their timestamps in."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from jobs.payouts import process_payouts
from models import Wallet, WalletTransaction, Withdrawal, db, utcnow
from shield.rules import PAYOUT_COMPLETION_DELAY
from shield.wallet import withdrawals
from shield.wire import iso
from tests.jobs.support import T0, approve, file_claim, member

from .helpers import ADMIN_WITHDRAWALS, WALLET, WITHDRAWALS, key
from .statement import assert_chains, created, read_statement


def _seqs(member_id: str) -> list[int]:
    return list(
        db.session.execute(
            select(WalletTransaction.seq)
            .where(WalletTransaction.member_id == member_id)
            .order_by(WalletTransaction.seq)
        ).scalars()
    )


def test_one_timestamp_for_a_run_and_an_earlier_stamp_still_chain(app, client, auth):
    """The payouts job stamps a run with one time; a debit posted after it carries an earlier
    time (as an admin pay that took its time before waiting for the lock did)."""
    with app.app_context():
        member("alice")
        for amount in (4000, 2500, 1000, 7000):
            approve(file_claim("alice", at=T0, amount_cents=amount).id, at=T0)
        run_at = T0 + PAYOUT_COMPLETION_DELAY + timedelta(hours=1)
        assert process_payouts(now=run_at) == 4
        withdrawals.request_withdrawal(
            db.session, "alice", 3000, "1234", now=run_at - timedelta(minutes=30)
        )
        db.session.commit()
        assert _seqs("alice") == [1, 2, 3, 4, 5]
        assert db.session.get(Wallet, "alice").last_seq == 5
    for limit in (1, 2, 100):
        rows = read_statement(client, auth("alice"), f"{WALLET}/transactions", limit)
        assert [row["type"] for row in rows][0] == "withdrawal"  # posted last: listed first
        assert_chains(rows, 14500 - 3000)
    admin = read_statement(
        client, auth("root", admin=True), "/shield/v1/admin/members/alice/wallet/transactions", 2
    )
    assert admin == rows
    recent = client.get(WALLET, headers=auth("alice")).json["recentTransactions"]
    assert recent == rows[:10]


def test_a_cursor_is_a_place_in_the_statement(client, auth, fund, withdraw):
    fund("alice", 50)
    for amount in (5, 6, 7):
        assert withdraw("alice", amount).status_code == 201
    rows = read_statement(client, auth("alice"), f"{WALLET}/transactions", 100)
    page = client.get(
        f"{WALLET}/transactions?limit=2&before={rows[1]['transactionId']}", headers=auth("alice")
    ).json
    assert page["transactions"] == rows[2:4] and page["nextCursor"] is None
    assert (
        client.get(
            f"{WALLET}/transactions?before={rows[-1]['transactionId']}", headers=auth("alice")
        ).json["transactions"]
        == []
    )


# -- under concurrency (PostgreSQL row locks) ------------------------------------------------

MEMBERS = ("m-ann", "m-bob", "m-cy")
CLAIMS_EACH = 6
PENDING_EACH = 3


@pytest.mark.postgres
def test_concurrent_payouts_pays_withdrawals_and_refunds_chain_in_every_wallet(
    app, make_app, auth, fund, withdraw
):
    """Admin pays, two payouts-job runs (each stamping its run with one time), member
    withdrawals and admin failures (refunds) at once on three wallets, from several apps
    (each its own pool, like several workers). Every wallet's statement then chains, read
    through the API page by page with the `before` cursor."""
    admin = auth("root", admin=True)
    rng = random.Random(7)
    to_pay: list[str] = []
    to_fail: list[str] = []
    for member_id in MEMBERS:
        fund(member_id, 60)  # a professional member with $60 paid
        for _ in range(PENDING_EACH):
            response = withdraw(member_id, 5)
            assert response.status_code == 201, response.json
            to_fail.append(response.json["withdrawalId"])
        with app.app_context():
            for _ in range(CLAIMS_EACH):
                claim = file_claim(member_id, at=utcnow(), amount_cents=rng.randrange(500, 9000))
                approve(claim.id, at=utcnow())
                to_pay.append(claim.id)
    job_time = utcnow() + PAYOUT_COMPLETION_DELAY + timedelta(seconds=5)

    tasks: list[tuple] = [("pay", cid) for cid in to_pay[::2]]
    tasks += [("fail", wid) for wid in to_fail]
    tasks += [("withdraw", m, rng.choice((3, 8, 13, 40))) for m in MEMBERS for _ in range(5)]
    rng.shuffle(tasks)
    workers = [make_app() for _ in range(4)]
    lanes = 6
    barrier = threading.Barrier(lanes + 2)
    outcomes: list[tuple[tuple, int]] = []
    errors: list[BaseException] = []

    def lane(index: int) -> None:
        client = workers[index % len(workers)].test_client()
        try:
            barrier.wait()
            for task in tasks[index::lanes]:
                if task[0] == "pay":
                    url = f"/shield/v1/admin/claims/{task[1]}/pay"
                    response = client.post(url, headers={**admin, "Idempotency-Key": key()})
                elif task[0] == "fail":
                    response = client.post(
                        f"{ADMIN_WITHDRAWALS}/{task[1]}/fail",
                        headers={**admin, "Idempotency-Key": key()},
                        json={"reason": "Account closed"},
                    )
                else:
                    response = client.post(
                        WITHDRAWALS,
                        headers=auth(task[1], **{"Idempotency-Key": key()}),
                        json={"amount": task[2], "bankAccountLastFour": "4321"},
                    )
                outcomes.append((task, response.status_code))
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test below
            errors.append(exc)

    def job(index: int) -> None:
        with workers[index % len(workers)].app_context():
            try:
                barrier.wait()
                outcomes.append((("job",), process_payouts(now=job_time)))
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=lane, args=(i,)) for i in range(lanes)]
    threads += [threading.Thread(target=job, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)

    by_kind: dict[str, list[int]] = {}
    for task, status in outcomes:
        by_kind.setdefault(task[0], []).append(status)
    assert set(by_kind["pay"]) <= {200, 409}, by_kind  # 409: the job paid it first
    assert by_kind["fail"] == [200] * len(to_fail), by_kind
    assert set(by_kind["withdraw"]) <= {201, 409}, by_kind
    assert by_kind["pay"].count(200) + sum(by_kind["job"]) == len(to_pay)

    with app.app_context():
        assert process_payouts(now=job_time) == 0  # nothing was left behind
        wallets = {w.member_id: w for w in db.session.execute(select(Wallet)).scalars()}
        debits = db.session.execute(
            select(func.count()).select_from(Withdrawal).where(Withdrawal.status == "pending")
        ).scalar_one()
        assert debits == by_kind["withdraw"].count(201)
        expected = {m: (len(_seqs(m)), wallets[m].balance_cents) for m in MEMBERS}
        for member_id, (count, _) in expected.items():
            assert _seqs(member_id) == list(range(1, count + 1))
            assert wallets[member_id].last_seq == count
    client = app.test_client()
    for member_id, (count, balance) in expected.items():
        withdrawn = sum(
            1
            for task, status in outcomes
            if task[0] == "withdraw" and task[1] == member_id and status == 201
        )
        # the funding payout, the debits and refunds of the failed ones, the claims, the rest
        assert count == 1 + 2 * PENDING_EACH + CLAIMS_EACH + withdrawn
        for limit in (3, 100):
            rows = read_statement(client, auth(member_id), f"{WALLET}/transactions", limit)
            assert len(rows) == count
            assert_chains(rows, balance)
        # Taken under the wallet lock, the times of the member's and admin's calls follow the
        # statement too; only the job's rows carry the run's (later, fixed) time.
        live = [created(row) for row in rows if row["createdAt"] != iso(job_time)]
        assert live == sorted(live, reverse=True)
