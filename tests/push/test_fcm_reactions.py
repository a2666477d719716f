"""Each FCM answer gets the reaction FCM documents; pyfcm runs against the local stand-in."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from jobs.push import dispatch_push
from models import DeliveryAttempt, Device, OutboxEvent, PushDelivery, db, utcnow
from models.delivery import FAILED, PENDING, SENT, PushPause
from tests.fakes import fcm_server as F
from tests.push.helpers import device, emit


def _delivery(event_id: str, device_id: str, round_: int = 0) -> PushDelivery:
    db.session.expire_all()
    return db.session.execute(
        select(PushDelivery).where(
            PushDelivery.event_id == event_id,
            PushDelivery.device_id == device_id,
            PushDelivery.round == round_,
        )
    ).scalar_one()


def _attempts(delivery_id: str) -> list[DeliveryAttempt]:
    return list(
        db.session.execute(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery_id)
            .order_by(DeliveryAttempt.id)
        ).scalars()
    )


def test_a_critical_push_has_the_documented_shape(pctx, fcm):
    dev = device("alice", "tok-android-aaaaaa", "android")
    claim_id = "clm_shape"
    event_id = emit("alice", "claim_approved", claim_id=claim_id)
    now = utcnow()
    assert dispatch_push(now=now) == 1
    [sent] = fcm.sends()
    assert fcm.shape_errors == [] and fcm.token_errors == [] and fcm.token_requests == 1
    msg = sent.message
    assert msg["token"] == "tok-android-aaaaaa"
    assert msg["notification"]["title"] == "Claim approved"
    assert "$50.00" in msg["notification"]["body"]
    seq = db.session.get(OutboxEvent, event_id).seq
    assert msg["data"] == {
        "eventId": event_id,
        "event": "claim_approved",
        "seq": str(seq),
        "type": "claim_update",
        "route": f"/claims/{claim_id}",
        "claimId": claim_id,
    }
    assert msg["android"]["priority"] == "HIGH"
    assert msg["android"]["collapse_key"] == f"claim-{claim_id}"
    assert msg["android"]["ttl"] == "86400s"
    headers = msg["apns"]["headers"]
    assert headers["apns-priority"] == "10"
    assert headers["apns-collapse-id"] == f"claim-{claim_id}"
    assert int(headers["apns-expiration"]) == int((now + timedelta(days=1)).timestamp())
    dlv = _delivery(event_id, dev)
    assert dlv.status == SENT and dlv.attempts == 1 and dlv.sent_at == now
    [attempt] = _attempts(dlv.id)
    assert attempt.outcome == "sent" and attempt.http_status == 200
    assert attempt.detail.startswith("projects/shield-test/messages/")
    # Nothing is sent twice.
    assert dispatch_push(now=now + timedelta(hours=2)) == 0
    assert len(fcm.sends()) == 1


def test_a_non_critical_push_is_normal_priority(pctx, fcm):
    device("alice", "tok-normal-bbbbbb")
    emit("alice", "claim_under_review")
    dispatch_push()
    [sent] = fcm.sends()
    assert sent.message["android"]["priority"] == "NORMAL"
    assert sent.message["apns"]["headers"]["apns-priority"] == "5"
    assert sent.message["notification"]["title"] == "Claim under review"


def test_payout_completed_carries_the_payout_id(pctx, fcm):
    device("alice", "tok-payout-cccccc")
    event_id = emit("alice", "payout_completed", claim_id="clm_p")
    dispatch_push()
    data = fcm.sends()[0].message["data"]
    payout_id = db.session.get(OutboxEvent, event_id).payload["data"]["payoutId"]
    assert data["payoutId"] == payout_id and data["claimId"] == "clm_p"
    assert data["route"] == "/wallet"
    assert fcm.sends()[0].message["notification"]["title"] == "Payment received"


def _dead_token_case(fcm, reply, token: str) -> tuple[DeliveryAttempt, Device]:
    dev = device("alice", token)
    fcm.always(token, reply)
    event_id = emit("alice", "claim_approved")
    now = utcnow()
    dispatch_push(now=now)
    dlv = _delivery(event_id, dev)
    assert dlv.status == FAILED
    device_row = db.session.get(Device, dev)
    assert device_row.active is False
    [attempt] = _attempts(dlv.id)
    assert attempt.outcome == "token_dead"
    # No retry, and the next event does not even try the dead token.
    emit("alice", "claim_under_review")
    dispatch_push(now=now + timedelta(days=1))
    assert len(fcm.sends(token)) == 1
    return attempt, device_row


def test_unregistered_deactivates_the_token(pctx, fcm):
    attempt, dev = _dead_token_case(fcm, F.UNREGISTERED(), "tok-unreg-dddddd")
    assert attempt.http_status == 404 and attempt.error_code == "UNREGISTERED"
    assert dev.deactivated_reason == "UNREGISTERED"


def test_invalid_registration_token_deactivates_the_token(pctx, fcm):
    attempt, dev = _dead_token_case(fcm, F.INVALID_TOKEN(), "tok-invalid-eeeeee")
    assert attempt.http_status == 400 and attempt.error_code == "INVALID_ARGUMENT"
    assert "invalid registration token" in attempt.detail


def test_sender_id_mismatch_deactivates_the_token(pctx, fcm):
    attempt, dev = _dead_token_case(fcm, F.SENDER_ID_MISMATCH(), "tok-sender-ffffff")
    assert attempt.http_status == 403 and attempt.error_code == "SENDER_ID_MISMATCH"
    assert dev.deactivated_reason == "SENDER_ID_MISMATCH"


def test_a_bad_payload_fails_for_good_keeps_the_token_and_logs_a_bug(pctx, fcm, caplog):
    dev = device("alice", "tok-payload-gggggg")
    fcm.fail("tok-payload-gggggg", F.INVALID_PAYLOAD())
    event_id = emit("alice", "claim_approved")
    now = utcnow()
    with caplog.at_level(logging.ERROR, logger="shield.push.dispatcher"):
        dispatch_push(now=now)
    dlv = _delivery(event_id, dev)
    assert dlv.status == FAILED and "payload rejected" in dlv.last_error
    assert db.session.get(Device, dev).active is True
    [attempt] = _attempts(dlv.id)
    assert attempt.outcome == "payload_rejected" and attempt.http_status == 400
    assert any("BUG" in r.getMessage() and event_id in r.getMessage() for r in caplog.records)
    dispatch_push(now=now + timedelta(hours=1))
    assert len(fcm.sends("tok-payload-gggggg")) == 1  # never retried
    emit("alice", "claim_under_review")  # the token still works for the next push
    dispatch_push(now=now + timedelta(hours=1))
    assert fcm.sends("tok-payload-gggggg")[-1].status == 200


@pytest.mark.parametrize("reply", [F.PROXY_404_HTML, F.NOT_FOUND_WITHOUT_CODE])
def test_a_404_without_an_fcm_error_code_keeps_the_token_and_delivers_later(
    pctx, fcm, reply, caplog
):
    # A wrong SHIELD_FCM_ENDPOINT or a proxy's 404 page says nothing about the device: a
    # configuration fault. Sends pause, it is logged loudly, admins get one alert.
    token = "tok-404-html-kkkkkk"
    dev = device("alice", token)
    fcm.always(token, reply())
    event_id = emit("alice", "claim_approved")
    now = utcnow()
    with caplog.at_level(logging.ERROR):
        dispatch_push(now=now)
    dlv = _delivery(event_id, dev)
    assert dlv.status == PENDING and db.session.get(Device, dev).active is True
    assert dlv.attempts == 0 and dlv.next_attempt_at == now  # keeps its place and budget
    [attempt] = _attempts(dlv.id)
    assert attempt.http_status == 404 and attempt.outcome == "outage"
    assert any(
        r.levelno == logging.CRITICAL and "CONFIGURATION FAULT" in r.message for r in caplog.records
    )
    dispatch_push(now=now + timedelta(minutes=1))  # still broken: no second alert
    [alert] = _admin_alerts()
    assert alert.payload["data"]["metadata"]["reason"] == "push_configuration_fault"
    assert alert.payload["data"]["metadata"]["httpStatus"] == 404
    fcm.always(token, None)  # the endpoint is fixed
    dispatch_push(now=now + timedelta(hours=1))
    db.session.expire_all()
    assert _delivery(event_id, dev).status == SENT
    assert db.session.get(Device, dev).active is True
    assert fcm.delivered()[(token, event_id)] == 1
    assert len(_admin_alerts()) == 1


def test_invalid_argument_text_without_fcm_code_keeps_the_token(pctx, fcm):
    # Only FCM's errorCode decides: a 400 that merely mentions a registration token does not.
    token = "tok-400-nocode-llllll"
    dev = device("alice", token)
    fcm.fail(token, F._error(400, "INVALID_ARGUMENT", "The registration token is not valid"))
    emit("alice", "claim_approved")
    dispatch_push(now=utcnow())
    assert db.session.get(Device, dev).active is True


def test_permission_denied_without_sender_mismatch_keeps_the_token(pctx, fcm):
    dev = device("alice", "tok-perm-hhhhhh")
    fcm.fail("tok-perm-hhhhhh", F.PERMISSION_DENIED())
    event_id = emit("alice", "claim_approved")
    now = utcnow()
    dispatch_push(now=now)
    dlv = _delivery(event_id, dev)
    assert dlv.status == PENDING and db.session.get(Device, dev).active is True
    assert dlv.attempts == 0  # the project's fault, not the token's
    [alert] = _admin_alerts()
    assert alert.payload["data"]["metadata"]["httpStatus"] == 403
    dispatch_push(now=now + timedelta(seconds=1))
    assert _delivery(event_id, dev).status == SENT


def _admin_alerts() -> list[OutboxEvent]:
    return list(
        db.session.execute(
            select(OutboxEvent).where(OutboxEvent.name == "admin_action_required")
        ).scalars()
    )


def test_third_party_auth_error_pauses_ios_keeps_tokens_and_alerts_admins(pctx, fcm):
    ios = device("alice", "tok-ios-iiiiii", "ios")
    ios2 = device("bob", "tok-ios-jjjjjj", "ios")
    android = device("alice", "tok-android-kkkkkk", "android")
    fcm.always("tok-ios-iiiiii", F.THIRD_PARTY_AUTH_ERROR())
    first = emit("alice", "claim_approved")
    now = utcnow()
    dispatch_push(now=now)
    assert _delivery(first, android).status == SENT  # Android is not affected
    dlv = _delivery(first, ios)
    assert dlv.status == PENDING and dlv.attempts == 1
    assert db.session.get(Device, ios).active is True
    pause = db.session.get(PushPause, "ios")
    assert pause.paused_until == now + timedelta(seconds=900)
    assert dlv.next_attempt_at == pause.paused_until
    [attempt] = _attempts(dlv.id)
    assert attempt.outcome == "paused" and attempt.error_code == "THIRD_PARTY_AUTH_ERROR"
    [alert] = _admin_alerts()
    data = alert.payload["data"]
    assert alert.member_id is None and alert.audience == "admin"
    assert data["priority"] == "high" and data["type"] == "claim_review"
    assert data["metadata"]["reason"] == "push_credentials_rejected"
    assert data["metadata"]["errorCode"] == "THIRD_PARTY_AUTH_ERROR"
    assert data["metadata"]["platform"] == "ios"

    # While paused, iOS deliveries wait without an attempt; Android goes on.
    second = emit("bob", "claim_approved")
    dispatch_push(now=now + timedelta(minutes=1))
    assert fcm.sends("tok-ios-jjjjjj") == []
    waiting = _delivery(second, ios2)
    assert waiting.status == PENDING and waiting.attempts == 0
    assert waiting.next_attempt_at == pause.paused_until and "paused" in waiting.last_error

    # After the pause one probe goes out; still failing: paused again, no second alert.
    later = pause.paused_until + timedelta(seconds=1)
    dispatch_push(now=later)
    assert len(fcm.sends("tok-ios-iiiiii")) == 2
    assert _delivery(second, ios2).status == SENT  # bob's token is fine
    assert len(_admin_alerts()) == 1
    db.session.expire_all()
    assert db.session.get(PushPause, "ios").paused_until == later + timedelta(seconds=900)

    # Fixed in Firebase: the next probe delivers.
    fcm.always("tok-ios-iiiiii", None)
    dispatch_push(now=later + timedelta(seconds=901))
    assert _delivery(first, ios).status == SENT


def test_quota_exceeded_waits_at_least_a_minute(pctx, fcm):
    dev = device("alice", "tok-quota-llllll")
    fcm.fail("tok-quota-llllll", F.QUOTA_EXCEEDED(retry_after="5"))
    event_id = emit("alice", "claim_approved")
    now = utcnow()
    dispatch_push(now=now)
    dlv = _delivery(event_id, dev)
    assert dlv.status == PENDING
    assert now + timedelta(seconds=60) <= dlv.next_attempt_at <= now + timedelta(seconds=90)
    [attempt] = _attempts(dlv.id)
    assert attempt.outcome == "retry" and attempt.http_status == 429
    assert attempt.error_code == "QUOTA_EXCEEDED"
    dispatch_push(now=now + timedelta(seconds=59))
    assert len(fcm.sends("tok-quota-llllll")) == 1
    dispatch_push(now=dlv.next_attempt_at)
    assert _delivery(event_id, dev).status == SENT
    assert len(fcm.sends("tok-quota-llllll")) == 2


def test_quota_exceeded_honours_a_longer_retry_after(pctx, fcm):
    dev = device("alice", "tok-quota-mmmmmm")
    fcm.fail("tok-quota-mmmmmm", F.QUOTA_EXCEEDED(retry_after="600"))
    event_id = emit("alice", "claim_approved")
    now = utcnow()
    dispatch_push(now=now)
    assert _delivery(event_id, dev).next_attempt_at == now + timedelta(seconds=600)


def test_unavailable_for_everyone_costs_time_not_attempts_until_the_ttl(pctx, fcm):
    dev = device("alice", "tok-503-nnnnnn")
    fcm.always("tok-503-nnnnnn", F.UNAVAILABLE(retry_after="30"))
    event_id = emit("alice", "claim_approved")
    now = utcnow()
    dispatch_push(now=now)
    dlv = _delivery(event_id, dev)
    assert dlv.next_attempt_at == now + timedelta(seconds=30)  # Retry-After, from the answer
    ttl = timedelta(seconds=pctx.extensions["shield.push.settings"].ttl_seconds)
    for hours in range(1, 6):
        dispatch_push(now=now + timedelta(hours=hours))
    dlv = _delivery(event_id, dev)
    assert dlv.status == PENDING and dlv.attempts == 0  # no budget spent on an outage
    outcomes = [a.outcome for a in _attempts(dlv.id)]
    assert outcomes == ["outage"] * 6
    # One HTTP request per attempt: neither urllib3 nor pyfcm retried behind our back.
    assert len(fcm.sends("tok-503-nnnnnn")) == 6
    dispatch_push(now=now + ttl + timedelta(seconds=1))
    dlv = _delivery(event_id, dev)
    assert dlv.status == FAILED and dlv.last_error == "expired (past the TTL)"
    assert len(fcm.sends("tok-503-nnnnnn")) == 6


def test_unavailable_for_one_token_only_backs_off_then_gives_up(pctx, fcm):
    # Other tokens get answers meanwhile: the failure is this token's, and spends its budget.
    sick = device("alice", "tok-503-only-ssssss")
    fcm.always("tok-503-only-ssssss", F.UNAVAILABLE())
    device("bob", "tok-ok-tttttt")
    event_id = emit("alice", "claim_approved")
    now = utcnow()
    delays, at = [], now
    for round_ in range(5):
        emit("bob", "claim_under_review", claim_id=f"clm_bob{round_}")
        fcm.latency("tok-503-only-ssssss", 0.3)  # bob's answer comes while it is in flight
        dispatch_push(now=at)
        dlv = _delivery(event_id, sick)
        if dlv.status != PENDING:
            break
        delays.append((dlv.next_attempt_at - at).total_seconds())
        at = dlv.next_attempt_at
    assert dlv.status == FAILED and dlv.attempts == 5 and "gave up" in dlv.last_error
    outcomes = [a.outcome for a in _attempts(dlv.id)]
    assert outcomes == ["retry"] * 4 + ["gave_up"]
    assert 10 <= delays[0] <= 15 and delays[2] >= 40 and delays[3] >= 80  # 10 * 2**(n-1)


def test_internal_error_keeps_the_place_and_is_sent_next_time(pctx, fcm):
    dev = device("alice", "tok-500-oooooo")
    fcm.fail("tok-500-oooooo", F.INTERNAL())
    event_id = emit("alice", "claim_approved")
    now = utcnow()
    dispatch_push(now=now)
    dlv = _delivery(event_id, dev)
    assert dlv.status == PENDING and dlv.next_attempt_at == now and dlv.attempts == 0
    dispatch_push(now=now + timedelta(seconds=1))
    assert _delivery(event_id, dev).status == SENT


def test_a_200_with_retry_after_is_sent_once(pctx, fcm):
    dev = device("alice", "tok-200ra-pppppp")
    fcm.fail(
        "tok-200ra-pppppp",
        F.Reply(200, {"name": "projects/shield-test/messages/x"}, {"Retry-After": "1"}),
    )
    event_id = emit("alice", "claim_approved")
    dispatch_push()
    assert _delivery(event_id, dev).status == SENT
    assert len(fcm.sends("tok-200ra-pppppp")) == 1  # pyfcm's own loop would resend it


def test_an_expired_access_token_is_refreshed_once(pctx, fcm):
    dev = device("alice", "tok-expired-qqqqqq")
    emit("alice", "claim_under_review")
    dispatch_push()
    assert fcm.token_requests == 1
    fcm.expire_access_tokens()
    event_id = emit("alice", "claim_approved")
    dispatch_push()
    assert _delivery(event_id, dev).status == SENT
    assert fcm.token_requests == 2
    assert [r.status for r in fcm.sends("tok-expired-qqqqqq")] == [200, 401, 200]


def test_a_network_failure_is_retried(pctx, fcm, push_app):
    dev = device("alice", "tok-network-rrrrrr")
    emit("alice", "claim_under_review")
    dispatch_push()  # the token is fetched and the sessions exist
    fcm.stop()
    event_id = emit("alice", "claim_approved")
    now = utcnow()
    dispatch_push(now=now)
    dlv = _delivery(event_id, dev)
    assert dlv.status == PENDING and dlv.attempts == 0
    [attempt] = _attempts(dlv.id)
    assert attempt.error_code == "NETWORK" and attempt.http_status is None
    assert attempt.outcome == "outage"
