"""Planning, re-push rounds, leases and the log backend."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select, update

from jobs.push import dispatch_push
from models import DeliveryAttempt, Device, OutboxEvent, PushDelivery, db, utcnow
from models.delivery import CANCELLED, PENDING, SENT
from models.outbox import PUSH_NONE, PUSH_PLANNED
from shield.auth import Principal
from shield.feed.service import ack_event
from shield.push import sender_for, settings_for
from shield.push.dispatcher import run_pass
from shield.push.recorder import LogSender
from tests.push.helpers import device, emit, member


def _deliveries(event_id: str) -> list[PushDelivery]:
    db.session.expire_all()
    return list(
        db.session.execute(
            select(PushDelivery)
            .where(PushDelivery.event_id == event_id)
            .order_by(PushDelivery.round, PushDelivery.device_id)
        ).scalars()
    )


def _principal(member_id: str) -> Principal:
    return Principal(id=member_id, role="member", email=None, expires_at=utcnow())


def test_one_delivery_per_active_device_of_the_owner(pctx, fcm):
    a1 = device("alice", "tok-a1-000001", "android")
    a2 = device("alice", "tok-a2-000002", "ios")
    gone = device("alice", "tok-a3-000003", "ios")
    db.session.execute(update(Device).where(Device.id == gone).values(active=False))
    device("bob", "tok-b1-000004")
    db.session.commit()
    event_id = emit("alice", "claim_approved")
    assert dispatch_push() == 2
    rows = _deliveries(event_id)
    assert {d.device_id for d in rows} == {a1, a2}
    assert all(d.status == SENT and d.round == 0 for d in rows)
    assert db.session.get(OutboxEvent, event_id).push_state == PUSH_PLANNED
    assert {r.token for r in fcm.sends()} == {"tok-a1-000001", "tok-a2-000002"}


def test_events_that_do_not_push_get_no_deliveries(pctx, fcm):
    device("alice", "tok-np-000001")
    event_id = emit("alice", "claim_submitted")
    assert db.session.get(OutboxEvent, event_id).push_state == PUSH_NONE
    dispatch_push()
    assert _deliveries(event_id) == [] and fcm.sends() == []


def test_push_preference_holds_back_only_non_critical_events(pctx, fcm):
    device("alice", "tok-pref-000001")
    member("alice", push_enabled=False)
    quiet = emit("alice", "claim_under_review")
    loud = emit("alice", "claim_approved")
    dispatch_push()
    assert _deliveries(quiet) == []
    assert [d.status for d in _deliveries(loud)] == [SENT]
    assert db.session.get(OutboxEvent, quiet).push_state == PUSH_PLANNED


def test_unacknowledged_payout_completed_is_pushed_again_then_stops(pctx, fcm):
    dev = device("alice", "tok-repush-000001")
    event_id = emit("alice", "payout_completed")
    now = utcnow()
    dispatch_push(now=now)
    rows = _deliveries(event_id)
    assert [d.round for d in rows] == [0, 1, 2, 3]
    assert [d.next_attempt_at - now for d in rows[1:]] == [
        timedelta(minutes=2),
        timedelta(minutes=10),
        timedelta(minutes=60),
    ]
    assert all(d.device_id == dev for d in rows)
    sent_at = []
    for minutes in (1, 2, 5, 10, 30, 60, 24 * 60):
        dispatch_push(now=now + timedelta(minutes=minutes))
        sent_at.append(len(fcm.sends()))
    assert sent_at == [1, 2, 2, 3, 3, 4, 4]  # +2, +10, +60 min, then nothing more
    rounds = [s.message["data"].get("round") for s in fcm.sends()]
    assert rounds == [None, "1", "2", "3"]
    # Same collapse key: a re-push replaces the notification instead of stacking.
    assert len({s.message["android"]["collapse_key"] for s in fcm.sends()}) == 1


def test_an_ack_cancels_the_pending_rounds(pctx, fcm):
    device("alice", "tok-acked-000001")
    event_id = emit("alice", "payout_completed")
    now = utcnow()
    dispatch_push(now=now)
    dispatch_push(now=now + timedelta(minutes=2))
    assert len(fcm.sends()) == 2
    ack_event(db.session, _principal("alice"), event_id, via="socket")
    db.session.commit()
    statuses = [(d.round, d.status) for d in _deliveries(event_id)]
    assert statuses == [(0, SENT), (1, SENT), (2, CANCELLED), (3, CANCELLED)]
    dispatch_push(now=now + timedelta(hours=2))
    assert len(fcm.sends()) == 2


def test_an_ack_before_planning_still_stops_the_rounds(pctx, fcm):
    device("alice", "tok-early-000001")
    event_id = emit("alice", "payout_completed")
    ack_event(db.session, _principal("alice"), event_id, via="rest")  # before any dispatch
    db.session.commit()
    now = utcnow()
    dispatch_push(now=now)  # the app already has it: no visible push
    dispatch_push(now=now + timedelta(hours=2))
    assert fcm.sends() == []
    rows = _deliveries(event_id)
    assert [d.status for d in rows] == [CANCELLED] * 4
    assert all(d.last_error == "acknowledged" for d in rows)


def _live_socket(monkeypatch, hold=10.0):
    import shield.realtime.presence as presence

    monkeypatch.setattr(presence, "has_live_socket", lambda member_id, app=None: True)
    monkeypatch.setattr(presence, "push_hold_seconds", lambda app=None: hold)


def test_a_live_socket_holds_the_critical_push_and_its_ack_cancels_it(pctx, fcm, monkeypatch):
    _live_socket(monkeypatch)
    device("alice", "tok-hold-0000001")
    event_id = emit("alice", "payout_completed")
    now = utcnow()
    dispatch_push(now=now)
    assert fcm.sends() == []  # held for the socket ack
    ack_event(db.session, _principal("alice"), event_id, via="socket")
    db.session.commit()
    dispatch_push(now=now + timedelta(seconds=11))
    dispatch_push(now=now + timedelta(hours=2))
    assert fcm.sends() == []
    assert [d.status for d in _deliveries(event_id)] == [CANCELLED] * 4


def test_without_a_socket_ack_the_held_push_goes_out(pctx, fcm, monkeypatch):
    _live_socket(monkeypatch)
    device("alice", "tok-hold-0000002")
    event_id = emit("alice", "payout_completed")
    now = utcnow()
    dispatch_push(now=now)
    dispatch_push(now=now + timedelta(seconds=5))
    assert fcm.sends() == []
    dispatch_push(now=now + timedelta(seconds=11))
    assert len(fcm.sends()) == 1
    assert _deliveries(event_id)[0].status == SENT


def test_a_live_socket_does_not_hold_events_without_acks(pctx, fcm, monkeypatch):
    _live_socket(monkeypatch)
    device("alice", "tok-hold-0000003")
    emit("alice", "claim_approved")
    dispatch_push(now=utcnow())
    assert len(fcm.sends()) == 1


def test_a_crashed_dispatchers_lease_expires_and_the_work_is_done(pctx, fcm):
    dev = device("alice", "tok-lease-000001")
    event_id = emit("alice", "claim_approved")
    now = utcnow()
    settings = settings_for(pctx)
    # A dispatcher claimed the delivery to send it, then died (its lease is not renewed).
    from shield.push.planning import claim_due, plan_pending

    plan_pending(db.session, settings, now)
    [leased] = claim_due(db.session, settings, now, "dead-host:1:abc", 10)
    lease = timedelta(seconds=settings.lease_seconds)
    assert lease <= timedelta(seconds=10)  # taken over within seconds, not a minute
    assert dispatch_push(now=now + lease / 2) == 0  # the lease still holds
    assert fcm.sends() == []
    assert dispatch_push(now=now + lease + timedelta(seconds=1)) == 1
    [row] = _deliveries(event_id)
    assert row.id == leased and row.status == SENT and row.device_id == dev
    assert row.lease_owner is None and len(fcm.sends()) == 1


def test_a_result_for_a_lost_lease_does_not_overwrite_the_new_owner(pctx, fcm):
    device("alice", "tok-lost-000001")
    event_id = emit("alice", "claim_approved")
    now = utcnow()
    from shield.push.items import load_items
    from shield.push.leases import finish
    from shield.push.planning import claim_due, plan_pending

    settings = settings_for(pctx)
    plan_pending(db.session, settings, now)
    ids = claim_due(db.session, settings, now, "slow:1:aaa", 10)
    # The slow owner's lease ended and another dispatcher re-claimed the row.
    db.session.execute(
        update(PushDelivery).where(PushDelivery.id.in_(ids)).values(lease_owner="fast:2:bbb")
    )
    db.session.commit()
    # It does not send what it no longer holds, nor write over the new owner's row.
    assert load_items(db.session, settings, ids, now=now, owner="slow:1:aaa") == []
    assert finish(db.session, ids, "slow:1:aaa", status=SENT) == 0
    db.session.commit()
    assert fcm.sends() == [] and _deliveries(event_id)[0].status == PENDING
    assert _deliveries(event_id)[0].lease_owner == "fast:2:bbb"


def test_messages_about_one_claim_to_one_device_go_in_order(pctx, fcm):
    device("alice", "tok-order-000001")
    claim = "clm_order"
    emit("alice", "claim_under_review", claim_id=claim)
    emit("alice", "claim_approved", claim_id=claim)
    emit("alice", "payout_completed", claim_id=claim)
    for other in range(6):  # other claims travel concurrently
        emit("alice", "claim_approved", claim_id=f"clm_other{other}")
    dispatch_push()
    mine = [
        s.message["data"]["event"] for s in fcm.sends() if s.message["data"].get("claimId") == claim
    ]
    assert mine == ["claim_under_review", "claim_approved", "payout_completed"]
    assert len(fcm.sends()) == 9


def test_the_log_backend_records_what_would_be_sent(app, client, auth, caplog):
    with app.app_context():
        sender = sender_for(app)
        assert isinstance(sender, LogSender)  # no SHIELD_FCM_SERVICE_ACCOUNT
        device("alice", "tok-recorded-abcdef", "ios")
        event_id = emit("alice", "claim_approved", claim_id="clm_rec")
        with caplog.at_level("INFO", logger="shield.push.recorded"):
            assert dispatch_push() == 1
        [recorded] = sender.recent()
        assert recorded["eventId"] == event_id and recorded["token"] == "…abcdef"
        assert recorded["notification"]["title"] == "Claim approved"
        [attempt] = db.session.execute(select(DeliveryAttempt)).scalars().all()
        assert attempt.outcome == "recorded"
        stored = json.loads(attempt.detail)
        assert stored["data"]["claimId"] == "clm_rec" and stored["token"] == "…abcdef"
        assert "tok-recorded-abcdef" not in caplog.text and "…abcdef" in caplog.text
    r = client.get("/shield/v1/admin/push/deliveries", headers=auth("root", admin=True))
    assert r.status_code == 200
    [row] = r.json["deliveries"]
    assert row["event"] == "claim_approved" and row["status"] == "sent"
    assert row["attemptLog"][0]["outcome"] == "recorded"
    assert row["attemptLog"][0]["message"]["notification"]["title"] == "Claim approved"
    assert row["attemptLog"][0]["message"]["token"] == "…abcdef"
    admin = auth("root", admin=True)
    assert (
        client.get("/shield/v1/admin/push/deliveries?status=pending", headers=admin).json[
            "deliveries"
        ]
        == []
    )
    assert (
        client.get("/shield/v1/admin/push/deliveries?status=nope", headers=admin).status_code == 400
    )
    assert "tok-recorded-abcdef" not in r.get_data(as_text=True)


def test_run_pass_reports_when_the_next_delivery_is_due(pctx, fcm):
    device("alice", "tok-due-000001")
    emit("alice", "payout_completed")
    now = utcnow()
    result = run_pass(db.session, sender_for(pctx), settings_for(pctx), now=now)
    assert result.processed == 1 and not result.more
    assert result.next_due == now + timedelta(minutes=2)
    assert (
        db.session.execute(select(PushDelivery).where(PushDelivery.status == PENDING))
        .scalars()
        .all()[0]
        .lease_owner
        is None
    )
