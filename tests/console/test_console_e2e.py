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
from tests.console.steps import (
    POLL_SECONDS,
    api,
    approve_and_pay,
    claim_status,
    console_on_new_claim,
    open_console,
    submit,
)
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
    assert claim_status(app, claim["claimId"]) == "approved"
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


def test_a_stale_claim_gets_the_refusal_in_words_and_is_refreshed(app, live_server, page, token):
    """Only the actions the shown status allows are enabled; when another admin acted first,
    the click gets the 409 in words, changes nothing, and the page shows the claim as it is."""
    admin = {"Authorization": f"Bearer {token('other-admin', admin=True)}"}
    claim = console_on_new_claim(app, live_server, page, token, "bob", "BAD-0001")
    expect(page.locator("#claim-title")).to_contain_text("submitted")
    expect(page.get_by_role("button", name="Pay")).to_be_disabled()
    approve = page.get_by_role("button", name="Approve")
    expect(approve).to_be_enabled()

    approve_and_pay(live_server, admin, claim["claimId"])  # another admin, behind our back
    approve.click()
    message = page.locator("#action-message")
    expect(message).to_contain_text("Not done: the claim is not in a state that allows this.")
    expect(message).to_have_attribute("data-kind", "error")
    expect(page.locator("#claim-title")).to_contain_text("paid")  # refreshed
    expect(approve).to_be_disabled()
    expect(page.get_by_role("button", name="Request proof")).to_be_enabled()
    assert claim_status(app, claim["claimId"]) == "paid"
    events = api("GET", live_server, f"/admin/claims/{claim['claimId']}/history", admin).json()
    assert [e["event"] for e in events["events"]].count("claim_approved") == 1
    assert page.foreign_requests == []


def test_a_refused_request_is_shown_in_words_and_changes_nothing(app, live_server, page, token):
    claim = console_on_new_claim(app, live_server, page, token, "bea", "UNK-1")
    # A code the server does not know (a stale list): the API answers 422.
    page.locator("#deny-code").evaluate(
        "(s) => { s.append(new Option('D999 — gone', 'D999')); s.value = 'D999'; }"
    )
    page.get_by_role("button", name="Deny", exact=True).click()
    message = page.locator("#action-message")
    expect(message).to_contain_text("Not done: the request was refused.")
    expect(message).to_have_attribute("data-kind", "error")
    expect(page.locator("#claim-title")).to_contain_text("submitted")
    assert claim_status(app, claim["claimId"]) == "submitted"


def test_deny_with_a_code_from_the_rules(app, live_server, page, token):
    claim = console_on_new_claim(app, live_server, page, token, "carol", "DNY-1")
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
    page.get_by_label("Admin token (JWT)").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#login-message")).to_have_text(
        "That token is expired or not valid. Paste a fresh admin token."
    )


def _tab_to(page, selector: str, limit: int = 40) -> None:
    """Press Tab until the element matching `selector` has the focus."""
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def test_keyboard_only_review_and_deny_with_every_control_labelled(app, live_server, page, token):
    with app.app_context():
        subscribe("kit")
    claim = submit(live_server, {"Authorization": f"Bearer {token('kit')}"}, ticketNumber="KEY-1")
    open_console(page, live_server, token("root", admin=True))
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll("input, select, button")]
          .filter((c) => !(c.labels && c.labels.length) && !c.textContent.trim()
                         && !c.getAttribute("aria-label"))
          .map((c) => c.outerHTML)"""
    )
    assert unlabelled == []

    _tab_to(page, f"#queue-body tr[data-claim-id='{claim['claimId']}'] button")
    page.keyboard.press("Enter")
    expect(page.locator("#claim-title")).to_be_focused()
    _tab_to(page, "#act-review")
    page.keyboard.press("Enter")
    expect(page.locator("#claim-title")).to_contain_text("under review")
    expect(page.locator("#act-approve")).to_be_focused()  # focus goes on to the next action
    _tab_to(page, "#deny-code")
    last_code = page.locator("#deny-code option").last.get_attribute("value")
    page.keyboard.press("End")  # the last code
    expect(page.locator("#deny-code")).to_have_value(last_code)
    expect(page.locator("#deny-code-help")).not_to_be_empty()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Decision notes")).to_be_focused()
    page.keyboard.type("duplicate of an earlier ticket")
    page.keyboard.press("Enter")  # submits the Deny form
    expect(page.locator("#claim-title")).to_contain_text("denied")
    assert claim_status(app, claim["claimId"]) == "denied"
    expect(page.locator("#claim-fields")).to_contain_text(last_code)
    assert page.console_errors == []
