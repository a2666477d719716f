import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from models import Claim, OutboxEvent, Wallet, WalletTransaction, db, utcnow
from shield.claims import service
from tests.factories import claim_body, subscribe
from tests.spec_check import assert_conforms

CLAIMS = "/shield/v1/claims"
ADMIN = "/shield/v1/admin/claims"


@pytest.fixture
def admin(auth):
    return auth("root", admin=True)


def submit(client, auth, member="alice", **overrides):
    r = client.post(CLAIMS, headers=auth(member), json=claim_body(**overrides))
    assert r.status_code == 201, r.json
    return r.json


def act(client, admin, claim_id, action, body=None, key=None):
    headers = dict(admin)
    if action in ("approve", "pay"):
        headers["Idempotency-Key"] = key or f"{action}-{claim_id}"
    return client.post(f"{ADMIN}/{claim_id}/{action}", headers=headers, json=body)


def events(app, member_id=None):
    with app.app_context():
        query = select(OutboxEvent).order_by(OutboxEvent.seq)
        if member_id:
            query = query.where(OutboxEvent.member_id == member_id)
        return [
            (e.name, {**e.payload, "id": e.id, "seq": e.seq})
            for e in db.session.execute(query).scalars()
        ]


def test_submit_returns_claim_and_estimate(app, client, auth):
    with app.app_context():
        subscribe("alice", "pro")
    claim = submit(client, auth, amount=72.5, ticketNumber="SF 42")
    assert claim["status"] == "submitted"
    assert claim["amount"] == 72.5
    assert claim["estimatedPayout"] == 62.5  # pro deductible 10.00
    assert claim["ticketNumber"] == "SF 42"
    assert claim["submittedAt"].endswith("Z")
    names = [n for n, _ in events(app)]
    assert names == ["claim_submitted", "admin_claim_submitted"]
    for _, message in events(app):
        assert_conforms(message)


def test_submit_needs_active_subscription(app, client, auth):
    r = client.post(CLAIMS, headers=auth("bob"), json=claim_body())
    assert r.status_code == 409 and r.json["error"]["code"] == "SUBSCRIPTION_INACTIVE"
    assert events(app) == []


def test_duplicate_ticket_rejected(app, client, auth):
    with app.app_context():
        subscribe("alice")
    submit(client, auth, ticketNumber="DUP-1")
    r = client.post(CLAIMS, headers=auth("alice"), json=claim_body(ticketNumber="DUP-1"))
    assert r.status_code == 409 and r.json["error"]["code"] == "DUPLICATE_CLAIM"


def test_members_see_only_their_claims(app, client, auth):
    with app.app_context():
        subscribe("alice")
        subscribe("bob")
    mine = submit(client, auth, "alice")
    submit(client, auth, "bob")
    listed = client.get(CLAIMS, headers=auth("alice")).json
    assert [c["claimId"] for c in listed["claims"]] == [mine["claimId"]]
    r = client.get(f"{CLAIMS}/{mine['claimId']}", headers=auth("bob"))
    assert r.status_code == 404


def test_full_lifecycle_events_match_spec(app, client, auth, admin):
    with app.app_context():
        subscribe("alice", "basic")
    claim = submit(client, auth, amount=65)
    cid = claim["claimId"]
    assert act(client, admin, cid, "review").json["status"] == "under_review"
    approved = act(client, admin, cid, "approve", {"decisionNotes": "clear photo"}).json
    assert (approved["payoutAmount"], approved["deductibleApplied"], approved["memberCoPay"]) == (
        50,
        15,
        15,
    )
    paid = act(client, admin, cid, "pay").json
    assert paid["status"] == "paid"
    names = [n for n, _ in events(app, "alice")]
    assert names == [
        "claim_submitted",
        "claim_under_review",
        "notification_received",
        "claim_status_changed",
        "claim_approved",
        "notification_received",
        "claim_status_changed",
        "payout_initiated",
        "payout_completed",
        "notification_received",
        "claim_paid",
        "claim_status_changed",
        "coverage_updated",
        "cancellation_restriction_changed",
    ]
    for _, message in events(app):
        assert_conforms(message)
    by_name = {}
    for name, message in events(app, "alice"):
        by_name.setdefault(name, []).append(message["data"])
    assert by_name["claim_paid"][0]["walletBalance"] == 50
    assert by_name["payout_completed"][0]["newWalletBalance"] == 50
    assert (
        by_name["claim_paid"][0]["transactionId"] == by_name["payout_completed"][0]["transactionId"]
    )
    assert by_name["coverage_updated"][0]["coverage"]["usedAmount"] == 50
    assert by_name["coverage_updated"][0]["coverage"]["remainingAmount"] == 200
    assert by_name["coverage_updated"][0]["changeReason"] == "claim_payout"
    restriction = by_name["cancellation_restriction_changed"][0]
    assert restriction["canCancel"] is False and restriction["daysRemaining"] == 90
    seqs = [m["seq"] for _, m in events(app)]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    with app.app_context():
        wallet = db.session.get(Wallet, "alice")
        ledger = db.session.scalars(
            select(WalletTransaction.amount_cents).where(WalletTransaction.member_id == "alice")
        ).all()
        assert wallet.balance_cents == sum(ledger) == 5000


