"""GET /shield/v1/events: order, visibility, paging, ETag/304 and reset after pruning."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, event, select

from models import OutboxEvent, db
from models.outbox import EventSequence
from shield.events import mark_pruned
from tests.push.helpers import emit

URL = "/shield/v1/events"


def _outbox(member_id: str | None = None) -> list[OutboxEvent]:
    query = select(OutboxEvent).order_by(OutboxEvent.seq)
    if member_id:
        query = query.where(OutboxEvent.member_id == member_id)
    return list(db.session.execute(query).scalars())


def test_my_events_in_seq_order_as_spec_messages(app, client, auth):
    with app.app_context():
        emit("alice", "claim_submitted", claim_id="clm_a")
        emit("bob", "claim_approved")
        emit("alice", "claim_approved", claim_id="clm_a")
        emit("alice", "claim_paid", claim_id="clm_a")
        mine = _outbox("alice")
        expected = [{**e.payload, "id": e.id, "seq": e.seq} for e in mine]
    r = client.get(URL, headers=auth("alice"))
    assert r.status_code == 200
    body = r.json
    assert body["events"] == expected
    assert [e["event"] for e in body["events"]] == [
        "claim_submitted",
        "claim_approved",
        "notification_received",
        "claim_paid",
    ]
    seqs = [e["seq"] for e in body["events"]]
    assert seqs == sorted(seqs)
    assert body["lastSeq"] == seqs[-1] and body["hasMore"] is False and body["reset"] is False
    assert set(body["events"][0]) == {"event", "timestamp", "data", "id", "seq"}
    assert r.headers["Cache-Control"] == "private, no-cache"
    assert r.headers["Vary"] == "Authorization"


def test_paging_with_after_and_limit(app, client, auth):
    with app.app_context():
        for _ in range(5):
            emit("alice", "claim_submitted")
        seqs = [e.seq for e in _outbox("alice")]
    first = client.get(f"{URL}?limit=2", headers=auth("alice")).json
    assert [e["seq"] for e in first["events"]] == seqs[:2] and first["hasMore"] is True
    assert first["lastSeq"] == seqs[1]
    rest = client.get(f"{URL}?after={first['lastSeq']}&limit=3", headers=auth("alice")).json
    assert [e["seq"] for e in rest["events"]] == seqs[2:] and rest["hasMore"] is False
    empty = client.get(f"{URL}?after={rest['lastSeq']}", headers=auth("alice")).json
    assert empty == {"events": [], "lastSeq": rest["lastSeq"], "hasMore": False, "reset": False}


def test_members_see_only_their_own_and_admins_also_see_admin_events(app, client, auth):
    with app.app_context():
        emit("alice", "claim_submitted")
        emit("bob", "claim_submitted")
        emit(None, "admin_action_required")
        emit("root", "claim_submitted")  # the admin's own member events
    alice = client.get(URL, headers=auth("alice")).json["events"]
    assert {e["data"].get("claimId") is not None for e in alice} == {True}
    assert {e["event"] for e in alice} == {"claim_submitted"} and len(alice) == 1
    bob = client.get(URL, headers=auth("bob")).json["events"]
    assert len(bob) == 1 and bob[0]["id"] != alice[0]["id"]
    admin = client.get(URL, headers=auth("root", admin=True)).json["events"]
    assert [e["event"] for e in admin] == ["admin_action_required", "claim_submitted"]
    # The same person without the admin role in the token sees no admin events.
    assert [e["event"] for e in client.get(URL, headers=auth("root")).json["events"]] == [
        "claim_submitted"
    ]


def test_304_when_nothing_new_and_200_when_something_is(app, client, auth):
    with app.app_context():
        emit("alice", "claim_submitted")
    first = client.get(URL, headers=auth("alice"))
    etag = first.headers["ETag"]
    again = client.get(URL, headers=auth("alice", **{"If-None-Match": etag}))
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == "private, no-cache"
    assert again.headers["Vary"] == "Authorization"
    with app.app_context():
        emit("bob", "claim_submitted")  # someone else's event changes nothing for alice
        emit(None, "admin_action_required")
    assert client.get(URL, headers=auth("alice", **{"If-None-Match": etag})).status_code == 304
    with app.app_context():
        emit("alice", "claim_submitted")
    changed = client.get(URL, headers=auth("alice", **{"If-None-Match": etag}))
    assert changed.status_code == 200 and len(changed.json["events"]) == 2
    assert changed.headers["ETag"] != etag
    # Another member's validator never matches (ETags are per caller).
    assert client.get(URL, headers=auth("bob", **{"If-None-Match": etag})).status_code == 200


def test_admin_feed_revalidates_on_admin_events(app, client, auth):
    admin = auth("root", admin=True)
    etag = client.get(URL, headers=admin).headers["ETag"]
    assert client.get(URL, headers={**admin, "If-None-Match": etag}).status_code == 304
    with app.app_context():
        emit(None, "admin_action_required")
    r = client.get(URL, headers={**admin, "If-None-Match": etag})
    assert r.status_code == 200 and r.json["events"][0]["event"] == "admin_action_required"


def test_the_304_path_loads_no_event(app, client, auth):
    with app.app_context():
        emit("alice", "claim_approved")
    etag = client.get(URL, headers=auth("alice")).headers["ETag"]
    statements: list[str] = []

    def capture(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        r = client.get(URL, headers=auth("alice", **{"If-None-Match": etag}))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert r.status_code == 304
    assert statements and len(statements) <= 4
    assert not any("payload" in s for s in statements)


@pytest.mark.parametrize(
    "query",
    ["after=-1", "after=abc", "after=1.5", "limit=0", "limit=501", "limit=x", f"after={2**63}"],
)
def test_bad_after_or_limit_is_a_400(client, auth, query):
    r = client.get(f"{URL}?{query}", headers=auth("alice"))
    assert r.status_code == 400
    assert r.json["error"]["code"] == "INVALID_PAYLOAD"


def test_the_feed_needs_a_token(client):
    assert client.get(URL).status_code == 401


def _prune_through(seq: int) -> None:
    """What retention does: the oldest events are gone, and it says how far it went."""
    db.session.execute(delete(OutboxEvent).where(OutboxEvent.seq <= seq))
    mark_pruned(db.session, seq)
    db.session.commit()


def test_reset_when_after_is_older_than_what_is_kept(app, client, auth):
    with app.app_context():
        for _ in range(4):
            emit("alice", "claim_submitted")
        seqs = [e.seq for e in _outbox("alice")]
        _prune_through(seqs[1])
    stale = client.get(f"{URL}?after={seqs[0]}", headers=auth("alice")).json
    assert stale["reset"] is True  # seq 2 is gone: refetch claims, wallet, subscription
    assert [e["seq"] for e in stale["events"]] == seqs[2:]
    fresh = client.get(f"{URL}?after={stale['lastSeq']}", headers=auth("alice")).json
    assert fresh["reset"] is False and fresh["events"] == []
    # Right at the edge of what is kept nothing was missed.
    edge = client.get(f"{URL}?after={seqs[1]}", headers=auth("alice")).json
    assert edge["reset"] is False and [e["seq"] for e in edge["events"]] == seqs[2:]


def test_reset_moves_past_the_gap_even_with_no_event_of_mine_left(app, client, auth):
    with app.app_context():
        emit("alice", "claim_submitted")
        emit("bob", "claim_submitted")
        emit("bob", "claim_submitted")
        alice_seq = _outbox("alice")[0].seq
        bob_last = _outbox("bob")[-1].seq
        _prune_through(bob_last - 1)
    r = client.get(f"{URL}?after=0", headers=auth("alice")).json
    assert r == {"events": [], "lastSeq": bob_last - 1, "hasMore": False, "reset": True}
    assert alice_seq < bob_last
    assert client.get(f"{URL}?after={r['lastSeq']}", headers=auth("alice")).json["reset"] is False


def test_reset_when_everything_was_pruned(app, client, auth):
    with app.app_context():
        emit("alice", "claim_submitted")
        top = db.session.get(EventSequence, 1).value
        _prune_through(top)
    r = client.get(f"{URL}?after=0", headers=auth("alice")).json
    assert r["reset"] is True and r["lastSeq"] == top and r["events"] == []
    assert client.get(f"{URL}?after={top}", headers=auth("alice")).json["reset"] is False


def test_reset_when_after_is_beyond_anything_committed(app, client, auth):
    with app.app_context():
        emit("alice", "claim_submitted")
        seq = _outbox("alice")[0].seq
    r = client.get(f"{URL}?after={seq + 1000}", headers=auth("alice")).json
    assert r["reset"] is True and [e["seq"] for e in r["events"]] == [seq]


def test_a_fresh_database_is_not_a_reset(client, auth):
    r = client.get(URL, headers=auth("newbie"))
    assert r.json == {"events": [], "lastSeq": 0, "hasMore": False, "reset": False}
