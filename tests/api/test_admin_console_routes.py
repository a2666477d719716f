"""The admin routes the console needs: counts, search, denial codes, a claim's history; and
the console's static files with their Content-Security-Policy."""

from __future__ import annotations

from models import db
from tests.factories import claim_body, subscribe

ADMIN = "/shield/v1/admin"


def _submit(client, auth, member, **overrides):
    response = client.post("/shield/v1/claims", json=claim_body(**overrides), headers=auth(member))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["claimId"]


def test_counts_search_and_history(app, client, auth):
    with app.app_context():
        subscribe("alice")
        subscribe("bob")
        db.session.remove()
    admin = auth("root", admin=True)
    a1 = _submit(client, auth, "alice", ticketNumber="SF-100")
    _submit(client, auth, "alice", ticketNumber="SF-200")
    b1 = _submit(client, auth, "bob", ticketNumber="LA_1")
    assert client.post(f"{ADMIN}/claims/{a1}/review", headers=admin).status_code == 200

    counts = client.get(f"{ADMIN}/claims/counts", headers=admin).get_json()
    assert counts == {
        "counts": {"submitted": 2, "under_review": 1, "approved": 0, "paid": 0, "denied": 0},
        "total": 3,
    }

    def search(q):
        body = client.get(f"{ADMIN}/claims", query_string={"q": q}, headers=admin).get_json()
        return sorted(c["ticketNumber"] for c in body["claims"])

    assert search("SF-") == ["SF-100", "SF-200"]
    assert search("bob") == ["LA_1"]
    assert search("LA%") == []  # wildcards are literal
    assert search("L_") == []
    assert client.get(f"{ADMIN}/claims?q={'x' * 65}", headers=admin).status_code == 400

    history = client.get(f"{ADMIN}/claims/{a1}/history", headers=admin).get_json()
    assert history["claimId"] == a1 and history["userId"] == "alice"
    names = [e["event"] for e in history["events"]]
    assert names == [
        "claim_submitted",
        "admin_claim_submitted",
        "claim_under_review",
        "claim_status_changed",
    ]
    assert all(e["data"]["claimId"] == a1 for e in history["events"])
    assert [e["seq"] for e in history["events"]] == sorted(e["seq"] for e in history["events"])
    other = client.get(f"{ADMIN}/claims/{b1}/history", headers=admin).get_json()
    assert {e["data"]["claimId"] for e in other["events"]} == {b1}
    assert client.get(f"{ADMIN}/claims/nope/history", headers=admin).status_code == 404


def test_denial_codes_are_the_rules(client, auth):
    body = client.get(f"{ADMIN}/denial-codes", headers=auth("root", admin=True)).get_json()
    codes = {d["code"]: d for d in body["denialCodes"]}
    assert len(codes) == 12
    assert codes["D005"] == {
        "code": "D005",
        "reason": "Ticket photo missing or illegible",
        "appealable": True,
    }
    assert codes["D008"]["appealable"] is False


def test_new_routes_need_the_admin_role(client, auth):
    for path in ("/claims/counts", "/denial-codes", "/claims/x/history"):
        assert client.get(ADMIN + path, headers=auth("alice")).status_code == 403
        assert client.get(ADMIN + path).status_code == 401


def test_new_routes_are_in_the_openapi_document(client):
    paths = client.get("/shield/v1/openapi.json").get_json()["paths"]
    for path in ("/shield/v1/admin/claims/counts", "/shield/v1/admin/denial-codes"):
        assert "get" in paths[path]
    assert "get" in paths["/shield/v1/admin/claims/{claim_id}/history"]


def test_console_is_served_with_a_strict_policy(client):
    page = client.get("/shield/admin/")
    assert page.status_code == 200
    assert b'<script type="module" src="main.js">' in page.data
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    script = client.get("/shield/admin/main.js")
    assert script.status_code == 200 and "javascript" in script.mimetype
    assert script.headers["Content-Security-Policy"] == policy
    assert client.get("/shield/admin/missing.js").status_code == 404
    assert client.get("/shield/admin/../app.py").status_code == 404
    page.close()
    script.close()
    assert client.get("/shield/admin").status_code in (301, 308)


def test_no_inline_script_or_foreign_host_in_the_files(app):
    from pathlib import Path

    from shield.console import STATIC_DIR

    for path in Path(STATIC_DIR).iterdir():
        # An SVG names its XML namespace with a URI; that is not a resource anyone loads.
        text = path.read_text().replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "http://" not in text and "https://" not in text, path.name
        if path.suffix == ".html":
            assert "<script>" not in text and " on" + "click=" not in text


def test_member_wallet_statement_and_devices_for_admins(app, client, auth):
    with app.app_context():
        subscribe("alice")
        db.session.remove()
    admin = auth("root", admin=True)
    claim_id = _submit(client, auth, "alice", amount=90)
    for action in ("approve", "pay"):
        response = client.post(
            f"{ADMIN}/claims/{claim_id}/{action}", headers={**admin, "Idempotency-Key": action}
        )
        assert response.status_code == 200
    token = "device-token-" + "x" * 40 + "LAST5678"
    assert (
        client.post(
            "/shield/v1/devices",
            json={"token": token, "platform": "ios"},
            headers=auth("alice"),
        ).status_code
        == 201
    )

    wallet = client.get(f"{ADMIN}/members/alice/wallet", headers=admin).get_json()
    mine = client.get("/shield/v1/wallet", headers=auth("alice")).get_json()
    assert wallet == mine and float(wallet["balance"]) > 0
    statement = client.get(f"{ADMIN}/members/alice/wallet/transactions", headers=admin).get_json()
    assert [t["type"] for t in statement["transactions"]] == ["payout"]
    assert statement["transactions"][0]["claimId"] == claim_id
    bad = client.get(f"{ADMIN}/members/alice/wallet/transactions?before=nope", headers=admin)
    assert bad.status_code == 400
    assert (
        client.get(f"{ADMIN}/members/bob/wallet/transactions", headers=admin).get_json()[
            "transactions"
        ]
        == []
    )

    devices = client.get(f"{ADMIN}/members/alice/devices", headers=admin)
    assert [d["tokenSuffix"] for d in devices.get_json()["devices"]] == ["LAST5678"]
    assert token.encode() not in devices.data
    for path in ("/members/alice/wallet", "/members/alice/devices"):
        assert client.get(ADMIN + path, headers=auth("alice")).status_code == 403


def test_demo_tokens_print_a_console_link(app):
    from urllib.parse import urlsplit

    result = app.test_cli_runner().invoke(args=["shield", "demo-tokens"])
    assert result.exit_code == 0, result.output
    link = next(line.strip() for line in result.output.splitlines() if "/shield/admin/" in line)
    parts = urlsplit(link)
    assert parts.path == "/shield/admin/" and parts.query == ""
    admin_token = next(
        line.split("=", 1)[1] for line in result.output.splitlines() if "ADMIN_TOKEN=" in line
    )
    assert parts.fragment == f"token={admin_token}"
    response = app.test_client().get(
        f"{ADMIN}/claims/counts", headers={"Authorization": f"Bearer {admin_token}"}
    )
    assert response.status_code == 200
