"""GET /shield/v1/admin/events/<id>/deliveries: every delivery and attempt, tokens masked."""

from __future__ import annotations

from datetime import timedelta

from jobs.push import dispatch_push
from models import db, utcnow
from tests.fakes import fcm_server as F
from tests.push.helpers import device, emit

TOKEN_A = "tok-admin-view-android-123456"
TOKEN_I = "tok-admin-view-ios-654321"


def test_deliveries_and_attempts_of_an_event(push_app, fcm, auth):
    client = push_app.test_client()
    with push_app.app_context():
        device("alice", TOKEN_A, "android")
        device("alice", TOKEN_I, "ios")
        fcm.fail(TOKEN_A, F.UNAVAILABLE(retry_after="20"))
        fcm.always(TOKEN_I, F.UNREGISTERED())
        event_id = emit("alice", "payout_completed")
        now = utcnow()
        dispatch_push(now=now)
        dispatch_push(now=now + timedelta(seconds=20))
        db.session.remove()
    r = client.get(
        f"/shield/v1/admin/events/{event_id}/deliveries", headers=auth("root", admin=True)
    )
    assert r.status_code == 200
    body = r.json
    text = r.get_data(as_text=True)
    assert TOKEN_A not in text and TOKEN_I not in text  # tokens are masked
    assert body["eventId"] == event_id and body["event"] == "payout_completed"
    assert body["userId"] == "alice" and body["pushState"] == "planned" and body["ack"] is None
    first = [d for d in body["deliveries"] if d["round"] == 0]
    by_platform = {d["platform"]: d for d in first}
    android, ios = by_platform["android"], by_platform["ios"]
    assert android["token"] == "…123456" and android["status"] == "sent"
    assert [(a["outcome"], a["httpStatus"], a["errorCode"]) for a in android["attemptLog"]] == [
        ("retry", 503, "UNAVAILABLE"),
        ("sent", 200, None),
    ]
    assert android["attempts"] == 2 and android["sentAt"]
    assert ios["token"] == "…654321" and ios["status"] == "failed"
    assert ios["deviceActive"] is False
    assert [(a["outcome"], a["errorCode"]) for a in ios["attemptLog"]] == [
        ("token_dead", "UNREGISTERED")
    ]
    # Re-push rounds are listed too: waiting for the live device, cancelled for the dead one.
    rounds = sorted(
        (d["platform"], d["round"], d["status"]) for d in body["deliveries"] if d["round"]
    )
    assert rounds == [("android", n, "pending") for n in (1, 2, 3)] + [
        ("ios", n, "cancelled") for n in (1, 2, 3)
    ]

    assert (
        client.post(f"/shield/v1/events/{event_id}/ack", headers=auth("alice")).status_code == 200
    )
    after = client.get(
        f"/shield/v1/admin/events/{event_id}/deliveries", headers=auth("root", admin=True)
    ).json
    assert after["ack"]["via"] == "rest"
    assert {d["status"] for d in after["deliveries"] if d["round"]} == {"cancelled"}
    assert {d["lastError"] for d in after["deliveries"] if d["round"]} == {
        "acknowledged",
        "device deactivated (UNREGISTERED)",
    }


def test_only_admins_and_unknown_events(push_app, auth):
    client = push_app.test_client()
    with push_app.app_context():
        event_id = emit("alice", "claim_approved")
        db.session.remove()
    url = f"/shield/v1/admin/events/{event_id}/deliveries"
    assert client.get(url, headers=auth("alice")).status_code == 403
    r = client.get("/shield/v1/admin/events/evt_nope/deliveries", headers=auth("root", admin=True))
    assert r.status_code == 404 and r.json["error"]["code"] == "NOT_FOUND"
    r = client.get(url, headers=auth("root", admin=True))
    assert r.status_code == 200 and r.json["deliveries"] == []  # not dispatched yet
    assert r.json["pushState"] == "pending"
