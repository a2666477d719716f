"""The admin console in a real browser against a real server: a claim submitted through the
API reaches the open queue by the event feed, is approved with a click, and the member's poll
sees it; double clicks act once, invalid transitions are shown in words, nothing leaves the
origin."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import requests
from playwright.sync_api import expect

from models import Claim, db
from tests.console.steps import POLL_SECONDS, open_console, submit
from tests.factories import subscribe

# The run's screenshot goes to pytest's temporary directory; SHIELD_UPDATE_SCREENSHOT=1 writes it
# over docs/console.png instead (the picture docs/console.md shows), so a plain run leaves the
# tree clean.
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "console.png"


def test_submitted_claim_arrives_live_and_is_approved_once(app, live_server, page, token, tmp_path):
    with app.app_context():
        subscribe("alice", "pro")
    member = {"Authorization": f"Bearer {token('alice')}"}
    admin_token = token("root", admin=True)
    open_console(page, live_server, admin_token)
    assert "token=" not in page.url  # read from the fragment, then removed
    # This server has no socket (/shield/ws is a 404): the console polls the feed.
    expect(page.locator("#live-status")).to_have_attribute("data-transport", "poll")
    assert page.evaluate("sessionStorage.getItem('shield.adminToken')") == admin_token

    first = requests.get(f"{live_server}/shield/v1/claims", headers=member, timeout=10)
    etag = first.headers["ETag"]

    claim = submit(live_server, member, ticketNumber="LIVE-0001")
    started = time.monotonic()
    row = page.locator(f"#queue-body tr[data-claim-id='{claim['claimId']}']")
    expect(row).to_be_visible(timeout=(POLL_SECONDS + 1.5) * 1000)
    assert time.monotonic() - started <= POLL_SECONDS + 1.5
    expect(page.locator("#counts [data-status='submitted'] .count")).to_have_text("1")

    # Keyboard only: Tab to the ticket's button and press Enter.
    row.get_by_role("button", name="LIVE-0001").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#claim-title")).to_contain_text("LIVE-0001")
    expect(page.locator("#claim-plan")).to_contain_text("pro")
    expect(page.locator("#claim-history")).to_contain_text("claim_submitted")

    approve_requests = []
    page.on(
        "request",
        lambda r: (
            approve_requests.append(r.headers.get("idempotency-key"))
            if r.url.endswith("/approve")
            else None
        ),
    )
    page.get_by_role("button", name="Approve").dblclick()
    expect(page.locator("#action-message")).to_contain_text("is now approved")
    expect(page.locator("#claim-title")).to_contain_text("approved")
    assert len(approve_requests) == 1 and approve_requests[0]
    with app.app_context():
        approved = db.session.get(Claim, claim["claimId"])
        assert approved.status == "approved"
        db.session.remove()
    history = requests.get(
        f"{live_server}/shield/v1/admin/claims/{claim['claimId']}/history",
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=10,
    ).json()
    assert [e["event"] for e in history["events"]].count("claim_approved") == 1

    polled = requests.get(
        f"{live_server}/shield/v1/claims", headers={**member, "If-None-Match": etag}, timeout=10
    )
    assert polled.status_code == 200
    mine = {c["claimId"]: c for c in polled.json()["claims"]}
    assert mine[claim["claimId"]]["status"] == "approved"

    update = os.environ.get("SHIELD_UPDATE_SCREENSHOT") == "1"
    screenshot = DOCS_SCREENSHOT if update else tmp_path / "console.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    assert page.foreign_requests == []
    assert page.all_requests and all(u.startswith(live_server) for u in page.all_requests)
    assert page.console_errors == []


def test_invalid_transition_is_shown_in_words_and_changes_nothing(app, live_server, page, token):
    with app.app_context():
        subscribe("bob")
    member = {"Authorization": f"Bearer {token('bob')}"}
    claim = submit(live_server, member, ticketNumber="BAD-0001")
    open_console(page, live_server, token("root", admin=True))
    page.get_by_role("button", name="BAD-0001").click()
    expect(page.locator("#claim-title")).to_contain_text("submitted")
    pay = page.get_by_role("button", name="Pay")
    pay.click()
    message = page.locator("#action-message")
    expect(message).to_contain_text("Not done")
    expect(message).to_have_attribute("data-kind", "error")
    expect(pay).to_be_enabled()
    with app.app_context():
        assert db.session.get(Claim, claim["claimId"]).status == "submitted"
        db.session.remove()
    assert page.foreign_requests == []


def test_deny_with_a_code_from_the_rules(app, live_server, page, token):
    with app.app_context():
        subscribe("carol")
    claim = submit(live_server, {"Authorization": f"Bearer {token('carol')}"}, ticketNumber="DNY-1")
    open_console(page, live_server, token("root", admin=True))
    page.get_by_role("button", name="DNY-1").click()
    page.get_by_label("Denial code").select_option("D005")
    expect(page.locator("#deny-code-help")).to_contain_text("Appealable")
    page.get_by_label("Decision notes").fill("photo is blurred")
    page.get_by_role("button", name="Deny", exact=True).click()
    expect(page.locator("#claim-title")).to_contain_text("denied")
    expect(page.locator("#claim-fields")).to_contain_text("D005")
    with app.app_context():
        assert db.session.get(Claim, claim["claimId"]).denial_code == "D005"
        db.session.remove()


def test_member_and_expired_tokens_get_a_clear_message(live_server, page, token):
    page.goto(f"{live_server}/shield/admin/#token={token('alice')}")
    expect(page.locator("#login-message")).to_contain_text("member token")
    expect(page.locator("#app")).to_be_hidden()
    page.get_by_label("Admin token (JWT)").fill(
        token("root", admin=True, ttl=timedelta(seconds=-60))
    )
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#login-message")).to_contain_text("expired")
    assert page.evaluate("sessionStorage.getItem('shield.adminToken')") is None
