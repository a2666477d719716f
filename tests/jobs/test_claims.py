from datetime import timedelta

import pytest

from jobs.claims import alert_overdue_proofs, alert_stale_reviews, detect_fraud
from models import Claim, ResourceVersion, db
from shield.claims import service as claims
from shield.rules import FRAUD_WINDOW, REVIEW_ALERT_AFTER
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

ALERT = "admin_action_required"


def alerts(after: int = 0) -> list[dict]:
    """The admin alerts emitted after `after`, checked against the spec, as messages."""
    found = events(ALERT, after=after)
    for event in found:
        assert event.member_id is None and event.audience == "admin"
        assert_conforms(as_message(event))
    return [e.payload for e in found]


def test_claim_waiting_over_48h_alerts_once(ctx):
    member("alice")
    waiting = file_claim("alice", at=T0)
    reviewed = file_claim("alice", at=T0)
    claims.start_review(db.session, reviewed.id, now=T0 + timedelta(hours=1))
    db.session.commit()
    version = db.session.get(ResourceVersion, "alice").claims
    seq = last_seq()

    assert alert_stale_reviews(now=T0 + REVIEW_ALERT_AFTER) == 0
    now = T0 + REVIEW_ALERT_AFTER + timedelta(minutes=5)
    assert alert_stale_reviews(now=now) == 1
    [alert] = alerts(after=seq)
    assert alert == {
        "event": ALERT,
        "timestamp": iso(now),
        "data": {
            "type": "claim_review",
            "priority": "medium",
            "claimId": waiting.id,
            "userId": "alice",
            "message": f"Claim for ticket {waiting.ticket_number} has been waiting for review "
            "for 48 hours.",
            "metadata": {
                "ticketNumber": waiting.ticket_number,
                "amount": 65,
                "submittedAt": iso(T0),
                "waitingHours": 48,
            },
        },
    }
    db.session.expire_all()
    assert db.session.get(Claim, waiting.id).review_alerted_at == now
    assert db.session.get(Claim, reviewed.id).review_alerted_at is None
    # Admin bookkeeping does not change what the member polls.
    assert db.session.get(ResourceVersion, "alice").claims == version

    assert alert_stale_reviews(now=now + timedelta(days=3)) == 0
    assert len(alerts(after=seq)) == 1


def test_overdue_proof_of_payment_alerts_once_per_request(ctx):
    member("alice")
    overdue = file_claim("alice", at=T0)
    uploaded = file_claim("alice", at=T0)
    for claim in (overdue, uploaded):
        approve(claim.id, at=T0 + timedelta(hours=1))
        pay(claim.id, at=T0 + timedelta(hours=2))
        claims.request_proof(
            db.session, claim.id, due_by=T0 + timedelta(days=3), now=T0 + timedelta(days=1)
        )
    claims.upload_proof(
        db.session,
        "alice",
        uploaded.id,
        "https://files.example/receipt.pdf",
        now=T0 + timedelta(days=2),
    )
    db.session.commit()
    seq = last_seq()

    assert alert_overdue_proofs(now=T0 + timedelta(days=3)) == 0  # due, not yet overdue
    now = T0 + timedelta(days=3, minutes=1)
    assert alert_overdue_proofs(now=now) == 1
    [alert] = alerts(after=seq)
    assert alert["timestamp"] == iso(now)
    assert alert["data"] == {
        "type": "proof_overdue",
        "priority": "high",
        "claimId": overdue.id,
        "userId": "alice",
        "message": f"Proof of payment for ticket {overdue.ticket_number} was due "
        f"{iso(T0 + timedelta(days=3))} and has not been uploaded.",
        "metadata": {
            "ticketNumber": overdue.ticket_number,
            "payoutAmount": 65,
            "requestedAt": iso(T0 + timedelta(days=1)),
            "dueBy": iso(T0 + timedelta(days=3)),
        },
    }
    assert alert_overdue_proofs(now=now + timedelta(days=1)) == 0
    assert len(alerts(after=seq)) == 1

    # A new request starts a new deadline, which may be missed (and alerted) once more.
    claims.request_proof(
        db.session, overdue.id, due_by=T0 + timedelta(days=10), now=T0 + timedelta(days=5)
    )
    db.session.commit()
    assert alert_overdue_proofs(now=T0 + timedelta(days=9)) == 0
    assert alert_overdue_proofs(now=T0 + timedelta(days=11)) == 1
    assert alert_overdue_proofs(now=T0 + timedelta(days=12)) == 0
    assert len(alerts(after=seq)) == 2


