"""The Socket.IO endpoint with the real npm socket.io-client (Node 20): the spec's snippet
unchanged but for URL and token, every event under its own name with the envelope, acks by
event and by callback, resends, resume, auth errors, admin isolation, limits, heartbeat,
and two processes over Redis. The servers also serve the plain socket: one hub."""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta

import pytest
import websocket

from shield.realtime import has_live_socket
from tests.realtime.conftest import (
    acks_of,
    admin_post,
    bearer,
    connect,
    member_events,
    paid_claim,
    record_events,
    redis_app,
    submit_claim,
    subscribed,
    token,
    top_seq,
    uid,
    wait_for,
)
from tests.realtime.sio_client import CLIENT_DIR
from tests.spec_check import SPEC, assert_conforms, connected_fields


def spec_snippet() -> str:
    """The spec's only client example (the "Authentication" section), as written there."""
    section = SPEC.read_text().split("### Authentication", 1)[1]
    return re.search(r"```typescript\n(.*?)```", section, re.S).group(1)


def test_spec_snippet_unchanged_connects_and_receives_claim_submitted(
    server, local_app, sio, tmp_path
):
    alice = uid("alice")
    subscribed(local_app, alice)
    snippet = spec_snippet()
    assert 'io("wss://api.courial.com/shield/ws"' in snippet and "<jwt_token>" in snippet
    script = tmp_path / "app.js"
    script.write_text(
        'const { io } = require("socket.io-client");\n'
        + snippet.replace("wss://api.courial.com/shield/ws", server.ws_url).replace(
            "<jwt_token>", token(alice)
        )
        + "\nsocket.onAny((name, payload) =>\n"
        "  process.stdout.write(JSON.stringify({kind: 'event', name, payload}) + '\\n'));\n"
        "socket.on('connect_error', (e) => process.stdout.write(JSON.stringify("
        "{kind: 'connect_error', message: e.message, data: e.data}) + '\\n'));\n"
        "process.stdin.on('end', () => process.exit(0)); process.stdin.resume();\n"
    )
    env = {**os.environ, "NODE_PATH": str(CLIENT_DIR / "node_modules")}
    client = sio(script=script, env=env)

    first = client.next(10)
    assert (first["kind"], first["name"]) == ("event", "connected"), first
    connected = first["payload"]
    assert connected["event"] == "connected" and set(connected["data"]) == set(connected_fields())
    assert connected["data"]["userId"] == alice

    claim = submit_claim(server, alice, amount=95)
    report, skipped = client.until("claim_submitted")
    assert skipped == []
    envelope = report["payload"]
    assert_conforms(envelope)
    assert envelope["event"] == "claim_submitted"
    assert envelope["data"]["claimId"] == claim["claimId"]
    stored = {seq: (event_id, name) for seq, event_id, name in member_events(local_app, alice)}
    assert stored[envelope["seq"]] == (envelope["id"], "claim_submitted")


