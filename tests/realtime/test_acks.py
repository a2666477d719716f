"""Acks over the socket: required and optional ones, resends of unacked required events,
and acks that are not the caller's to give."""

from __future__ import annotations

import requests

from models import db
from shield.auth import Principal
from shield.feed.service import ack_event
from tests.realtime.conftest import (
    acks_of,
    bearer,
    connect,
    member_events,
    paid_claim,
    submit_claim,
    subscribed,
    top_seq,
    uid,
    wait_for,
)
from tests.spec_check import assert_conforms


def _paid(server, local_app, clients, member):
    """A socket that has received claim_paid and payout_completed (nothing acked yet)."""
    subscribed(local_app, member)
    client = clients(connect(server, member))
    claim = paid_claim(server, member)
    frames = {}
    while len(frames) < 2:
        frame = client.recv()
        if frame["event"] in ("claim_paid", "payout_completed") and frame["event"] not in frames:
            assert_conforms(frame)
            frames[frame["event"]] = frame
    return client, claim, frames["claim_paid"], frames["payout_completed"]


def test_required_acks_are_recorded_and_stop_resends(server, local_app, clients):
    alice = uid("alice")
    client, claim, paid, payout = _paid(server, local_app, clients, alice)
    assert paid["data"]["claimId"] == claim["claimId"]
    client.send(
        "claim_paid_ack",
        {
            "claimId": claim["claimId"],
            "transactionId": paid["data"]["transactionId"],
            "received": True,
        },
    )
    client.send("payout_completed_ack", {"payoutId": payout["data"]["payoutId"], "received": True})
    ids = [paid["id"], payout["id"]]
    assert wait_for(lambda: len(acks_of(local_app, ids)) == 2)
    assert acks_of(local_app, ids) == {paid["id"]: "socket", payout["id"]: "socket"}
    client.quiet(0.1)  # whatever was already on the wire
    # Unacked, both would be resent 0.4 s and 1.2 s after delivery (ack timeout 0.4 s).
    frames = client.quiet(1.3)
    assert [f for f in frames if f.get("id") in ids] == []
    assert [f for f in frames if f["event"] == "error"] == []


def test_unacked_required_event_is_resent_a_bounded_number_of_times(server, local_app, clients):
    alice = uid("alice")
    client, _, paid, payout = _paid(server, local_app, clients, alice)
    # Resends 0.4 s and 1.2 s after delivery, at most 2 (settings); a third would be at 2.8 s.
    frames = client.quiet(3.2)
    resent = [f for f in frames if f.get("id") in (paid["id"], payout["id"])]
    assert sorted(f["id"] for f in resent) == sorted([paid["id"], payout["id"]] * 2)
    assert all(f == paid for f in resent if f["id"] == paid["id"])  # the same frame again
    # Optional ack events are never resent.
    assert not [f for f in frames if f["event"] in ("claim_approved", "claim_submitted")]
    # An ack by event id is accepted too (still naming the payment's transaction).
    client.send(
        "claim_paid_ack",
        {"eventId": paid["id"], "transactionId": paid["data"]["transactionId"], "received": True},
    )
    assert wait_for(lambda: acks_of(local_app, [paid["id"]]) == {paid["id"]: "socket"})
    # So is an ack on a later socket that never carried the event (found in the outbox).
    client.close()
    later = clients(connect(server, alice))
    later.send("payout_completed_ack", {"payoutId": payout["data"]["payoutId"], "received": True})
    assert wait_for(lambda: acks_of(local_app, [payout["id"]]) == {payout["id"]: "socket"})


def test_ack_through_rest_stops_socket_resends(server, local_app, clients):
    alice = uid("alice")
    client, _, paid, payout = _paid(server, local_app, clients, alice)
    with local_app.app_context():
        principal = Principal(alice, "member", None, None)
        for event_id in (paid["id"], payout["id"]):
            ack_event(db.session, principal, event_id, via="rest")
        db.session.commit()
        db.session.remove()
    client.quiet(0.1)  # a resend already on the wire
    frames = client.quiet(1.3)
    assert [f for f in frames if f.get("id") in (paid["id"], payout["id"])] == []


def test_optional_acks_are_accepted(server, local_app, clients):
    alice = uid("alice")
    subscribed(local_app, alice)
    client = clients(connect(server, alice))
    claim = submit_claim(server, alice)
    frame, _ = client.until("claim_submitted")
    client.send("claim_submitted_ack", {"claimId": claim["claimId"], "received": True})
    assert wait_for(lambda: acks_of(local_app, [frame["id"]]) == {frame["id"]: "socket"})
    client.send("claim_submitted_ack", {"claimId": claim["claimId"], "received": True})
    client.send("ping")  # a repeated ack is fine (idempotent): no error before the pong
    assert client.until("pong")[1] == []


