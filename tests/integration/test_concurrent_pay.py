"""Money under concurrency, on real PostgreSQL row locks."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from sqlalchemy import func, select

from models import OutboxEvent, Payout, Wallet, WalletTransaction, db
from tests.factories import claim_body, subscribe

pytestmark = pytest.mark.postgres


def test_thirty_concurrent_pays_make_one_payout(app, auth):
    with app.app_context():
        subscribe("alice", "pro")
    client = app.test_client()
    claim = client.post("/shield/v1/claims", headers=auth("alice"), json=claim_body(amount=80)).json
    cid = claim["claimId"]
    admin = auth("root", admin=True)
    assert (
        client.post(
            f"/shield/v1/admin/claims/{cid}/approve",
            headers={**admin, "Idempotency-Key": "approve"},
        ).status_code
        == 200
    )
    client.get("/shield/v1/claims", headers=admin)  # the admin's member row exists

    barrier = Barrier(30)

    def pay(i):
        c = app.test_client()
        barrier.wait()
        return c.post(
            f"/shield/v1/admin/claims/{cid}/pay", headers={**admin, "Idempotency-Key": f"pay-{i}"}
        ).status_code

    with ThreadPoolExecutor(30) as pool:
        statuses = list(pool.map(pay, range(30)))
    assert statuses.count(200) == 1, statuses
    assert statuses.count(409) == 29, statuses
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WalletTransaction)) == 1
        assert db.session.get(Wallet, "alice").balance_cents == 7000
        assert db.session.scalar(select(func.count()).select_from(Payout)) == 1
        paid_events = db.session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.name == "payout_completed")
        )
        assert paid_events == 1


def test_concurrent_approvals_respect_ticket_limit(app, auth):
    with app.app_context():
        subscribe("alice", "basic")  # 3 tickets a year
    client = app.test_client()
    ids = [
        client.post("/shield/v1/claims", headers=auth("alice"), json=claim_body(amount=40)).json[
            "claimId"
        ]
        for _ in range(6)
    ]
    admin = auth("root", admin=True)
    client.get("/shield/v1/claims", headers=admin)
    barrier = Barrier(len(ids))

    def approve(cid):
        c = app.test_client()
        barrier.wait()
        return c.post(
            f"/shield/v1/admin/claims/{cid}/approve",
            headers={**admin, "Idempotency-Key": f"a-{cid}"},
        ).json["status"]

    with ThreadPoolExecutor(len(ids)) as pool:
        outcomes = list(pool.map(approve, ids))
    assert outcomes.count("approved") == 3, outcomes
    assert outcomes.count("denied") == 3