def test_every_event_under_its_own_name_in_seq_order(server, local_app, sio):
    alice = uid("alice")
    start = top_seq(local_app)
    client = sio().connect(server.ws_url, f"Bearer {token(alice)}")
    admin = sio().connect(server.ws_url, f"Bearer {token(uid('root'), admin=True)}")
    assert client.event("connected")["data"]["userId"] == alice
    admin.event("connected")
    # Through the REST API: most of the spec's member events, and admin_claim_submitted.
    v1 = "/shield/v1"
    admin_post(
        server,
        f"{v1}/admin/members/{alice}/subscription",
        {"planId": "pro", "billingPeriod": "monthly"},
    )
    paid = paid_claim(server, alice)
    denied = submit_claim(server, alice, amount=40)["claimId"]
    admin_post(server, f"{v1}/admin/claims/{denied}/review")
    admin_post(server, f"{v1}/admin/claims/{denied}/deny", {"denialCode": "D006"})
    admin_post(server, f"{v1}/admin/claims/{paid['claimId']}/proof-request", {"message": "Receipt"})
    admin_post(server, f"{v1}/admin/members/{alice}/subscription/plan", {"planId": "professional"})
    r = server.post(
        f"{v1}/wallet/withdrawals",
        bearer(alice, **{"Idempotency-Key": uid("w")}),
        {"amount": 20, "bankAccountLastFour": "4321"},
    )
    assert r.status_code == 201, r.text
    admin_post(server, f"{v1}/admin/withdrawals/{r.json()['withdrawalId']}/complete")

    expected = member_events(local_app, alice, after=start)
    got: dict[str, dict] = {}  # by event id, in arrival order; unacked ones are resent
    while len(got) < len(expected):
        report = client.until("event", 10)[0]
        first = got.setdefault(report["payload"]["id"], report)
        assert first["payload"] == report["payload"]  # a resend is the same event
    got = list(got.values())
    assert [(r["payload"]["seq"], r["payload"]["id"], r["name"]) for r in got] == expected
    for report in got:
        assert report["payload"]["event"] == report["name"]
        assert_conforms(report["payload"])
    names = {r["name"] for r in got}
    assert names >= {
        "subscription_status_changed",
        "claim_submitted",
        "claim_under_review",
        "claim_approved",
        "claim_paid",
        "claim_denied",
        "payout_initiated",
        "payout_completed",
        "coverage_updated",
        "cancellation_restriction_changed",
        "notification_received",
        "proof_of_payment_requested",
        "withdrawal_status_changed",
    }, names
    # Ackable events carry a Socket.IO ack id; the others do not.
    ackable = {"claim_submitted", "claim_approved", "claim_denied", "claim_paid"}
    ackable.add("payout_completed")
    assert {r["name"] for r in got if r["ackId"] is not None} == ackable
    admin_event = admin.event("admin_claim_submitted")
    assert_conforms(admin_event)
    assert admin_event["data"]["userId"] == alice


def _paid(server, local_app, sio, member):
    subscribed(local_app, member)
    client = sio().connect(server.ws_url, token(member))  # a bare token works too
    client.event("connected")
    claim = paid_claim(server, member)
    paid, _ = client.until("claim_paid")
    payout, _ = client.until("payout_completed")
    return client, claim, paid, payout


def test_acks_by_event_and_by_callback_stop_resends(server, local_app, sio):
    client, claim, paid, payout = _paid(server, local_app, sio, uid("alice"))
    envelope = paid["payload"]
    # claim_paid: acknowledged through the event's own Socket.IO callback.
    client.callback(
        paid["ackId"],
        {
            "claimId": claim["claimId"],
            "transactionId": envelope["data"]["transactionId"],
            "received": True,
        },
    )
    # payout_completed: with socket.emit("payout_completed_ack", {...}, reply).
    tag = client.emit(
        "payout_completed_ack",
        {"payoutId": payout["payload"]["data"]["payoutId"], "received": True},
        callback=True,
    )
    (reply,) = client.reply(tag)
    assert reply["event"] == "payout_completed_ack"
    assert reply["data"] == {"eventId": payout["payload"]["id"], "received": True}
    ids = [envelope["id"], payout["payload"]["id"]]
    assert wait_for(lambda: len(acks_of(local_app, ids)) == 2)
    assert acks_of(local_app, ids) == {ids[0]: "socket", ids[1]: "socket"}
    # Unacked, both would be resent 0.4 s and 1.2 s after delivery (ack timeout 0.4 s).
    reports = client.quiet(1.5)
    assert [r for r in reports if r["kind"] == "event" and r["payload"]["id"] in ids] == []
    assert [r for r in reports if r.get("name") == "error"] == []


def test_unacked_required_event_is_resent_and_a_callback_of_a_resend_acks_it(
    server, local_app, sio
):
    alice = uid("alice")
    client, _, paid, _ = _paid(server, local_app, sio, alice)
    resent, _ = client.until(
        lambda r: r["kind"] == "event" and r["payload"]["id"] == paid["payload"]["id"], 3
    )
    assert resent["payload"] == paid["payload"] and resent["ackId"] != paid["ackId"]
    client.callback(resent["ackId"])  # ack() with no argument names the event too
    assert wait_for(lambda: acks_of(local_app, [paid["payload"]["id"]]))
    # An event sent without a claim of the caller's cannot be acknowledged by someone else.
    thief = sio().connect(server.ws_url, token(uid("mallory")))
    thief.event("connected")
    tag = thief.emit("claim_paid_ack", {"eventId": paid["payload"]["id"]}, callback=True)
    (reply,) = thief.reply(tag)
    assert reply["event"] == "error" and reply["data"]["originalEvent"] == "claim_paid_ack"
    assert reply["data"]["code"] in ("NOT_FOUND", "NOT_AUTHORIZED")
    errors = thief.quiet(0.3)
    assert [r for r in errors if r.get("name") == "error"] == []  # the callback had it


