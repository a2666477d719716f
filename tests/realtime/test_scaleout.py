"""Several server processes: Redis pub/sub fan-out, PostgreSQL LISTEN, shared presence."""

from __future__ import annotations

import pytest

from shield.realtime import has_live_socket, push_hold_seconds
from tests.realtime.conftest import (
    connect,
    member_events,
    record_events,
    redis_app,
    submit_claim,
    subscribed,
    uid,
    wait_for,
)


@pytest.mark.redis
def test_event_committed_through_one_process_reaches_a_socket_on_another(
    redis_pair, local_app, clients
):
    a, b, _ = redis_pair
    alice = uid("alice")
    subscribed(local_app, alice)
    on_b = clients(connect(b, alice))
    on_a = clients(connect(a, alice))
    claim = submit_claim(a, alice)  # committed by A's worker
    frame, skipped = on_b.until("claim_submitted", timeout=5)  # the poll would take 60 s
    assert frame["data"]["claimId"] == claim["claimId"] and skipped == []
    assert on_a.until("claim_submitted")[0] == frame
    claim = submit_claim(b, alice)  # and the other way round
    assert on_a.until("claim_submitted", timeout=5)[0]["data"]["claimId"] == claim["claimId"]


@pytest.mark.redis
def test_hole_left_by_a_process_that_publishes_nothing_is_filled_in_order(
    redis_pair, local_app, clients
):
    """The test process commits without the addon (no publish): the next published event
    shows a hole in the seqs, and the hub reads it from the outbox before going on."""
    a, b, _ = redis_pair
    alice = uid("alice")
    subscribed(local_app, alice)
    start = member_events(local_app, alice)[-1][0] if member_events(local_app, alice) else 0
    client = clients(connect(b, alice))
    record_events(local_app, alice, 2)
    submit_claim(a, alice)
    expected = member_events(local_app, alice, after=start)
    got = [client.recv(timeout=5) for _ in expected]
    assert [(f["seq"], f["id"], f["event"]) for f in got] == expected


@pytest.mark.redis
def test_presence_is_shared_through_redis(redis_pair, database_uri, clients):
    _, b, env = redis_pair
    app = redis_app(database_uri, env, SHIELD_WS_PUSH_HOLD=7)
    alice = uid("alice")
    with app.app_context():
        assert has_live_socket(alice) is False
        client = clients(connect(b, alice))
        assert wait_for(lambda: has_live_socket(alice))
        assert has_live_socket(uid("bob")) is False
        assert push_hold_seconds() == 7
        client.send("disconnect", {"reason": "logout"})
        client.expect_close()
        assert wait_for(lambda: not has_live_socket(alice))


@pytest.mark.postgres
def test_listen_notify_wakes_the_socket_process(listen_server, local_app, clients):
    """On PostgreSQL an event committed by any process (here: the test process) reaches
    sockets at once, without Redis and without waiting for the outbox poll."""
    alice = uid("alice")
    client = clients(connect(listen_server, alice))
    record_events(local_app, alice, 1)
    assert client.recv(timeout=5)["event"] == "claim_status_changed"  # the poll: 60 s