def test_acks_for_what_is_not_the_callers_are_not_found_as_over_rest(server, local_app, clients):
    """Someone else's event, claim or payout, or an admin event, is answered exactly as an
    id that does not exist (REST: 404), so an ack reveals no one else's ids."""
    alice, mallory = uid("alice"), uid("mallory")
    start = top_seq(local_app)
    _, claim, paid, payout = _paid(server, local_app, clients, alice)
    admin_event = next(
        e
        for e in member_events(local_app, alice, start, admin=True)
        if e[2] == "admin_claim_submitted"
    )
    subscribed(local_app, mallory)
    thief = clients(connect(server, mallory))
    tx = paid["data"]["transactionId"]
    pairs = [  # (someone else's, made up): the same answer
        (
            "claim_paid_ack",
            {"eventId": paid["id"], "transactionId": tx},
            {"eventId": "evt_nope", "transactionId": tx},
        ),
        (
            "claim_paid_ack",
            {"claimId": claim["claimId"], "transactionId": tx},
            {"claimId": "clm_nope", "transactionId": tx},
        ),
        (
            "payout_completed_ack",
            {"payoutId": payout["data"]["payoutId"]},
            {"payoutId": "pay_nope"},
        ),
        ("claim_submitted_ack", {"eventId": admin_event[1]}, {"eventId": "evt_nope"}),
    ]
    for event, theirs, made_up in pairs:
        answers = []
        for data in (theirs, made_up):
            thief.send(event, {**data, "received": True})
            error = thief.recv()
            assert error["event"] == "error", error
            answers.append(error["data"])
        assert answers[0] == answers[1], (event, answers)
        assert answers[0]["code"] == "NOT_FOUND" and answers[0]["originalEvent"] == event
        assert answers[0]["details"] == {"status": 404}
    r = requests.post(
        f"{server.url}/shield/v1/events/{paid['id']}/ack", headers=bearer(mallory), timeout=5
    )
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "No such event."
    thief.send("claim_paid_ack", {"eventId": paid["id"], "transactionId": tx, "received": True})
    assert thief.recv()["data"]["message"] == "No such event."  # REST's words
    assert acks_of(local_app, [paid["id"], payout["id"]]) == {}


def test_claim_paid_ack_must_name_the_payments_transaction(server, local_app, clients):
    """A wrong or missing transactionId is refused and the resends go on."""
    alice = uid("alice")
    client, claim, paid, payout = _paid(server, local_app, clients, alice)
    for data in (
        {"claimId": claim["claimId"], "transactionId": "txn_other", "received": True},
        {"eventId": paid["id"], "transactionId": "txn_other", "received": True},
        {"claimId": claim["claimId"], "received": True},
    ):
        client.send("claim_paid_ack", data)
        error, _ = client.until("error")
        assert error["data"]["code"] == "INVALID_PAYLOAD", error
        assert "transactionId" in error["data"]["message"]
    assert acks_of(local_app, [paid["id"], payout["id"]]) == {}
    # Resends 0.4 s and 1.2 s after delivery: both events come again, unacked.
    frames = client.quiet(1.6)
    assert {f["id"] for f in frames if f.get("id") in (paid["id"], payout["id"])} == {
        paid["id"],
        payout["id"],
    }


def test_bad_acks_get_errors_and_change_nothing(server, local_app, clients):
    alice = uid("alice")
    start = top_seq(local_app)
    client, claim, paid, _ = _paid(server, local_app, clients, alice)
    status_changed = next(
        e for e in member_events(local_app, alice, start) if e[2] == "claim_status_changed"
    )
    cases = [
        ("claim_paid_ack", {"eventId": "evt_nope", "received": True}, "NOT_FOUND"),
        ("claim_paid_ack", {"claimId": "clm_nope", "received": True}, "NOT_FOUND"),
        ("claim_paid_ack", {"eventId": status_changed[1]}, "INVALID_PAYLOAD"),
        ("claim_paid_ack", {"claimId": claim["claimId"], "received": False}, "INVALID_PAYLOAD"),
        ("claim_paid_ack", {"received": True}, "INVALID_PAYLOAD"),
        ("claim_paid_ack", {"claimId": 42}, "INVALID_PAYLOAD"),
        ("claim_paid_ack", {"claimId": claim["claimId"], "transactionId": "t"}, "INVALID_PAYLOAD"),
        ("claim_paid_ack", {"claimId": claim["claimId"], "transactionId": 7}, "INVALID_PAYLOAD"),
        ("payout_completed_ack", {"claimId": claim["claimId"]}, "INVALID_PAYLOAD"),
        ("claim_under_review_ack", {"claimId": claim["claimId"]}, "INVALID_PAYLOAD"),
    ]
    for event, data, code in cases:
        client.send(event, data)
        error, _ = client.until("error")
        assert error["data"]["code"] == code, (event, data, error)
        assert error["data"]["originalEvent"] == event
    assert acks_of(local_app, [paid["id"], status_changed[1]]) == {}