def test_resume_from_auth_last_seq_and_replay_unavailable(server, local_app, sio):
    alice = uid("alice")
    record_events(local_app, alice, 1)
    start = top_seq(local_app)
    record_events(local_app, alice, 3)  # missed while away
    missed = member_events(local_app, alice, after=start)
    client = sio().connect(server.ws_url, f"Bearer {token(alice)}", auth={"lastSeq": start})
    client.event("connected")
    got = [client.until("event")[0]["payload"] for _ in missed]
    assert [(e["seq"], e["id"], e["event"]) for e in got] == missed
    assert client.quiet(0.3) == []

    ahead = sio().connect(
        server.ws_url, f"Bearer {token(alice)}", auth={"lastSeq": top_seq(local_app) + 1000}
    )
    ahead.event("connected")
    error = ahead.event("error")
    assert_conforms(error, with_ids=False)
    assert error["data"]["code"] == "REPLAY_UNAVAILABLE"
    record_events(local_app, alice, 1)  # live events still flow
    assert ahead.event("claim_status_changed")["data"]["claimId"] == "clm_fake0"

    bad = sio().connect(server.ws_url, f"Bearer {token(alice)}", auth={"lastSeq": "x"})
    bad.event("connected")
    assert bad.event("error")["data"]["code"] == "INVALID_PAYLOAD"


def test_auth_errors_are_connect_errors_with_the_spec_codes(server, sio):
    alice = uid("alice")
    cases = [
        (None, "AUTH_INVALID"),
        ("Bearer not-a-jwt", "AUTH_INVALID"),
        ("not-a-jwt", "AUTH_INVALID"),
        (f"Bearer {token(alice, ttl=timedelta(seconds=-5))}", "AUTH_EXPIRED"),
    ]
    for raw, code in cases:
        client = sio().connect(server.ws_url, raw)
        report, skipped = client.until("connect_error")
        assert skipped == []
        assert report["data"]["code"] == code, (raw, report)
        assert report["message"] == report["data"]["message"]
        assert client.quiet(0.2) == []  # no `connected`, no events


def test_an_engineio_session_that_never_connects_is_closed(server):
    ws = websocket.create_connection(
        server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket",
        timeout=5,
        suppress_origin=True,
    )
    try:
        assert ws.recv().startswith("0{")  # Engine.IO OPEN
        started = time.monotonic()
        with pytest.raises((websocket.WebSocketConnectionClosedException, OSError)):
            while True:  # no CONNECT: closed after SHIELD_WS_AUTH_TIMEOUT (1 s here)
                ws.recv()
        assert time.monotonic() - started < 4
    finally:
        ws.shutdown()


def test_token_expiry_disconnects_unless_a_fresh_token_arrives_in_time(server, sio):
    alice = uid("alice")
    client = sio().connect(server.ws_url, f"Bearer {token(alice, ttl=timedelta(seconds=3))}")
    client.event("connected", timeout=10)
    error = client.event("error", timeout=10)
    assert error["data"]["code"] == "AUTH_EXPIRED"
    report, _ = client.until("disconnect")
    assert report["reason"] == "io server disconnect"  # no automatic reconnect

    renewed = sio().connect(server.ws_url, f"Bearer {token(alice, ttl=timedelta(seconds=3))}")
    renewed.event("connected", timeout=10)
    tag = renewed.emit("auth", {"token": f"Bearer {token(alice)}"}, callback=True)
    assert renewed.reply(tag) == [None]  # accepted: nothing to answer
    assert [r for r in renewed.quiet(4) if r["kind"] in ("event", "disconnect")] == []