@pytest.mark.parametrize(
    ("path", "action", "expected"),
    [
        ([], "pay", 409),
        (["review"], "review", 409),
        (["deny"], "approve", 409),
        (["deny"], "review", 409),
        (["approve"], "deny", 409),
        (["approve"], "review", 409),
        (["approve", "pay"], "approve", 409),
        (["approve", "pay"], "deny", 409),
        (["approve", "pay"], "pay", 409),
    ],
)
def test_illegal_transitions_conflict_and_change_nothing(
    app, client, auth, admin, path, action, expected
):
    with app.app_context():
        subscribe("alice")
    cid = submit(client, auth)["claimId"]
    for step in path:
        body = {"denialCode": "D005"} if step == "deny" else None
        assert act(client, admin, cid, step, body).status_code == 200
    before = events(app)
    body = {"denialCode": "D005"} if action == "deny" else None
    r = act(client, admin, cid, action, body, key=f"second-{action}")
    assert r.status_code == expected
    assert r.json["error"]["code"] == "CONFLICT"
    assert events(app) == before


def test_deny_with_appeal_deadline(app, client, auth, admin):
    with app.app_context():
        subscribe("alice")
    cid = submit(client, auth)["claimId"]
    r = act(client, admin, cid, "deny", {"denialCode": "D005", "decisionNotes": "blurry"})
    assert r.status_code == 200
    claim = r.json
    assert claim["denialReason"] == "Ticket photo missing or illegible"
    assert claim["appealable"] is True
    denied = [m for n, m in events(app) if n == "claim_denied"][0]
    assert_conforms(denied)
    assert denied["data"]["appealable"] is True
    with app.app_context():
        row = db.session.get(Claim, cid)
        assert row.appeal_deadline - row.denied_at == timedelta(days=30)
    cid2 = submit(client, auth)["claimId"]
    act(client, admin, cid2, "deny", {"denialCode": "D004"})
    denied2 = [m for n, m in events(app) if n == "claim_denied"][1]
    assert denied2["data"]["appealable"] is False and "appealDeadline" not in denied2["data"]


def test_unknown_denial_code(client, auth, admin, app):
    with app.app_context():
        subscribe("alice")
    cid = submit(client, auth)["claimId"]
    r = act(client, admin, cid, "deny", {"denialCode": "D999"})
    assert r.status_code == 422


def test_ticket_limit_denies_with_d009(app, client, auth, admin):
    with app.app_context():
        subscribe("alice", "basic")  # 3 tickets
    ids = [submit(client, auth, amount=20)["claimId"] for _ in range(4)]
    for cid in ids[:3]:
        assert act(client, admin, cid, "approve").json["status"] == "approved"
    last = act(client, admin, ids[3], "approve").json
    assert last["status"] == "denied" and last["denialCode"] == "D009"


def test_cap_limits_payout_then_denies_with_d008(app, client, auth, admin):
    with app.app_context():
        subscribe("alice", "basic")  # cap 250, deductible 15
    first = submit(client, auth, amount=200)["claimId"]
    second = submit(client, auth, amount=100)["claimId"]
    third = submit(client, auth, amount=50)["claimId"]
    assert act(client, admin, first, "approve").json["payoutAmount"] == 185
    partial = act(client, admin, second, "approve").json
    assert partial["payoutAmount"] == 65 and partial["memberCoPay"] == 35  # cap left: 65
    assert act(client, admin, first, "pay").status_code == 200
    denied = act(client, admin, third, "approve").json
    assert denied["status"] == "denied" and denied["denialCode"] == "D008"


