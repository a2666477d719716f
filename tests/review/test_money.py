"""Money: no sequence of calls pays twice, credits twice, overdraws or splits ledger and balance."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from models import WalletTransaction, Withdrawal, db, utcnow
from shield.rules import PAYOUT_COMPLETION_DELAY
from shield.subscriptions.service import get_subscription
from tests.factories import claim_body, subscribe

from .helpers import API, key, money, paid_claim


def _approved_claim(app, client, auth, member="alice", amount=100):
    with app.app_context():
        if get_subscription(db.session, member) is None:
            subscribe(member, "professional")
        db.session.remove()
    cid = client.post(f"{API}/claims", json=claim_body(amount=amount), headers=auth(member)).json[
        "claimId"
    ]
    r = client.post(
        f"{API}/admin/claims/{cid}/approve",
        headers={**auth("root", admin=True), "Idempotency-Key": key()},
    )
    assert r.status_code == 200
    return cid


def _credits(member):
    return db.session.scalar(
        select(func.count())
        .select_from(WalletTransaction)
        .where(WalletTransaction.member_id == member, WalletTransaction.type == "payout")
    )


def test_same_key_on_another_route_is_refused_and_changes_nothing(app, client, auth):
    cid = _approved_claim(app, client, auth)
    admin = {**auth("root", admin=True), "Idempotency-Key": "one-key"}
    other = client.post(f"{API}/claims", json=claim_body(), headers=auth("alice")).json["claimId"]
    assert client.post(f"{API}/admin/claims/{other}/approve", headers=admin).status_code == 200
    r = client.post(f"{API}/admin/claims/{cid}/pay", headers=admin)
    assert r.status_code == 422 and r.json["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    with app.app_context():
        assert money("alice") == (0, 0)


def test_admin_pay_and_the_payout_job_credit_once_in_either_order(app, client, auth):
    from jobs.payouts import process_payouts

    later = utcnow() + PAYOUT_COMPLETION_DELAY + timedelta(minutes=1)
    first = _approved_claim(app, client, auth, amount=100)
    with app.app_context():
        assert process_payouts(now=later) == 1
        db.session.remove()
    r = client.post(
        f"{API}/admin/claims/{first}/pay",
        headers={**auth("root", admin=True), "Idempotency-Key": key()},
    )
    assert r.status_code == 409
    second = _approved_claim(app, client, auth, amount=50)
    r = client.post(
        f"{API}/admin/claims/{second}/pay",
        headers={**auth("root", admin=True), "Idempotency-Key": key()},
    )
    assert r.status_code == 200
    with app.app_context():
        assert process_payouts(now=later + timedelta(hours=1)) == 0
        assert _credits("alice") == 2
        assert money("alice") == (15000, 15000)


def test_withdrawal_cannot_both_complete_and_fail(app, client, auth):
    paid_claim(app, client, auth, "alice", 100)
    admin = auth("root", admin=True)
    ids = []
    for _ in range(2):
        r = client.post(
            f"{API}/wallet/withdrawals",
            json={"amount": 40, "bankAccountLastFour": "4321"},
            headers={**auth("alice"), "Idempotency-Key": key()},
        )
        assert r.status_code == 201
        ids.append(r.json["withdrawalId"])
    a, b = ids
    url = f"{API}/admin/withdrawals"
    assert (
        client.post(f"{url}/{a}/complete", headers={**admin, "Idempotency-Key": key()}).status_code
        == 200
    )
    r = client.post(
        f"{url}/{a}/fail", json={"reason": "x"}, headers={**admin, "Idempotency-Key": key()}
    )
    assert r.status_code == 409
    assert (
        client.post(
            f"{url}/{b}/fail", json={"reason": "x"}, headers={**admin, "Idempotency-Key": key()}
        ).status_code
        == 200
    )
    r = client.post(f"{url}/{b}/complete", headers={**admin, "Idempotency-Key": key()})
    assert r.status_code == 409
    r = client.post(
        f"{url}/{b}/fail", json={"reason": "y"}, headers={**admin, "Idempotency-Key": key()}
    )
    assert r.status_code == 409
    with app.app_context():
        assert money("alice") == (6000, 6000)


def test_a_replayed_refusal_never_moves_money_later(app, client, auth):
    """Stripe semantics: a decided 4xx is replayed for its key, even once it would succeed."""
    headers = {**auth("alice"), "Idempotency-Key": "withdraw-1"}
    body = {"amount": 30, "bankAccountLastFour": "1111"}
    r = client.post(f"{API}/wallet/withdrawals", json=body, headers=headers)
    assert r.status_code == 409 and r.json["error"]["code"] == "INSUFFICIENT_FUNDS"
    paid_claim(app, client, auth, "alice", 100)
    again = client.post(f"{API}/wallet/withdrawals", json=body, headers=headers)
    assert again.status_code == 409 and again.headers["Idempotent-Replayed"] == "true"
    with app.app_context():
        assert money("alice") == (10000, 10000)


@pytest.mark.postgres
def test_a_slow_call_whose_lease_was_taken_over_does_not_withdraw_twice(
    app, make_app, auth, monkeypatch
):
    """A call still running past the key's lease: the takeover may run, but only one commits."""
    import shield.idempotency as idem
    from shield.wallet import withdrawals

    client = app.test_client()
    paid_claim(app, client, auth, "alice", 100)
    inside, release = threading.Event(), threading.Event()
    original = withdrawals.request_withdrawal
    calls = []

    def slow_first(*args, **kwargs):
        withdrawal = original(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            inside.set()
            release.wait(20)
        return withdrawal

    monkeypatch.setattr(withdrawals, "request_withdrawal", slow_first)
    headers = {**auth("alice"), "Idempotency-Key": "slow"}
    body = {"amount": 30, "bankAccountLastFour": "1111"}
    results = {}

    def call(name, target_app):
        results[name] = target_app.test_client().post(
            f"{API}/wallet/withdrawals", json=body, headers=headers
        )

    first = threading.Thread(target=call, args=("first", app))
    first.start()
    assert inside.wait(20)
    # The first call has now run longer than the lease: a retry takes the key over.
    real_now = idem.utcnow
    monkeypatch.setattr(idem, "utcnow", lambda: real_now() + idem.RUNNING_LEASE * 2)
    second = threading.Thread(target=call, args=("second", make_app()))
    second.start()
    second.join(2)  # it waits on the wallet row the first call holds
    release.set()
    first.join(20)
    second.join(20)
    statuses = sorted(r.status_code for r in results.values())
    with app.app_context():
        made = db.session.scalar(select(func.count()).select_from(Withdrawal))
        assert made == 1, statuses
        assert money("alice") == (7000, 7000)
    assert 201 in statuses
