"""Users see only their own data; admin routes and admin events need the admin role."""

from __future__ import annotations

import re

from models import Device, Notification, db
from tests.factories import claim_body

from .helpers import API, key, paid_claim


def _alice_state(app, client, auth):
    claim_id = paid_claim(app, client, auth, "alice", 100)
    r = client.post(
        f"{API}/wallet/withdrawals",
        json={"amount": 10, "bankAccountLastFour": "1234"},
        headers={**auth("alice"), "Idempotency-Key": key()},
    )
    assert r.status_code == 201
    withdrawal_id = r.json["withdrawalId"]
    txn_id = client.get(f"{API}/wallet", headers=auth("alice")).json["recentTransactions"][0][
        "transactionId"
    ]
    notes = client.get(f"{API}/notifications", headers=auth("alice")).json["notifications"]
    assert notes
    r = client.post(
        f"{API}/devices",
        json={"token": "alice-token-" + "a" * 40, "platform": "ios"},
        headers=auth("alice"),
    )
    assert r.status_code == 201
    device_id = r.json["deviceId"]
    events = client.get(f"{API}/events", headers=auth("alice")).json["events"]
    paid_event = next(e for e in events if e["event"] == "claim_paid")
    return {
        "claim": claim_id,
        "withdrawal": withdrawal_id,
        "txn": txn_id,
        "notification": notes[0]["id"],
        "token": "alice-token-" + "a" * 40,
        "device": device_id,
        "event": paid_event["id"],
    }


def _not_found(r):
    assert r.status_code == 404, (r.status_code, r.json)
    assert r.json["error"]["code"] == "NOT_FOUND"


def test_member_cannot_read_or_touch_another_members_data(app, client, auth):
    a = _alice_state(app, client, auth)
    bob = auth("bob")
    _not_found(client.get(f"{API}/claims/{a['claim']}", headers=bob))
    _not_found(
        client.post(
            f"{API}/claims/{a['claim']}/proof",
            json={"documentUrl": "https://example.com/x.pdf"},
            headers=bob,
        )
    )
    _not_found(client.get(f"{API}/wallet/withdrawals/{a['withdrawal']}", headers=bob))
    r = client.get(f"{API}/wallet/transactions?before={a['txn']}", headers=bob)
    assert r.status_code == 400  # the same answer as for an id that does not exist
    missing = client.get(f"{API}/wallet/transactions?before=txn_nope", headers=bob)
    assert (missing.status_code, missing.json) == (r.status_code, r.json)
    _not_found(client.post(f"{API}/notifications/{a['notification']}/read", headers=bob))
    _not_found(client.delete(f"{API}/devices/{a['device']}", headers=bob))
    _not_found(client.post(f"{API}/devices/unregister", json={"token": a["token"]}, headers=bob))
    _not_found(client.post(f"{API}/events/{a['event']}/ack", headers=bob))

    assert client.get(f"{API}/claims", headers=bob).json["claims"] == []
    wallet = client.get(f"{API}/wallet", headers=bob).json
    assert wallet["balance"] == 0 and wallet["recentTransactions"] == []
    assert wallet["withdrawals"] == []
    assert client.get(f"{API}/wallet/transactions", headers=bob).json["transactions"] == []
    inbox = client.get(f"{API}/notifications", headers=bob).json
    assert inbox == {"notifications": [], "unreadCount": 0}
    assert client.get(f"{API}/devices", headers=bob).json["devices"] == []
    assert client.get(f"{API}/events", headers=bob).json["events"] == []
    r = client.post(f"{API}/notifications/read-all", headers=bob)
    assert r.json["updated"] == 0

    with app.app_context():
        assert db.session.get(Device, _device_id(a["token"])).active
        unread = db.session.query(Notification).filter_by(member_id="alice", read=False).count()
        assert unread >= 1


def _device_id(token):
    return db.session.query(Device).filter_by(token=token).one().id


def test_member_feed_never_holds_admin_events(app, client, auth):
    paid_claim(app, client, auth, "alice", 50)
    client.post(f"{API}/claims", json=claim_body(), headers=auth("alice"))
    member_events = client.get(f"{API}/events?limit=500", headers=auth("alice")).json["events"]
    assert member_events
    assert not [e for e in member_events if e["event"].startswith("admin_")]
    admin_events = client.get(f"{API}/events?limit=500", headers=auth("root", admin=True)).json[
        "events"
    ]
    assert [e for e in admin_events if e["event"] == "admin_claim_submitted"]


def test_every_admin_route_refuses_members(app, client, auth):
    member = auth("alice")
    routes = [r for r in app.url_map.iter_rules() if r.rule.startswith(f"{API}/admin/")]
    assert len(routes) >= 10
    for rule in routes:
        url = re.sub(r"<[^>]+>", "x", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            r = client.open(url, method=method, json={}, headers={**member, "Idempotency-Key": "k"})
            assert r.status_code == 403, (method, url, r.status_code)
            assert r.json["error"]["code"] == "NOT_AUTHORIZED"