def test_idempotency_semantics(app, client, auth, admin):
    with app.app_context():
        subscribe("alice")
    cid = submit(client, auth)["claimId"]
    headers = {**admin, "Idempotency-Key": "same"}
    first = client.post(f"{ADMIN}/{cid}/approve", headers=headers, json={"decisionNotes": "a"})
    again = client.post(f"{ADMIN}/{cid}/approve", headers=headers, json={"decisionNotes": "a"})
    assert first.status_code == again.status_code == 200
    assert first.json == again.json and again.headers["Idempotent-Replayed"] == "true"
    other = client.post(f"{ADMIN}/{cid}/approve", headers=headers, json={"decisionNotes": "b"})
    assert other.status_code == 422 and other.json["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    missing = client.post(f"{ADMIN}/{cid}/pay", headers=admin)
    assert missing.status_code == 400
    # Keys are scoped per caller: another admin may use the same key for its own call.
    r = client.post(
        f"{ADMIN}/{cid}/pay", headers={**auth("root2", admin=True), "Idempotency-Key": "same"}
    )
    assert r.status_code == 200 and r.json["status"] == "paid"
    assert len([n for n, _ in events(app) if n == "payout_completed"]) == 1


def test_in_flight_key_conflicts(app, client, auth, admin):
    from models import IdempotencyKey

    with app.app_context():
        subscribe("alice")
        db.session.add(
            IdempotencyKey(
                owner_id="alice",
                key="busy",
                request_hash="x",
                status="running",
                locked_until=utcnow() + timedelta(minutes=1),
            )
        )
        db.session.commit()
    with app.app_context():
        from shield.idempotency import _request_hash  # noqa: F401  (same hashing as views)
    cid = submit(client, auth)["claimId"]
    client.get("/shield/v1/claims", headers=admin)  # creates the admin member row
    with app.app_context():
        from models import IdempotencyKey as Key

        db.session.add(
            Key(
                owner_id="root",
                key="busy",
                request_hash=_hash(app, cid),
                status="running",
                locked_until=utcnow() + timedelta(minutes=1),
            )
        )
        db.session.commit()
    r = client.post(f"{ADMIN}/{cid}/pay", headers={**admin, "Idempotency-Key": "busy"})
    assert r.status_code == 409 and r.json["error"]["code"] == "IDEMPOTENCY_KEY_IN_USE"


def _hash(app, cid):
    with app.test_request_context(f"{ADMIN}/{cid}/pay", method="POST"):
        from shield.idempotency import _request_hash

        return _request_hash()


def test_failed_transaction_leaves_no_event(app, client, auth, monkeypatch):
    with app.app_context():
        subscribe("alice")
    before = events(app)
    original = service.record

    def record_then_fail(session, name, *args, **kwargs):
        original(session, name, *args, **kwargs)
        if name == "admin_claim_submitted":
            raise RuntimeError("crash after the events were recorded")

    monkeypatch.setattr(service, "record", record_then_fail)
    r = client.post(CLAIMS, headers=auth("alice"), json=claim_body())
    assert r.status_code == 500
    assert events(app) == before
    monkeypatch.setattr(service, "record", original)
    assert client.post(CLAIMS, headers=auth("alice"), json=claim_body()).status_code == 201
    assert [n for n, _ in events(app)] == ["claim_submitted", "admin_claim_submitted"]


def test_proof_of_payment_flow(app, client, auth, admin):
    with app.app_context():
        subscribe("alice")
    cid = submit(client, auth)["claimId"]
    r = act(client, admin, cid, "proof-request", {"message": "Send the receipt"})
    assert r.status_code == 409  # not paid yet
    act(client, admin, cid, "approve")
    act(client, admin, cid, "pay")
    r = act(client, admin, cid, "proof-request", {"message": "Send the receipt"})
    assert r.status_code == 200
    message = [m for n, m in events(app) if n == "proof_of_payment_requested"][0]
    assert_conforms(message)
    assert message["data"]["message"] == "Send the receipt"
    bad = client.post(
        f"{CLAIMS}/{cid}/proof",
        headers=auth("alice"),
        json={"documentUrl": "http://insecure.example.com/x.pdf"},
    )
    assert bad.status_code == 422
    other = client.post(
        f"{CLAIMS}/{cid}/proof",
        headers=auth("bob"),
        json={"documentUrl": "https://files.example.com/r.pdf"},
    )
    assert other.status_code == 404
    ok = client.post(
        f"{CLAIMS}/{cid}/proof",
        headers=auth("alice"),
        json={"documentUrl": "https://files.example.com/r.pdf"},
    )
    assert ok.status_code == 200 and ok.json["proofOfPayment"]["uploadedAt"]


def test_admin_queue_filters_by_status(app, client, auth, admin):
    with app.app_context():
        subscribe("alice")
    a = submit(client, auth)["claimId"]
    b = submit(client, auth)["claimId"]
    act(client, admin, b, "review")
    queue = client.get(f"{ADMIN}?status=submitted", headers=admin).json
    assert [c["claimId"] for c in queue["claims"]] == [a]
    assert queue["claims"][0]["userId"] == "alice"
    assert client.get(f"{ADMIN}?status=bogus", headers=admin).status_code == 400


def test_claims_etag_and_appealable_clock(app, client, auth, admin, monkeypatch):
    import shield.polling as polling

    with app.app_context():
        subscribe("alice")
    cid = submit(client, auth)["claimId"]
    act(client, admin, cid, "deny", {"denialCode": "D005"})
    r = client.get(CLAIMS, headers=auth("alice"))
    etag = r.headers["ETag"]
    assert r.json["claims"][0]["appealable"] is True
    assert r.headers["Cache-Control"] == "private, no-cache"
    assert r.headers["Vary"] == "Authorization"
    r304 = client.get(CLAIMS, headers=auth("alice", **{"If-None-Match": etag}))
    assert r304.status_code == 304 and r304.headers["ETag"] == etag
    assert r304.headers["Cache-Control"] == "private, no-cache"
    # Another member's ETag never matches this member's list.
    bob = client.get(CLAIMS, headers=auth("bob"))
    assert bob.headers["ETag"] != etag
    # 31 days later nothing was written, but `appealable` flipped: no 304 may hide it.
    later = utcnow() + timedelta(days=31)
    monkeypatch.setattr(polling, "utcnow", lambda: later)
    import shield.claims.schemas as schemas

    monkeypatch.setattr("models.utcnow", lambda: later)
    r = client.get(CLAIMS, headers=auth("alice", **{"If-None-Match": etag}))
    assert r.status_code == 200, "a 304 hid the end of the appeal window"
    assert r.json["claims"][0]["appealable"] is False
    assert r.headers["ETag"] != etag
    again = client.get(CLAIMS, headers=auth("alice", **{"If-None-Match": r.headers["ETag"]}))
    assert again.status_code == 304
    assert schemas  # imported for the monkeypatch target


def test_detail_etag(app, client, auth, admin):
    with app.app_context():
        subscribe("alice")
    cid = submit(client, auth)["claimId"]
    r = client.get(f"{CLAIMS}/{cid}", headers=auth("alice"))
    etag = r.headers["ETag"]
    assert (
        client.get(f"{CLAIMS}/{cid}", headers=auth("alice", **{"If-None-Match": etag})).status_code
        == 304
    )
    act(client, admin, cid, "review")
    r = client.get(f"{CLAIMS}/{cid}", headers=auth("alice", **{"If-None-Match": etag}))
    assert r.status_code == 200 and r.json["status"] == "under_review"


def test_hand_written_serializer_matches_documented_schema(app, client, auth, admin):
    """The fast claim_json and the ClaimOut schema (OpenAPI) describe the same JSON."""
    from shield.claims.schemas import ClaimOut
    from shield.claims.serialize import claim_json, stored_json

    with app.app_context():
        subscribe("alice", "pro")
    ids = [submit(client, auth, amount=a)["claimId"] for a in (45.5, 80, 19.99, 120, 60)]
    act(client, admin, ids[1], "review")
    act(client, admin, ids[2], "approve")
    act(client, admin, ids[3], "approve")
    act(client, admin, ids[3], "pay")
    act(client, admin, ids[3], "proof-request")
    act(client, admin, ids[4], "deny", {"denialCode": "D007", "decisionNotes": "late"})
    act(client, admin, ids[0], "deny", {"denialCode": "D001"})
    with app.app_context():
        for now in (utcnow(), utcnow() + timedelta(days=40)):
            for claim in db.session.scalars(select(Claim)):
                fresh = claim_json(claim, now)
                assert fresh == ClaimOut(now=now).dump(claim), claim.status
                stored = stored_json(claim.rendered, claim.appeal_deadline, now)
                assert json.loads(stored) == fresh, claim.status
    listed = client.get(CLAIMS, headers=auth("alice")).json["claims"]
    assert {c["status"] for c in listed} == {
        "submitted",
        "under_review",
        "approved",
        "paid",
        "denied",
    } - {"submitted"}
    assert any(c["amount"] == 19.99 for c in listed)


def test_stored_rendering_flips_appealable_and_user_text_cannot_forge_it(
    app, client, auth, admin, monkeypatch
):
    import shield.polling as polling

    with app.app_context():
        subscribe("alice")
    cid = submit(client, auth)["claimId"]
    notes = 'see "appealable":true and \\"appealable\\":true'
    act(client, admin, cid, "deny", {"denialCode": "D005", "decisionNotes": notes})
    listed = client.get(CLAIMS, headers=auth("alice")).json["claims"][0]
    assert listed["appealable"] is True and listed["decisionNotes"] == notes
    later = utcnow() + timedelta(days=31)
    monkeypatch.setattr(polling, "utcnow", lambda: later)
    listed = client.get(CLAIMS, headers=auth("alice")).json["claims"][0]
    assert listed["appealable"] is False and listed["decisionNotes"] == notes
