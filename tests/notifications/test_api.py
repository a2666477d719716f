"""The notification inbox API and the push preference."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from models import Member, Notification, OutboxEvent, db
from shield.members import ensure_member_id
from tests.factories import subscribe

URL = "/shield/v1/notifications"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
T0 = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


def add(member_id: str, title: str, minutes: int = 0, **kw) -> str:
    ensure_member_id(db.session, member_id)
    entry = Notification(
        member_id=member_id,
        title=title,
        message=f"{title} message",
        type=kw.pop("type", "general"),
        created_at=T0 + timedelta(minutes=minutes),
        **kw,
    )
    db.session.add(entry)
    db.session.commit()
    return entry.id


@pytest.fixture
def inbox(app):
    with app.app_context():
        return {
            "old": add(
                "alice", "Old", 0, claim_id="clm_1", route="/claims/clm_1", type="claim_update"
            ),
            "mid": add("alice", "Mid", 5, route="/wallet", type="payout"),
            "new": add("alice", "New", 10),
            "bob": add("bob", "Bob's", 7),
        }


def test_list_shape_order_and_unread_count(client, auth, inbox):
    r = client.get(URL, headers=auth("alice"))
    assert r.status_code == 200
    body = r.json
    assert set(body) == {"notifications", "unreadCount"}
    assert body["unreadCount"] == 3
    assert [n["id"] for n in body["notifications"]] == [inbox["new"], inbox["mid"], inbox["old"]]
    old = body["notifications"][2]
    assert old == {
        "id": inbox["old"],
        "title": "Old",
        "message": "Old message",
        "type": "claim_update",
        "read": False,
        "createdAt": "2025-06-01T09:00:00.000Z",
        "data": {"claimId": "clm_1", "route": "/claims/clm_1"},
    }
    assert body["notifications"][1]["data"] == {"route": "/wallet"}
    assert "data" not in body["notifications"][0]
    assert all(ISO_Z.match(n["createdAt"]) for n in body["notifications"])


def test_limit(client, auth, inbox):
    r = client.get(URL + "?limit=1", headers=auth("alice"))
    assert [n["id"] for n in r.json["notifications"]] == [inbox["new"]]
    assert r.json["unreadCount"] == 3
    full = client.get(URL, headers=auth("alice"))
    assert full.headers["ETag"] != r.headers["ETag"]  # different bodies, different tags
    for bad in ("0", "201", "abc", "-1"):
        r = client.get(URL + f"?limit={bad}", headers=auth("alice"))
        assert r.status_code == 400 and r.json["error"]["code"] == "INVALID_PAYLOAD"


def test_members_see_and_mark_only_their_own(app, client, auth, inbox):
    r = client.get(URL, headers=auth("bob"))
    assert [n["id"] for n in r.json["notifications"]] == [inbox["bob"]]
    r = client.post(f"{URL}/{inbox['old']}/read", headers=auth("bob"))
    assert r.status_code == 404 and r.json["error"]["code"] == "NOT_FOUND"
    r = client.post(f"{URL}/ntf_missing/read", headers=auth("alice"))
    assert r.status_code == 404
    client.post(URL + "/read-all", headers=auth("bob"))
    with app.app_context():
        assert db.session.get(Notification, inbox["old"]).read is False
        assert db.session.get(Notification, inbox["bob"]).read is True


def test_mark_read_is_idempotent_and_ends_the_304(client, auth, inbox):
    first = client.get(URL, headers=auth("alice"))
    etag = first.headers["ETag"]
    assert client.get(URL, headers=auth("alice", **{"If-None-Match": etag})).status_code == 304
    r = client.post(f"{URL}/{inbox['mid']}/read", headers=auth("alice"))
    assert r.status_code == 200
    assert r.json["notification"]["id"] == inbox["mid"]
    assert r.json["notification"]["read"] is True
    assert r.json["unreadCount"] == 2
    r = client.get(URL, headers=auth("alice", **{"If-None-Match": etag}))
    assert r.status_code == 200 and r.json["unreadCount"] == 2
    etag = r.headers["ETag"]
    # Again: same answer, nothing changes, so the poller still gets its 304.
    again = client.post(f"{URL}/{inbox['mid']}/read", headers=auth("alice"))
    assert again.status_code == 200 and again.json["unreadCount"] == 2
    assert client.get(URL, headers=auth("alice", **{"If-None-Match": etag})).status_code == 304


def test_read_all(app, client, auth, inbox):
    r = client.post(URL + "/read-all", headers=auth("alice"))
    assert r.status_code == 200
    assert r.json == {"updated": 3, "unreadCount": 0}
    r = client.get(URL, headers=auth("alice"))
    assert all(n["read"] for n in r.json["notifications"]) and r.json["unreadCount"] == 0
    assert client.post(URL + "/read-all", headers=auth("alice")).json == {
        "updated": 0,
        "unreadCount": 0,
    }
    with app.app_context():
        assert db.session.get(Notification, inbox["bob"]).read is False


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(json={"read": True}),
        dict(json=[1]),
        dict(data="{", content_type="application/json"),
        dict(data="x", content_type="text/plain"),
    ],
)
def test_mark_read_rejects_bodies(app, client, auth, inbox, kwargs):
    for path in (f"{URL}/{inbox['old']}/read", URL + "/read-all"):
        r = client.post(path, headers=auth("alice"), **kwargs)
        assert 400 <= r.status_code < 500, (path, r.status_code)
    with app.app_context():
        unread = (
            db.session.execute(
                select(Notification).where(
                    Notification.member_id == "alice", Notification.read.is_(False)
                )
            )
            .scalars()
            .all()
        )
        assert len(unread) == 3


def test_an_event_inbox_entry_appears_as_sent(app, client, auth):
    """A past_due status change makes an inbox entry; REST shows what notification_received
    carried."""
    with app.app_context():
        subscribe("alice", "pro")
    etag = client.get(URL, headers=auth("alice")).headers["ETag"]
    r = client.post(
        "/shield/v1/admin/members/alice/subscription/status",
        json={"status": "past_due", "reason": "payment_failed"},
        headers=auth("root", admin=True),
    )
    assert r.status_code == 200
    r = client.get(URL, headers=auth("alice", **{"If-None-Match": etag}))
    assert r.status_code == 200
    with app.app_context():
        [event] = (
            db.session.execute(
                select(OutboxEvent).where(OutboxEvent.name == "notification_received")
            )
            .scalars()
            .all()
        )
    assert r.json["notifications"] == [event.payload["data"]["notification"]]
    assert r.json["unreadCount"] == event.payload["data"]["unreadCount"] == 1


def _kinds(body: dict) -> dict[str, tuple[bool, bool]]:
    return {k["kind"]: (k["enabled"], k["locked"]) for k in body["kinds"]}


ALL_ON = {
    "claim_under_review": (True, False),
    "claim_approved": (True, True),
    "claim_denied": (True, True),
    "payment_received": (True, True),
    "withdrawal_failed": (True, False),
    "subscription_past_due": (True, False),
    "proof_of_payment_requested": (True, True),
}


def test_push_preference(app, client, auth):
    r = client.get(URL + "/preferences", headers=auth("alice"))
    assert r.status_code == 200 and r.json["pushEnabled"] is True
    assert _kinds(r.json) == ALL_ON
    assert {k["kind"]: k["title"] for k in r.json["kinds"]}["withdrawal_failed"] == (
        "Withdrawal failed"
    )
    with app.app_context():
        assert db.session.get(Member, "alice") is None  # reading wrote nothing
    r = client.put(URL + "/preferences", json={"pushEnabled": False}, headers=auth("alice"))
    assert r.status_code == 200 and r.json["pushEnabled"] is False
    assert client.get(URL + "/preferences", headers=auth("alice")).json["pushEnabled"] is False
    assert client.get(URL + "/preferences", headers=auth("bob")).json["pushEnabled"] is True
    with app.app_context():
        assert db.session.get(Member, "alice").push_enabled is False
    r = client.put(URL + "/preferences", json={"pushEnabled": True}, headers=auth("alice"))
    assert r.json["pushEnabled"] is True and _kinds(r.json) == ALL_ON


def test_per_kind_switches(app, client, auth):
    body = {"kinds": {"claim_under_review": False, "subscription_past_due": False}}
    r = client.put(URL + "/preferences", json=body, headers=auth("alice"))
    assert r.status_code == 200, r.json
    assert r.json["pushEnabled"] is True  # the global switch is left as it was
    expected = {
        **ALL_ON,
        "claim_under_review": (False, False),
        "subscription_past_due": (False, False),
    }
    assert _kinds(r.json) == expected
    assert _kinds(client.get(URL + "/preferences", headers=auth("alice")).json) == expected
    assert _kinds(client.get(URL + "/preferences", headers=auth("bob")).json) == ALL_ON
    # Both switches in one call; turning a locked kind "on" is accepted (it is on).
    body = {"pushEnabled": False, "kinds": {"claim_under_review": True, "claim_approved": True}}
    r = client.put(URL + "/preferences", json=body, headers=auth("alice"))
    assert r.status_code == 200 and r.json["pushEnabled"] is False
    assert _kinds(r.json) == {**expected, "claim_under_review": (True, False)}


@pytest.mark.parametrize(
    "kinds, named",
    [
        ({"claim_approved": False}, "claim_approved"),
        ({"payment_received": False, "claim_under_review": False}, "payment_received"),
        ({"no_such_kind": False}, "no_such_kind"),
        ({"withdrawal_failed": False, "claim_paid": True}, "claim_paid"),
    ],
)
def test_locked_and_unknown_kinds_are_refused_and_change_nothing(app, client, auth, kinds, named):
    client.put(
        URL + "/preferences", json={"kinds": {"withdrawal_failed": True}}, headers=auth("alice")
    )
    before = client.get(URL + "/preferences", headers=auth("alice")).json
    r = client.put(
        URL + "/preferences", json={"pushEnabled": False, "kinds": kinds}, headers=auth("alice")
    )
    assert r.status_code == 422
    assert r.json["error"]["code"] == "INVALID_PAYLOAD"
    assert named in r.json["error"]["message"] and named in r.json["error"]["details"]["kinds"]
    assert client.get(URL + "/preferences", headers=auth("alice")).json == before


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(json={"pushEnabled": "false"}),
        dict(json={"pushEnabled": 0}),
        dict(json={"pushEnabled": None}),
        dict(json={}),
        dict(json={"pushEnabled": False, "sound": True}),
        dict(json={"kinds": {"claim_under_review": "off"}}),
        dict(json={"kinds": ["claim_under_review"]}),
        dict(json={"kinds": None}),
        dict(json=[False]),
        dict(data="{", content_type="application/json"),
        dict(data="pushEnabled=false"),
    ],
)
def test_push_preference_rejects_bad_bodies(app, client, auth, kwargs):
    with app.app_context():
        ensure_member_id(db.session, "alice")
        db.session.commit()
    r = client.put(URL + "/preferences", headers=auth("alice"), **kwargs)
    assert 400 <= r.status_code < 500
    assert "error" in r.json
    with app.app_context():
        assert db.session.get(Member, "alice").push_enabled is True


def test_needs_a_token(client):
    assert client.get(URL).status_code == 401
    assert client.put(URL + "/preferences", json={"pushEnabled": False}).status_code == 401