def test_same_ticket_number_on_two_members_claims_is_a_fraud_alert(ctx):
    for m in ("alice", "bob", "carol", "dave"):
        member(m)
    a = file_claim("alice", at=T0, ticket="SF-777")
    b = file_claim("bob", at=T0 + timedelta(hours=2), ticket="SF-777")
    file_claim("dave", at=T0, ticket="SF-778")
    seq = last_seq()

    now = T0 + timedelta(hours=3)
    assert detect_fraud(now=now) == 2
    found = {a["data"]["claimId"]: a["data"] for a in alerts(after=seq)}
    assert set(found) == {a.id, b.id}
    assert found[b.id] == {
        "type": "fraud_alert",
        "priority": "high",
        "claimId": b.id,
        "userId": "bob",
        "message": "Possible fraud on the claim for ticket SF-777: the same ticket number is "
        "claimed by 1 other member(s) (alice).",
        "metadata": {
            "ticketNumber": "SF-777",
            "duplicateClaims": [{"claimId": a.id, "userId": "alice"}],
            "signals": ["duplicate_ticket_number"],
        },
    }
    assert found[a.id]["metadata"]["duplicateClaims"] == [{"claimId": b.id, "userId": "bob"}]
    assert detect_fraud(now=now + timedelta(minutes=5)) == 0

    c = file_claim("carol", at=now + timedelta(hours=1), ticket="SF-777")
    seq2 = last_seq()
    assert detect_fraud(now=now + timedelta(hours=2)) == 1
    [third] = alerts(after=seq2)
    assert third["data"]["claimId"] == c.id
    assert [d["userId"] for d in third["data"]["metadata"]["duplicateClaims"]] == ["alice", "bob"]
    assert len(alerts(after=seq)) == 3


def test_more_than_three_claims_in_seven_days_is_a_fraud_alert(ctx):
    member("alice")
    member("bob")
    # bob: four claims, but never more than three inside any 7-day window.
    for day in (0, 2, 4, 8):
        file_claim("bob", at=T0 + timedelta(days=day))
    first = [file_claim("alice", at=T0 + timedelta(days=d)) for d in (0, 1, 2)]
    seq = last_seq()
    assert detect_fraud(now=T0 + timedelta(days=9)) == 0

    fourth = file_claim("alice", at=T0 + timedelta(days=6, hours=23))
    now = T0 + timedelta(days=9)
    assert detect_fraud(now=now) == 1
    [alert] = alerts(after=seq)
    assert alert["data"]["claimId"] == fourth.id and alert["data"]["userId"] == "alice"
    assert alert["data"]["priority"] == "high" and alert["data"]["type"] == "fraud_alert"
    assert alert["data"]["metadata"] == {
        "ticketNumber": fourth.ticket_number,
        "claimsInWindow": 4,
        "windowDays": FRAUD_WINDOW.days,
        "maxClaimsInWindow": 3,
        "windowClaimIds": [c.id for c in first] + [fourth.id],
        "signals": ["claim_burst"],
    }
    assert "filed 4 claims within 7 days (more than 3)" in alert["data"]["message"]
    assert detect_fraud(now=now) == 0

    # Day 9: the window has slid past days 0-2; two claims inside, then four.
    file_claim("alice", at=T0 + timedelta(days=9))
    file_claim("alice", at=T0 + timedelta(days=9, hours=1))
    later = T0 + timedelta(days=10)
    assert detect_fraud(now=later) == 0
    seventh = file_claim("alice", at=T0 + timedelta(days=9, hours=2))
    assert detect_fraud(now=later) == 1
    assert alerts(after=seq)[-1]["data"]["claimId"] == seventh.id
    assert alerts(after=seq)[-1]["data"]["metadata"]["claimsInWindow"] == 4
    assert len(alerts(after=seq)) == 2


def test_alert_jobs_with_nothing_to_do(ctx):
    member("alice")
    file_claim("alice", at=T0)
    assert alert_stale_reviews(now=T0 + timedelta(hours=1)) == 0
    assert alert_overdue_proofs(now=T0 + timedelta(days=60)) == 0
    assert detect_fraud(now=T0 + timedelta(hours=1)) == 0
    assert alerts() == []


@pytest.mark.postgres
def test_concurrent_alert_runs_emit_each_alert_once(app):
    with app.app_context():
        member("alice")
        ids = {file_claim("alice", at=T0 + timedelta(minutes=i)).id for i in range(40)}
    now = T0 + timedelta(days=3)
    counts = run_concurrently(app, 3, lambda: alert_stale_reviews(now=now))
    assert sum(counts) == 40  # worker errors are re-raised by run_concurrently
    with app.app_context():
        alerted = [a["data"]["claimId"] for a in alerts()]
        assert sorted(alerted) == sorted(ids)
