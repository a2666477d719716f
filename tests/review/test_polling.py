"""A 304 never hides a change made by a member, an admin or a job."""

from __future__ import annotations

from datetime import timedelta

from models import db, utcnow
from shield.rules import PAYOUT_COMPLETION_DELAY
from shield.subscriptions.billing import ChargeResult
from tests.factories import claim_body, subscribe

from .helpers import API, key, paid_claim


class _Poller:
    def __init__(self, client, headers, url):
        self.client, self.headers, self.url = client, headers, url
        r = client.get(url, headers=headers)
        assert r.status_code == 200
        self.etag, self.body = r.headers["ETag"], r.json

    def unchanged(self) -> bool:
        r = self.client.get(self.url, headers={**self.headers, "If-None-Match": self.etag})
        if r.status_code == 304:
            return True
        assert r.status_code == 200
        assert r.headers["ETag"] != self.etag
        self.etag, self.body = r.headers["ETag"], r.json
        return False


def test_inbox_read_flags_change_the_etag(app, client, auth):
    paid_claim(app, client, auth, "alice", 30)
    inbox = _Poller(client, auth("alice"), f"{API}/notifications")
    assert inbox.unchanged()
    first = inbox.body["notifications"][0]["id"]
    client.post(f"{API}/notifications/{first}/read", headers=auth("alice"))
    assert not inbox.unchanged() and inbox.body["notifications"][0]["read"] is True
    client.post(f"{API}/notifications/{first}/read", headers=auth("alice"))
    assert inbox.unchanged()
    client.post(f"{API}/notifications/read-all", headers=auth("alice"))
    assert not inbox.unchanged() and inbox.body["unreadCount"] == 0


def test_jobs_and_admin_changes_reach_the_pollers(app, client, auth):
    from jobs.payouts import process_payouts
    from jobs.subscriptions import renew_subscriptions
    from jobs.withdrawals import process_withdrawals

    with app.app_context():
        subscribe("alice", "professional", "monthly")
        db.session.remove()
    alice = auth("alice")
    admin = {**auth("root", admin=True)}
    cid = client.post(f"{API}/claims", json=claim_body(amount=80), headers=alice).json["claimId"]
    claims = _Poller(client, alice, f"{API}/claims")
    detail = _Poller(client, alice, f"{API}/claims/{cid}")
    wallet = _Poller(client, alice, f"{API}/wallet")
    subscription = _Poller(client, alice, f"{API}/subscription")

    client.post(f"{API}/admin/claims/{cid}/approve", headers={**admin, "Idempotency-Key": key()})
    assert not claims.unchanged() and not detail.unchanged()

    with app.app_context():  # the payout job completes it
        assert process_payouts(now=utcnow() + PAYOUT_COMPLETION_DELAY + timedelta(seconds=5)) == 1
        db.session.remove()
    assert not claims.unchanged() and claims.body["claims"][0]["status"] == "paid"
    assert not wallet.unchanged() and wallet.body["balance"] == 80
    assert not subscription.unchanged()
    assert subscription.body["coverage"]["usedAmount"] == 80
    assert subscription.body["cancellation"]["canCancel"] is False

    client.post(
        f"{API}/wallet/withdrawals",
        json={"amount": 20, "bankAccountLastFour": "9876"},
        headers={**alice, "Idempotency-Key": key()},
    )
    assert not wallet.unchanged()
    with app.app_context():
        process_withdrawals()  # pending -> processing, a job's change
        db.session.remove()
    assert not wallet.unchanged() and wallet.body["withdrawals"][0]["status"] == "processing"
    with app.app_context():
        process_withdrawals(now=utcnow() + timedelta(days=5))
        db.session.remove()
    assert not wallet.unchanged() and wallet.body["withdrawals"][0]["status"] == "completed"

    client.post(
        f"{API}/admin/members/alice/subscription/plan", json={"planId": "pro"}, headers=admin
    )
    assert not subscription.unchanged() and subscription.body["planId"] == "pro"

    with app.app_context():  # a renewal, then a failed charge, both by the job
        assert renew_subscriptions(now=utcnow() + timedelta(days=32)) == 1
        db.session.remove()
    assert not subscription.unchanged() and subscription.body["renewedAt"]

    class Declines:
        def charge(self, subscription, amount_cents):
            return ChargeResult(ok=False, reason="card declined")

    with app.app_context():
        renew_subscriptions(now=utcnow() + timedelta(days=63), billing=Declines())
        db.session.remove()
    assert not subscription.unchanged() and subscription.body["status"] == "past_due"

    client.post(f"{API}/admin/claims/{cid}/proof-request", json={}, headers=admin)
    assert not detail.unchanged() and detail.body["proofOfPayment"]["uploadedAt"] is None
    client.post(
        f"{API}/claims/{cid}/proof", json={"documentUrl": "https://x.example/r.pdf"}, headers=alice
    )
    assert not detail.unchanged() and detail.body["proofOfPayment"]["uploadedAt"]
    assert claims.unchanged() is False
