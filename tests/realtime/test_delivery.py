"""Delivery: live events as the spec says, to the right sockets only, in seq order, once;
replay after a reconnect."""

from __future__ import annotations

import threading

from sqlalchemy import delete

from models import OutboxEvent, db
from shield.events import mark_pruned
from tests.realtime.conftest import (
    connect,
    member_events,
    record_events,
    submit_claim,
    subscribed,
    top_seq,
    uid,
)
from tests.spec_check import assert_conforms

CLAIM_FIELDS = (
    "claimId",
    "ticketNumber",
    "amount",
    "status",
    "city",
    "state",
    "violationType",
    "submittedAt",
    "estimatedPayout",
)


def test_claim_submitted_reaches_owner_and_admins_only(server, local_app, clients):
    alice, bob = uid("alice"), uid("bob")
    subscribed(local_app, alice)
    subscribed(local_app, bob)
    member = clients(connect(server, alice))
    admin = clients(connect(server, uid("root"), admin=True))
    other = clients(connect(server, bob))

    claim = submit_claim(server, alice, amount=120)

    frame, skipped = member.until("claim_submitted")
    assert skipped == []
    assert_conforms(frame)
    assert set(frame["data"]) == set(CLAIM_FIELDS)
    for field in CLAIM_FIELDS:
        assert frame["data"][field] == claim[field], field
    assert frame["data"]["status"] == "submitted"
    stored = {seq: (event_id, name) for seq, event_id, name in member_events(local_app, alice)}
    assert stored[frame["seq"]] == (frame["id"], "claim_submitted")

    admin_frame, _ = admin.until("admin_claim_submitted")
    assert_conforms(admin_frame)
    assert admin_frame["data"]["claimId"] == claim["claimId"]
    assert admin_frame["data"]["userId"] == alice
    assert admin_frame["data"]["userEmail"] == f"{alice}@example.com"
    assert admin_frame["seq"] == frame["seq"] + 1  # same commit

    # Fences: a later event of each member proves what came before it (seq order).
    second = submit_claim(server, alice)
    fence, skipped = member.until("claim_submitted")
    assert fence["data"]["claimId"] == second["claimId"]
    assert [f["event"] for f in skipped] == []  # no admin_claim_submitted for a member
    submit_claim(server, bob)
    bob_frame, skipped = other.until("claim_submitted")
    assert skipped == [] and bob_frame["data"]["claimId"] != claim["claimId"]


def test_events_committed_by_another_process_arrive(server, local_app, clients):
    alice = uid("alice")
    client = clients(connect(server, alice))
    record_events(local_app, alice, 2)  # committed here, in a process without the addon
    expected = member_events(local_app, alice)
    got = [client.recv() for _ in expected]
    assert [(f["seq"], f["id"], f["event"]) for f in got] == expected
    assert_conforms(got[0])


def test_every_event_once_and_in_seq_order(server, local_app, clients):
    """Commits from two processes at once: the socket sees exactly the outbox, in order."""
    alice = uid("alice")
    subscribed(local_app, alice)
    start = top_seq(local_app)
    client = clients(connect(server, alice))
    writer = threading.Thread(target=record_events, args=(local_app, alice, 15))
    writer.start()
    for _ in range(5):
        submit_claim(server, alice)
    writer.join()
    expected = member_events(local_app, alice, after=start)
    assert len(expected) == 20
    received = [client.recv() for _ in expected]
    assert [(f["seq"], f["id"], f["event"]) for f in received] == expected
    assert client.quiet(0.5) == []


def test_replay_after_reconnect_then_live(server, local_app, clients):
    alice = uid("alice")
    subscribed(local_app, alice)
    first = clients(connect(server, alice))
    submit_claim(server, alice)
    seen, _ = first.until("claim_submitted")
    first.close()
    record_events(local_app, alice, 3)  # missed while offline
    submit_claim(server, alice)
    missed = member_events(local_app, alice, after=seen["seq"])
    assert len(missed) == 4

    for how in ("query", "frame"):
        client = clients(connect(server, alice, how=how, last_seq=seen["seq"]))
        replayed = [client.recv() for _ in missed]
        assert [(f["seq"], f["id"], f["event"]) for f in replayed] == missed
        for frame in replayed:
            assert_conforms(frame)
        record_events(local_app, alice, 1)
        live = client.recv()
        assert live["seq"] > missed[-1][0]
        assert client.quiet(0.3) == []
        client.close()
        missed = member_events(local_app, alice, after=seen["seq"])


def test_replay_races_with_live_commits(server, local_app, clients):
    """Events committed while a socket joins are neither lost nor sent twice."""
    alice = uid("alice")
    record_events(local_app, alice, 1)
    start = top_seq(local_app)
    stop = threading.Event()

    def write():
        while not stop.is_set():
            record_events(local_app, alice, 1)

    writer = threading.Thread(target=write)
    writer.start()
    sockets = []
    try:
        for _ in range(4):
            sockets.append(clients(connect(server, alice, last_seq=start)))
    finally:
        stop.set()
        writer.join()
    expected = member_events(local_app, alice, after=start)
    for client in sockets:
        got = [client.recv() for _ in expected]
        assert [(f["seq"], f["id"], f["event"]) for f in got] == expected
        assert client.quiet(0.2) == []


def test_admin_replay_includes_admin_events(server, local_app, clients):
    alice, root = uid("alice"), uid("root")
    subscribed(local_app, alice)
    start = top_seq(local_app)
    claim = submit_claim(server, alice)
    client = clients(connect(server, root, admin=True, last_seq=start))
    frame, _ = client.until("admin_claim_submitted")
    assert frame["data"]["claimId"] == claim["claimId"]
    member = clients(connect(server, alice, last_seq=start))
    frame, skipped = member.until("claim_submitted")
    assert skipped == [] and member.quiet(0.3) == []


def test_replay_unavailable_when_last_seq_is_unknown_or_pruned(server, local_app, clients):
    alice = uid("alice")
    record_events(local_app, alice, 2)
    top = top_seq(local_app)

    ahead = clients(connect(server, alice, last_seq=top + 1000))  # from another database
    error = ahead.recv()
    assert error["event"] == "error"
    assert error["data"]["code"] == "REPLAY_UNAVAILABLE"
    assert error["data"]["details"]["lastSeq"] == top + 1000
    record_events(local_app, alice, 1)  # live events still flow
    assert ahead.recv()["event"] == "claim_status_changed"

    # Retention pruned everything up to `top`: a client that last saw top - 1 missed top.
    with local_app.app_context():
        db.session.execute(delete(OutboxEvent).where(OutboxEvent.seq <= top))
        mark_pruned(db.session, top)
        db.session.commit()
        db.session.remove()
    pruned = clients(connect(server, alice, last_seq=top - 1))
    error = pruned.recv()
    assert error["data"]["code"] == "REPLAY_UNAVAILABLE"
    assert error["data"]["details"]["oldestSeq"] == top + 1
    fine = clients(connect(server, alice, last_seq=top))  # nothing it needs was pruned
    assert fine.recv()["event"] == "claim_status_changed"


def test_bad_last_seq_is_reported_and_the_socket_goes_live(server, local_app, clients):
    alice = uid("alice")
    client = clients(connect(server, alice, how="frame", last_seq="ten"))
    error = client.recv()
    assert error["data"]["code"] == "INVALID_PAYLOAD"
    assert error["data"]["originalEvent"] == "auth"
    record_events(local_app, alice, 1)
    assert client.recv()["event"] == "claim_status_changed"
