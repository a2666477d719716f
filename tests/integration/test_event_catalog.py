"""Every event the system can emit, produced through the real APIs and jobs, checked field
for field against the spec; and the delivery rules of domain.md's table on each row."""

import json
from datetime import timedelta

from sqlalchemy import select

from models import OutboxEvent, db, utcnow
from models.outbox import AUDIENCE_ADMIN, PUSH_NONE, PUSH_PENDING
from shield.events import EVENTS
from tests.factories import claim_body
from tests.spec_check import assert_conforms, spec_events

V1 = "/shield/v1"


class FailingBilling:
    def charge(self, subscription, amount_cents):
        from shield.subscriptions.billing import ChargeResult

        return ChargeResult(ok=False, reason="card_declined")


def test_every_event_conforms_and_follows_the_catalog(app, client, auth):
    admin = auth("root", admin=True)
    member = auth("alice")

    def post(path, headers, body=None, key=None):
        h = dict(headers)
        if key:
            h["Idempotency-Key"] = key
        r = client.post(V1 + path, headers=h, json=body)
        assert r.status_code in (200, 201), (path, r.status_code, r.json)
        return r.json

    client.get(V1 + "/claims", headers=member)
    post("/admin/members/alice/subscription", admin, {"planId": "pro", "billingPeriod": "monthly"})
    first = post("/claims", member, claim_body(amount=120))["claimId"]
    second = post("/claims", member, claim_body(amount=40))["claimId"]
    post(f"/admin/claims/{first}/review", admin)
    post(f"/admin/claims/{first}/approve", admin, {"decisionNotes": "ok"}, key="a1")
    post(f"/admin/claims/{first}/pay", admin, key="p1")
    post(f"/admin/claims/{second}/deny", admin, {"denialCode": "D006", "decisionNotes": "typo"})
    post(f"/admin/claims/{first}/proof-request", admin, {"message": "Upload the receipt"})
    post("/admin/members/alice/subscription/plan", admin, {"planId": "professional"})
    w1 = post(
        "/wallet/withdrawals", member, {"amount": 20, "bankAccountLastFour": "4321"}, key="w1"
    )["withdrawalId"]
    w2 = post(
        "/wallet/withdrawals", member, {"amount": 10, "bankAccountLastFour": "4321"}, key="w2"
    )["withdrawalId"]
    post(f"/admin/withdrawals/{w1}/complete", admin, key="c1")
    post(f"/admin/withdrawals/{w2}/fail", admin, {"reason": "account closed"}, key="f1")

    with app.app_context():
        from jobs.claims import alert_overdue_proofs, alert_stale_reviews, detect_fraud
        from jobs.subscriptions import (
            expire_cancellation_restrictions,
            renew_subscriptions,
            reset_coverage_periods,
        )

        later = utcnow() + timedelta(days=3)
        client.post(V1 + "/claims", headers=member, json=claim_body())
        assert alert_stale_reviews(now=later) >= 1
        assert alert_overdue_proofs(now=utcnow() + timedelta(days=15)) == 1
        for _ in range(3):
            client.post(V1 + "/claims", headers=member, json=claim_body())
        assert detect_fraud() >= 1
        assert renew_subscriptions(now=utcnow() + timedelta(days=32)) == 1  # renewed
        assert expire_cancellation_restrictions(now=utcnow() + timedelta(days=91)) == 1
        assert reset_coverage_periods(now=utcnow() + timedelta(days=366)) >= 1
        assert (
            renew_subscriptions(now=utcnow() + timedelta(days=400), billing=FailingBilling()) == 1
        )  # past_due

        rows = db.session.execute(select(OutboxEvent).order_by(OutboxEvent.seq)).scalars().all()
        # Every claim's stored rendering is current after all of that (API and jobs alike).
        from models import Claim
        from shield.claims.serialize import claim_json, stored_json

        for now in (utcnow(), utcnow() + timedelta(days=60)):
            for claim in db.session.scalars(select(Claim)):
                assert json.loads(stored_json(claim.rendered, claim.appeal_deadline, now)) == (
                    claim_json(claim, now)
                )

    seen = set()
    for row in rows:
        message = {**row.payload, "id": row.id, "seq": row.seq}
        assert_conforms(message)
        rule = EVENTS[row.name]
        seen.add(row.name)
        if rule.audience == AUDIENCE_ADMIN:
            assert row.member_id is None and row.audience == AUDIENCE_ADMIN
        else:
            assert row.member_id == "alice"
        expected_push = PUSH_PENDING if rule.push(row.payload["data"]) else PUSH_NONE
        assert row.push_state in (
            {expected_push} | ({"planned"} if expected_push == PUSH_PENDING else set())
        ), row.name
    server_events = set(spec_events()) - {"error"}
    assert server_events == set(EVENTS)
    assert seen == server_events, f"never produced: {sorted(server_events - seen)}"
    seqs = [r.seq for r in rows]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # gapless, commit-ordered
