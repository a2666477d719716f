"""Connecting: the three ways to authenticate, what failures look like, origins, expiry."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import requests
import websocket

from shield.config import SERVER_VERSION
from tests.realtime.conftest import (
    ALLOWED_ORIGIN,
    Closed,
    connect,
    record_events,
    submit_claim,
    subscribed,
    token,
    uid,
)
from tests.spec_check import _check_iso, _check_value, connected_fields


def _check_connected(frame: dict, user_id: str) -> None:
    assert set(frame) == {"event", "timestamp", "data"}
    assert frame["event"] == "connected"
    data = frame["data"]
    assert (
        set(data)
        == set(connected_fields())
        == {"userId", "connectionId", "timestamp", "serverVersion"}
    )
    errors: list[str] = []
    for name, field in connected_fields().items():
        _check_value(name, field.kind, data[name], errors)
    _check_iso("timestamp", frame["timestamp"], errors)
    assert not errors, errors
    assert data["userId"] == user_id
    assert data["serverVersion"] == SERVER_VERSION
    assert data["connectionId"]


@pytest.mark.parametrize("how", ["header", "query", "frame"])
def test_each_auth_method_gets_the_connected_event(server, clients, how):
    alice = uid("alice")
    client = clients(connect(server, alice, how=how, expect_connected=False))
    _check_connected(client.recv(), alice)
    client.send("ping")
    assert client.recv()["event"] == "pong"


def test_connection_ids_differ_and_auth_frame_takes_a_bearer_prefix(server, clients):
    alice = uid("alice")
    one = clients(connect(server, alice, expect_connected=False)).recv()
    two = clients(connect(server, raw_token=None, how="frame", expect_connected=False))
    two.send("auth", {"token": f"Bearer {token(alice)}"})
    second = two.recv()
    _check_connected(second, alice)
    assert one["data"]["connectionId"] != second["data"]["connectionId"]


@pytest.mark.parametrize("how", ["header", "query", "frame"])
def test_bad_token_gets_auth_invalid_then_close(server, clients, how):
    client = clients(connect(server, how=how, raw_token="not.a.jwt", expect_connected=False))
    closed, frames = client.expect_close()
    assert [f["event"] for f in frames] == ["error"]
    assert frames[0]["data"]["code"] == "AUTH_INVALID"
    assert frames[0]["data"]["message"]
    assert closed.code == 1008


def test_token_signed_with_another_key_is_invalid(server, clients):
    import jwt

    forged = jwt.encode(
        {"sub": "mallory", "exp": int(time.time()) + 600, "role": "admin"},
        "another-secret-0123456789abcdef0123",
        algorithm="HS256",
    )
    client = clients(connect(server, raw_token=forged, expect_connected=False))
    closed, frames = client.expect_close()
    assert frames[0]["data"]["code"] == "AUTH_INVALID" and closed.code == 1008


@pytest.mark.parametrize("how", ["header", "frame"])
def test_expired_token_gets_auth_expired_then_close(server, clients, how):
    expired = token(uid("alice"), ttl=timedelta(seconds=-5))
    client = clients(connect(server, how=how, raw_token=expired, expect_connected=False))
    closed, frames = client.expect_close()
    assert frames[0]["event"] == "error"
    assert frames[0]["data"]["code"] == "AUTH_EXPIRED"
    assert closed.code == 1008


def test_no_auth_frame_in_time_closes(server, clients):
    client = clients(connect(server, expect_connected=False))  # auth timeout is 1 s here
    started = time.monotonic()
    closed, frames = client.expect_close(timeout=5)
    assert 0.8 <= time.monotonic() - started < 4
    assert frames[0]["data"]["code"] == "AUTH_INVALID"
    assert closed.code == 1008


def test_first_frame_must_be_auth(server, clients):
    client = clients(connect(server, expect_connected=False))
    client.send("ping")
    closed, frames = client.expect_close()
    assert frames[0]["data"]["code"] == "AUTH_INVALID"
    assert frames[0]["data"]["originalEvent"] == "ping"
    assert closed.code == 1008


def test_token_expiring_while_connected_closes_unless_renewed(server, clients):
    alice = uid("alice")
    short = clients(connect(server, raw_token=token(alice, ttl=timedelta(seconds=2))))
    renewed = clients(connect(server, raw_token=token(alice, ttl=timedelta(seconds=2))))
    renewed.send("auth", {"token": token(alice)})  # a fresh token for the same user
    renewed.send("auth", {"token": "not-a-jwt"})  # refused; the fresh token stays
    refused = renewed.recv()
    assert refused["data"]["code"] == "AUTH_INVALID" and refused["data"]["originalEvent"] == "auth"
    closed, frames = short.expect_close(timeout=6)
    assert [f["data"]["code"] for f in frames if f["event"] == "error"] == ["AUTH_EXPIRED"]
    assert closed.code == 1008
    renewed.send("ping")
    assert renewed.until("pong")[0]["event"] == "pong"


def test_reauth_as_another_user_is_refused_and_closes(server, clients):
    client = clients(connect(server, uid("alice")))
    client.send("auth", {"token": token(uid("mallory"))})
    closed, frames = client.expect_close()
    assert [(f["event"], f["data"]["code"], f["data"]["originalEvent"]) for f in frames] == [
        ("error", "AUTH_INVALID", "auth")
    ]
    assert closed.code == 1008


def test_reauth_recomputes_rooms(server, local_app, clients):
    """An admin socket re-authenticated with a member token (same user) leaves the admin
    room at once; an admin token again brings it back."""
    root, alice = uid("root"), uid("alice")
    subscribed(local_app, alice)
    socket = clients(connect(server, root, admin=True))
    watcher = clients(connect(server, uid("root"), admin=True))

    def reauth(admin: bool) -> None:
        socket.send("auth", {"token": token(root, admin=admin)})
        socket.send("ping")  # frames are handled in order: the re-auth is done at the pong
        assert socket.until("pong")[1] == []

    reauth(admin=False)
    claim = submit_claim(server, alice)
    assert watcher.until("admin_claim_submitted")[0]["data"]["claimId"] == claim["claimId"]
    record_events(local_app, root, 1)  # the socket's own event, after the admin one
    frame, skipped = socket.until("claim_status_changed")
    assert skipped == [], skipped  # no admin_claim_submitted for a member token
    reauth(admin=True)
    claim = submit_claim(server, alice)
    assert socket.until("admin_claim_submitted")[0]["data"]["claimId"] == claim["claimId"]


def test_origin_allow_list(server, clients):
    alice = uid("alice")
    clients(connect(server, alice, origin=ALLOWED_ORIGIN))
    clients(connect(server, alice))  # no Origin header: a native app
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(server, alice, origin="https://evil.example.com")
    assert refused.value.status_code == 403


def test_plain_http_request_gets_an_error_envelope(server):
    r = requests.get(server.ws_url.replace("ws://", "http://"), timeout=5)
    assert r.status_code == 400
    assert r.json()["error"]["code"]


def test_closed_client_is_noticed(server, clients):
    """A client dropping the TCP connection does not leave the server in a bad state."""
    alice = uid("alice")
    for _ in range(5):
        connect(server, alice).ws.sock.close()
    client = clients(connect(server, alice))
    client.send("ping")
    assert client.recv()["event"] == "pong"
    with pytest.raises(Closed):
        client.send("disconnect", {"reason": "logout"})
        client.recv()
