"""Registering, moving, listing and removing push devices."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from models import Device, db
from shield.devices import service

URL = "/shield/v1/devices"
UNREGISTER = f"{URL}/unregister"
TOKEN = "fcm-token_" + "A1b2:C3d4-" * 15  # FCM-shaped: letters, digits, '-', '_', ':'


def unregister(client, headers, token=TOKEN):
    return client.post(UNREGISTER, json={"token": token}, headers=headers)


def rows() -> list[Device]:
    db.session.expire_all()
    return list(db.session.execute(select(Device).order_by(Device.created_at)).scalars())


def test_register_new_then_again(app, client, auth):
    r = client.post(URL, json={"token": TOKEN, "platform": "ios"}, headers=auth("alice"))
    assert r.status_code == 201, r.json
    body = r.json
    assert set(body) == {"deviceId", "platform", "tokenSuffix", "active", "createdAt", "lastSeenAt"}
    assert body["platform"] == "ios" and body["active"] is True
    assert body["tokenSuffix"] == TOKEN[-8:] and TOKEN not in r.get_data(as_text=True)
    assert body["createdAt"].endswith("Z")
    r2 = client.post(URL, json={"token": TOKEN, "platform": "ios"}, headers=auth("alice"))
    assert r2.status_code == 200
    assert r2.json["deviceId"] == body["deviceId"]
    assert r2.json["lastSeenAt"] >= body["lastSeenAt"]
    with app.app_context():
        [device] = rows()
        assert device.member_id == "alice" and device.token == TOKEN


def test_reregistering_reactivates(app, client, auth):
    client.post(URL, json={"token": TOKEN, "platform": "android"}, headers=auth("alice"))
    assert unregister(client, auth("alice")).status_code == 204
    assert client.get(URL, headers=auth("alice")).json == {"devices": []}
    r = client.post(URL, json={"token": TOKEN, "platform": "android"}, headers=auth("alice"))
    assert r.status_code == 200 and r.json["active"] is True
    with app.app_context():
        [device] = rows()
        assert device.active and device.deactivated_reason is None


def test_a_token_moves_to_the_new_owner(app, client, auth):
    client.post(URL, json={"token": TOKEN, "platform": "android"}, headers=auth("alice"))
    r = client.post(URL, json={"token": TOKEN, "platform": "android"}, headers=auth("bob"))
    assert r.status_code == 200
    assert client.get(URL, headers=auth("alice")).json == {"devices": []}
    assert [d["deviceId"] for d in client.get(URL, headers=auth("bob")).json["devices"]] == [
        r.json["deviceId"]
    ]
    with app.app_context():
        [device] = rows()
        assert device.member_id == "bob"
    # Alice can no longer remove it.
    assert unregister(client, auth("alice")).status_code == 404


def test_unregister_by_token_only_own_idempotent_and_unknown_is_404(app, client, auth):
    client.post(URL, json={"token": TOKEN, "platform": "ios"}, headers=auth("alice"))
    r = unregister(client, auth("bob"))
    assert r.status_code == 404 and r.json["error"]["code"] == "NOT_FOUND"
    missing = unregister(client, auth("alice"), token="nope-" + "q" * 20)
    assert (missing.status_code, missing.json) == (r.status_code, r.json)
    with app.app_context():
        assert rows()[0].active is True
    first = unregister(client, auth("alice"))
    assert (first.status_code, first.get_data()) == (204, b"")
    assert unregister(client, auth("alice")).status_code == 204  # again: the same answer
    with app.app_context():
        [device] = rows()
        assert device.active is False and device.deactivated_reason == "unregistered"
    assert client.get(URL, headers=auth("alice")).json == {"devices": []}


def test_a_token_in_the_url_matches_no_route(app, client, auth):
    device_id = client.post(
        URL, json={"token": TOKEN, "platform": "ios"}, headers=auth("alice")
    ).json["deviceId"]
    for path in (TOKEN, "a" * 36, "dev_" + "Z" * 32, device_id + "0", device_id.upper()):
        r = client.delete(f"{URL}/{path}", headers=auth("alice"))
        assert r.status_code == 404 and r.json["error"]["code"] == "NOT_FOUND", path
    with app.app_context():
        assert rows()[0].active is True
    assert client.delete(f"{URL}/{device_id}", headers=auth("alice")).status_code == 204
    assert client.delete(f"{URL}/{device_id}", headers=auth("alice")).status_code == 204  # again


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(json={}),
        dict(json={"token": ""}),
        dict(json={"token": None}),
        dict(json={"token": 12345}),
        dict(json={"token": ["x"]}),
        dict(json={"token": "a" * 4097}),
        dict(json={"token": "has space"}),
        dict(json={"token": TOKEN, "platform": "ios"}),
        dict(json=[TOKEN]),
        dict(json=TOKEN),
        dict(data="{", content_type="application/json"),
        dict(data=TOKEN, content_type="text/plain"),
        dict(),
    ],
)
def test_unregister_rejects_bad_bodies_and_changes_nothing(app, client, auth, kwargs):
    client.post(URL, json={"token": TOKEN, "platform": "ios"}, headers=auth("alice"))
    r = client.post(UNREGISTER, headers=auth("alice"), **kwargs)
    assert r.status_code in (400, 415, 422), r.status_code
    assert set(r.json) == {"error"} and r.json["error"]["code"] and r.json["error"]["message"]
    with app.app_context():
        assert [d.active for d in rows()] == [True]


def test_unregister_needs_a_token(client):
    r = client.post(UNREGISTER, json={"token": TOKEN})
    assert r.status_code == 401 and r.json["error"]["code"].startswith("AUTH")


def test_the_api_document_has_no_token_in_a_path(client):
    spec = client.get("/shield/v1/openapi.json").json
    paths = spec["paths"]
    assert not [p for p in paths if "token" in p.lower()]
    assert set(paths[f"{URL}/{{deviceId}}"]) == {"delete"}
    delete = paths[f"{URL}/{{deviceId}}"]["delete"]
    assert [p["name"] for p in delete["parameters"] if p["in"] == "path"] == ["deviceId"]
    assert "204" in delete["responses"]
    post = paths[UNREGISTER]["post"]
    assert "204" in post["responses"] and "requestBody" in post


def test_delete_by_device_id_keeps_the_token_out_of_the_url(app, client, auth):
    device_id = client.post(
        URL, json={"token": TOKEN, "platform": "android"}, headers=auth("alice")
    ).json["deviceId"]
    assert client.delete(f"{URL}/{device_id}", headers=auth("bob")).status_code == 404
    with app.app_context():
        assert rows()[0].active is True
    assert client.delete(f"{URL}/{device_id}", headers=auth("alice")).status_code == 204
    with app.app_context():
        assert rows()[0].active is False


def test_list_only_active_own_devices_newest_first(client, auth):
    for i, platform in enumerate(("ios", "android", "ios")):
        client.post(
            URL, json={"token": f"tok{i}-" + "x" * 20, "platform": platform}, headers=auth("alice")
        )
    client.post(URL, json={"token": "bobs-" + "y" * 20, "platform": "ios"}, headers=auth("bob"))
    unregister(client, auth("alice"), token="tok1-" + "x" * 20)
    devices = client.get(URL, headers=auth("alice")).json["devices"]
    assert [d["tokenSuffix"] for d in devices] == ["x" * 8, "x" * 8]
    assert [d["platform"] for d in devices] == ["ios", "ios"]
    assert all(d["active"] for d in devices)
    assert devices[0]["lastSeenAt"] >= devices[1]["lastSeenAt"]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(json={"token": TOKEN}),
        dict(json={"platform": "ios"}),
        dict(json={"token": TOKEN, "platform": "windows"}),
        dict(json={"token": "", "platform": "ios"}),
        dict(json={"token": "a" * 4097, "platform": "ios"}),
        dict(json={"token": "has space", "platform": "ios"}),
        dict(json={"token": "a/b", "platform": "ios"}),
        dict(json={"token": 12345, "platform": "ios"}),
        dict(json={"token": TOKEN, "platform": "ios", "model": "iPhone"}),
        dict(json=[TOKEN]),
        dict(data="{", content_type="application/json"),
        dict(data="token=x", content_type="text/plain"),
    ],
)
def test_register_rejects_bad_bodies(app, client, auth, kwargs):
    r = client.post(URL, headers=auth("alice"), **kwargs)
    assert 400 <= r.status_code < 500 and "error" in r.json
    with app.app_context():
        assert rows() == []


def test_longest_token_is_accepted(app, client, auth):
    token = "a" * 4096
    r = client.post(URL, json={"token": token, "platform": "android"}, headers=auth("alice"))
    assert r.status_code == 201
    assert unregister(client, auth("alice"), token=token).status_code == 204


def test_too_many_devices_retire_the_oldest(app, client, auth, monkeypatch):
    monkeypatch.setattr(service, "MAX_ACTIVE_DEVICES", 3)
    for i in range(4):
        client.post(
            URL, json={"token": f"tok-{i}-" + "z" * 20, "platform": "ios"}, headers=auth("alice")
        )
    with app.app_context():
        states = {d.token.split("-")[1]: (d.active, d.deactivated_reason) for d in rows()}
    assert states == {
        "0": (False, "superseded"),
        "1": (True, None),
        "2": (True, None),
        "3": (True, None),
    }


def test_full_tokens_are_never_logged(client, auth, caplog):
    caplog.set_level(logging.DEBUG)
    client.post(URL, json={"token": TOKEN, "platform": "ios"}, headers=auth("alice"))
    client.post(URL, json={"token": TOKEN, "platform": "ios"}, headers=auth("bob"))
    client.delete(f"{URL}/{TOKEN}", headers=auth("bob"))
    assert any("moved" in rec.getMessage() for rec in caplog.records)
    assert all(TOKEN not in rec.getMessage() for rec in caplog.records)


def test_needs_a_token(client):
    assert client.post(URL, json={"token": TOKEN, "platform": "ios"}).status_code == 401
