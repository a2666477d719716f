from tests.factories import claim_body, subscribe


def test_submit_approve_pay_flow(app, client, auth):
    with app.app_context():
        subscribe("alice", "basic")
    r = client.post("/shield/v1/claims", json=claim_body(amount=65), headers=auth("alice"))
    assert r.status_code == 201, r.json
    claim = r.json
    assert claim["estimatedPayout"] == 50
    r = client.get("/shield/v1/claims", headers=auth("alice"))
    assert r.status_code == 200
    etag = r.headers["ETag"]
    r = client.get("/shield/v1/claims", headers=auth("alice", **{"If-None-Match": etag}))
    assert r.status_code == 304
    admin = auth("root", admin=True)
    r = client.post(
        f"/shield/v1/admin/claims/{claim['claimId']}/approve",
        headers={**admin, "Idempotency-Key": "k1"},
    )
    assert r.status_code == 200, r.json
    assert r.json["status"] == "approved"
    r = client.get("/shield/v1/claims", headers=auth("alice", **{"If-None-Match": etag}))
    assert r.status_code == 200
    r = client.post(
        f"/shield/v1/admin/claims/{claim['claimId']}/pay",
        headers={**admin, "Idempotency-Key": "k2"},
    )
    assert r.status_code == 200, r.json
    assert r.json["status"] == "paid"
    r2 = client.post(
        f"/shield/v1/admin/claims/{claim['claimId']}/pay",
        headers={**admin, "Idempotency-Key": "k2"},
    )
    assert r2.status_code == 200 and r2.headers["Idempotent-Replayed"] == "true"
    r3 = client.post(
        f"/shield/v1/admin/claims/{claim['claimId']}/pay",
        headers={**admin, "Idempotency-Key": "k3"},
    )
    assert r3.status_code == 409
