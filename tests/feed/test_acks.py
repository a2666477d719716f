"""POST /shield/v1/events/<id>/ack: the owner only, idempotent, and it stops re-pushes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from jobs.push import dispatch_push
from models import DeliveryAttempt, EventAck, PushDelivery, db, utcnow
from models.delivery import CANCELLED, PENDING, SENT
from tests.push.helpers import device, emit


def _ack(client, headers, event_id):
    return client.post(f"/shield/v1/events/{event_id}/ack", headers=headers)


def test_the_owner_acks_once_and_again_gets_the_same_answer(app, client, auth):
    with app.app_context():
        event_id = emit("alice", "claim_paid")
    first = _ack(client, auth("alice"), event_id)
    assert first.status_code == 200
    assert first.json["eventId"] == event_id and first.json["event"] == "claim_paid"
    assert first.json["via"] == "rest" and first.json["ackedAt"].endswith("Z")
    again = _ack(client, auth("alice"), event_id)
    assert again.status_code == 200 and again.json == first.json
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(EventAck)).scalar_one() == 1


def test_nobody_else_may_ack(app, client, auth):
    with app.app_context():
        event_id = emit("alice", "payout_completed")
    for headers in (auth("bob"), auth("root", admin=True)):
        r = _ack(client, headers, event_id)
        assert r.status_code == 404 and r.json["error"]["code"] == "NOT_FOUND"
    assert _ack(client, auth("alice"), "evt_missing").status_code == 404
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(EventAck)).scalar_one() == 0


def test_events_without_an_ack_refuse_one(app, client, auth):
    with app.app_context():
        event_id = emit("alice", "claim_under_review")
        optional = emit("alice", "claim_approved")
    r = _ack(client, auth("alice"), event_id)
    assert r.status_code == 409 and r.json["error"]["code"] == "CONFLICT"
    assert _ack(client, auth("alice"), optional).status_code == 200  # optional ack is taken


def test_an_ack_cancels_the_re_push_rounds(app, client, auth):
    with app.app_context():
        device("alice", "tok-ackrest-000001")
        event_id = emit("alice", "payout_completed")
        now = utcnow()
        dispatch_push(now=now)  # first push; rounds at +2, +10, +60 min
    assert _ack(client, auth("alice"), event_id).status_code == 200
    with app.app_context():
        rounds = db.session.execute(
            select(PushDelivery.round, PushDelivery.status)
            .where(PushDelivery.event_id == event_id)
            .order_by(PushDelivery.round)
        ).all()
        assert rounds == [(0, SENT), (1, CANCELLED), (2, CANCELLED), (3, CANCELLED)]
        dispatch_push(now=now + timedelta(hours=2))
        assert (
            db.session.execute(select(func.count()).select_from(DeliveryAttempt)).scalar_one() == 1
        )
        assert (
            db.session.execute(
                select(func.count()).select_from(PushDelivery).where(PushDelivery.status == PENDING)
            ).scalar_one()
            == 0
        )
