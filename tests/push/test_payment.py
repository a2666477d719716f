"""One visible push per payment, and per-kind preferences, through the FCM stand-in.

A claim is filed, approved and paid through the services (the payment emits claim_paid and
payout_completed in one change); the pushes go through pyfcm to tests/fakes/fcm_server.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from jobs.push import dispatch_push
from models import EventAck, OutboxEvent, PushDelivery, db
from models.delivery import CANCELLED, SENT
from shield.auth import Principal
from shield.feed.service import ack_event
from shield.notifications import service as preferences
from tests.jobs.support import FAR, T0, approve, file_claim, member, pay
from tests.push.helpers import device, emit

TOKENS = ("tok-pay-android-01", "tok-pay-ios-000002")


def _principal(member_id: str) -> Principal:
    return Principal(id=member_id, role="member", email=None, expires_at=FAR)


def _paid_claim(member_id: str = "alice"):
    """Pay a claim through the services; return (claim_paid event, payout_completed event)."""
    member(member_id)
    claim = file_claim(member_id, at=T0)
    approve(claim.id, at=T0 + timedelta(hours=1))
    before = db.session.execute(select(OutboxEvent.seq).order_by(OutboxEvent.seq.desc())).first()
    pay(claim.id, at=T0 + timedelta(hours=2))
    after = before[0] if before else 0
    rows = db.session.execute(
        select(OutboxEvent).where(
            OutboxEvent.seq > after, OutboxEvent.name.in_(("claim_paid", "payout_completed"))
        )
    ).scalars()
    by_name = {row.name: row for row in rows}
    return by_name["claim_paid"], by_name["payout_completed"]


def _approved_sends(fcm) -> int:
    return len([s for s in fcm.sends() if s.message["data"]["event"] == "claim_approved"])


def test_paying_a_claim_gives_each_device_one_high_priority_notification(pctx, fcm):
    device("alice", TOKENS[0], "android")
    device("alice", TOKENS[1], "ios")
    paid, payout = _paid_claim()
    now = payout.created_at
    dispatch_push(now=now)
    sends = [s for s in fcm.sends() if s.message["data"]["event"] != "claim_approved"]
    assert sorted(s.token for s in sends) == sorted(TOKENS)  # one each, not two
    data = payout.payload["data"]
    for send in sends:
        message = send.message
        assert message["notification"]["title"] == "Payment received"
        assert message["data"]["event"] == "payout_completed"
        assert message["data"]["claimId"] == data["claimId"] == paid.payload["data"]["claimId"]
        assert message["data"]["payoutId"] == data["payoutId"]
        assert message["data"]["transactionId"] == data["transactionId"]
        assert data["transactionId"] == paid.payload["data"]["transactionId"]
        if send.token == TOKENS[0]:
            assert message["android"]["priority"] == "HIGH"
        else:
            assert message["apns"]["headers"]["apns-priority"] == "10"
    # claim_paid still reaches the feed and the socket; it makes no push and no inbox entry.
    assert (
        db.session.execute(select(PushDelivery).where(PushDelivery.event_id == paid.id)).all() == []
    )
    names = [n.source_event for n in preferences.list_notifications(db.session, "alice")]
    assert names.count("payout_completed") == 1 and "claim_paid" not in names


@pytest.mark.parametrize(
    "which, via",
    [("claim_paid", "rest"), ("claim_paid", "socket"), ("payout_completed", "rest")],
)
def test_an_ack_of_either_event_stops_the_payments_re_pushes(pctx, fcm, client, auth, which, via):
    device("alice", TOKENS[0], "android")
    paid, payout = _paid_claim()
    event = paid if which == "claim_paid" else payout
    now = payout.created_at
    dispatch_push(now=now)
    dispatch_push(now=now + timedelta(minutes=2))  # round 1: not acked yet, pushed again
    payment = [s for s in fcm.sends() if s.message["data"]["event"] == "payout_completed"]
    assert [s.message["data"].get("round") for s in payment] == [None, "1"]
    if via == "rest":
        r = client.post(f"/shield/v1/events/{event.id}/ack", headers=auth("alice"))
        assert r.status_code == 200, r.json
    else:  # what the socket's claim_paid_ack handler records
        ack_event(db.session, _principal("alice"), event.id, via="socket")
        db.session.commit()
    db.session.expire_all()
    # Acking one event of the payment acks the payment: both events, same channel.
    acks = {a.event_id: a.via for a in db.session.execute(select(EventAck)).scalars()}
    assert acks == {paid.id: via, payout.id: via}
    for minutes in (10, 60, 24 * 60):
        dispatch_push(now=now + timedelta(minutes=minutes))
    payment = [s for s in fcm.sends() if s.message["data"]["event"] == "payout_completed"]
    assert len(payment) == 2
    rounds = db.session.execute(
        select(PushDelivery.round, PushDelivery.status)
        .where(PushDelivery.event_id == payout.id)
        .order_by(PushDelivery.round)
    ).all()
    assert rounds == [(0, SENT), (1, SENT), (2, CANCELLED), (3, CANCELLED)]


def test_a_claim_paid_ack_before_planning_stops_every_push_of_the_payment(pctx, fcm):
    """The socket delivers claim_paid at commit; an ack can beat the dispatcher."""
    device("alice", TOKENS[0], "android")
    paid, payout = _paid_claim()
    ack_event(db.session, _principal("alice"), paid.id, via="socket")
    db.session.commit()
    now = payout.created_at
    for minutes in (0, 2, 10, 60):
        dispatch_push(now=now + timedelta(minutes=minutes))
    assert [s for s in fcm.sends() if s.message["data"]["event"] == "payout_completed"] == []


def test_an_ack_stops_only_its_own_payment(pctx, fcm):
    device("alice", TOKENS[0], "android")
    first_paid, first = _paid_claim()
    other_claim = file_claim("alice", at=T0 + timedelta(hours=3))
    approve(other_claim.id, at=T0 + timedelta(hours=4))
    pay(other_claim.id, at=T0 + timedelta(hours=5))
    [second] = db.session.execute(
        select(OutboxEvent).where(
            OutboxEvent.name == "payout_completed", OutboxEvent.id != first.id
        )
    ).scalars()
    ack_event(db.session, _principal("alice"), first_paid.id, via="rest")
    db.session.commit()
    assert db.session.get(EventAck, second.id) is None
    now = second.created_at
    for minutes in (0, 2, 10, 60):
        dispatch_push(now=now + timedelta(minutes=minutes))
    payment = [s for s in fcm.sends() if s.message["data"]["event"] == "payout_completed"]
    assert {s.message["data"]["payoutId"] for s in payment} == {second.payload["data"]["payoutId"]}
    assert len(payment) == 4  # the unacked one: first push and its three rounds


def test_withdrawal_pushes_carry_the_withdrawal_id(pctx, fcm):
    device("alice", TOKENS[0], "android")
    emit_withdrawal = {
        "withdrawalId": "wd_123",
        "previousStatus": "processing",
        "newStatus": "failed",
        "amount": 20,
        "bankAccountLastFour": "6789",
        "failureReason": "account closed",
        "newWalletBalance": 20,
    }
    from shield import events
    from shield.members import ensure_member_id

    ensure_member_id(db.session, "alice")
    events.record(db.session, "withdrawal_status_changed", emit_withdrawal, member_id="alice")
    db.session.commit()
    dispatch_push()
    [send] = fcm.sends()
    assert send.message["data"]["withdrawalId"] == "wd_123"
    assert send.message["notification"]["title"] == "Withdrawal failed"


def test_a_switched_off_kind_makes_no_push_and_critical_kinds_always_push(pctx, fcm):
    device("alice", TOKENS[0], "android")
    device("bob", TOKENS[1], "android")
    preferences.set_preferences(
        db.session, _principal("alice"), None, {"claim_under_review": False}
    )
    db.session.commit()
    quiet = emit("alice", "claim_under_review")
    loud = emit("alice", "claim_approved")
    others = emit("bob", "claim_under_review")
    dispatch_push()
    sent = {(s.token, s.message["data"]["eventId"]) for s in fcm.sends()}
    assert sent == {(TOKENS[0], loud), (TOKENS[1], others)}
    assert (
        db.session.execute(select(PushDelivery).where(PushDelivery.event_id == quiet)).all() == []
    )
    # Turned back on, the kind pushes again.
    preferences.set_preferences(db.session, _principal("alice"), None, {"claim_under_review": True})
    db.session.commit()
    again = emit("alice", "claim_under_review")
    dispatch_push()
    assert (TOKENS[0], again) in {(s.token, s.message["data"]["eventId"]) for s in fcm.sends()}


def test_with_push_off_globally_the_payment_still_pushes(pctx, fcm):
    device("alice", TOKENS[0], "android")
    preferences.set_preferences(db.session, _principal("alice"), False, None)
    db.session.commit()
    _, payout = _paid_claim()
    dispatch_push(now=payout.created_at)
    titles = [s.message["notification"]["title"] for s in fcm.sends()]
    assert titles.count("Payment received") == 1
    assert _approved_sends(fcm) == 1
