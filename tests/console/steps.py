"""Steps shared by the console tests: API calls as a member or admin, opening the console."""

from __future__ import annotations

import requests
from playwright.sync_api import expect

from tests.factories import claim_body

POLL_SECONDS = 2.0  # feed.js POLL_MS
TIMEOUT = 10


def bearer(token: str, **headers) -> dict:
    return {"Authorization": f"Bearer {token}", **headers}


def api(method: str, base: str, path: str, headers: dict, body: dict | None = None):
    return requests.request(
        method, f"{base}/shield/v1{path}", json=body, headers=headers, timeout=TIMEOUT
    )


def submit(base: str, headers: dict, **overrides) -> dict:
    response = api("POST", base, "/claims", headers, claim_body(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


def approve_and_pay(base: str, admin_headers: dict, claim_id: str) -> None:
    """Approve and pay a claim through the admin API (another admin, or test set-up)."""
    for action in ("approve", "pay"):
        response = api(
            "POST",
            base,
            f"/admin/claims/{claim_id}/{action}",
            {**admin_headers, "Idempotency-Key": f"{claim_id}-{action}"},
        )
        assert response.status_code == 200, response.text


def claim_status(app, claim_id: str) -> str:
    """The claim's status in the database."""
    from models import Claim, db

    with app.app_context():
        try:
            return db.session.get(Claim, claim_id).status
        finally:
            db.session.remove()


def open_console(page, base: str, admin_token: str) -> None:
    page.goto(f"{base}/shield/admin/#token={admin_token}")
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#live-status")).to_contain_text("Live")


def console_on_new_claim(app, base: str, page, token, member_id: str, ticket: str) -> dict:
    """A subscribed member files a claim; the console opens on it. Returns the claim."""
    from tests.factories import subscribe

    with app.app_context():
        subscribe(member_id)
    claim = submit(base, bearer(token(member_id)), ticketNumber=ticket)
    open_console(page, base, token("root", admin=True))
    page.get_by_role("button", name=ticket).click()
    expect(page.locator("#claim-title")).to_contain_text(ticket)
    return claim