def test_admin_events_reach_admins_only(server, local_app, sio):
    alice, bob = uid("alice"), uid("bob")
    subscribed(local_app, alice)
    member = sio().connect(server.ws_url, f"Bearer {token(alice)}")
    other = sio().connect(server.ws_url, f"Bearer {token(bob)}")
    admin = sio().connect(server.ws_url, f"Bearer {token(uid('root'), admin=True)}")
    for client in (member, other, admin):
        client.event("connected")
    claim = submit_claim(server, alice)
    admin_event = admin.event("admin_claim_submitted")
    assert_conforms(admin_event)
    assert admin_event["data"]["claimId"] == claim["claimId"]
    assert admin_event["data"]["userEmail"] == f"{alice}@example.com"
    own, skipped = member.until("claim_submitted")
    assert skipped == []
    fence = submit_claim(server, alice)  # seq order: everything before it has arrived
    assert member.event("claim_submitted")["data"]["claimId"] == fence["claimId"]
    assert [r for r in member.quiet(0.3) if r["kind"] == "event"] == []
    assert [r for r in other.quiet(0.2) if r["kind"] == "event"] == []


def test_plain_socket_and_socketio_share_one_hub(server, local_app, sio, clients):
    alice = uid("alice")
    plain = clients(connect(server, alice))
    client = sio().connect(server.ws_url, f"Bearer {token(alice)}")
    client.event("connected")
    record_events(local_app, alice, 1)
    frame, _ = plain.until("claim_status_changed")
    assert client.event("claim_status_changed") == frame


def test_ping_pong_rate_limit_and_bad_payloads(server, sio):
    client = sio().connect(server.ws_url, f"Bearer {token(uid('alice'))}")
    client.event("connected")
    tag = client.emit("ping", callback=True)
    assert client.reply(tag)[0]["event"] == "pong"
    client.emit("ping")
    assert client.event("pong")["data"] == {}
    client.emit("pong")  # the spec heartbeat's answer: accepted silently
    client.emit("claim_paid_ack", "not an object")
    error = client.event("error")
    assert error["data"]["code"] == "INVALID_PAYLOAD"
    client.emit("subscribe", {})
    assert client.event("error")["data"]["originalEvent"] == "subscribe"
    assert [r for r in client.quiet(0.3) if r.get("name") == "error"] == []
    for _ in range(15):  # 10 events per second, bursts of 10
        client.emit("ping")
    reports = client.quiet(0.5)
    errors = [r["payload"] for r in reports if r.get("name") == "error"]
    assert [e["data"]["code"] for e in errors] == ["RATE_LIMITED"]
    assert 5 <= len([r for r in reports if r.get("name") == "pong"]) <= 11


def test_oversized_event_closes_the_connection(server, sio):
    client = sio().connect(server.ws_url, f"Bearer {token(uid('alice'))}")
    client.event("connected")
    client.emit("claim_paid_ack", {"claimId": "x" * (70 * 1024)})
    report, _ = client.until("disconnect")
    assert report["reason"] == "transport close"


def test_heartbeat_keeps_a_live_client_and_pings_are_engineio_pings(fast_heartbeat, sio):
    client = sio().connect(fast_heartbeat.ws_url, f"Bearer {token(uid('alice'))}")
    client.event("connected")
    # Pings every 0.3 s, dropped after 1 s without a pong: socket.io-client answers them.
    assert [r for r in client.quiet(2.5) if r["kind"] == "disconnect"] == []


@pytest.mark.redis
def test_two_processes_over_redis(redis_pair, local_app, sio):
    a, b, _ = redis_pair
    alice = uid("alice")
    subscribed(local_app, alice)
    client = sio().connect(b.ws_url, f"Bearer {token(alice)}")
    client.event("connected")
    claim = submit_claim(a, alice)  # committed by the other process; only Redis is fast
    envelope = client.event("claim_submitted", timeout=3)
    assert envelope["data"]["claimId"] == claim["claimId"]
    assert_conforms(envelope)


@pytest.mark.redis
def test_presence_for_push_hold_and_client_disconnect(redis_pair, database_uri, sio):
    _, b, env = redis_pair
    app = redis_app(database_uri, env)
    alice = uid("alice")
    with app.app_context():
        assert has_live_socket(alice) is False
        client = sio().connect(b.ws_url, f"Bearer {token(alice)}")
        client.event("connected")
        assert wait_for(lambda: has_live_socket(alice))  # a critical push would be held
        client.disconnect()
        report, _ = client.until("disconnect")
        assert report["reason"] == "io client disconnect"
        assert wait_for(lambda: not has_live_socket(alice))
