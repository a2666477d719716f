"""Alerts reach the open console live, highest priority first, linked to their claim."""

from __future__ import annotations

from playwright.sync_api import expect

from models import db
from shield.events import outbox
from tests.console.steps import POLL_SECONDS, bearer, open_console, submit
from tests.factories import subscribe


def _alert(app, priority: str, claim_id: str, message: str) -> None:
    with app.app_context():
        outbox.record(
            db.session,
            "admin_action_required",
            {"type": "fraud_alert", "priority": priority, "claimId": claim_id, "message": message},
            member_id=None,
        )
        db.session.commit()
        db.session.remove()


def test_alerts_arrive_live_by_priority_and_open_their_claim(app, live_server, page, token):
    with app.app_context():
        subscribe("erin")
    claim = submit(live_server, bearer(token("erin")), ticketNumber="FRD-1")
    open_console(page, live_server, token("root", admin=True))
    _alert(app, "low", claim["claimId"], "low one")
    _alert(app, "high", claim["claimId"], "high one")
    count = page.locator("#alert-count")
    expect(count).to_have_text("2", timeout=(POLL_SECONDS + 1.5) * 1000)
    page.get_by_role("button", name="Alerts").click()
    items = page.locator("#alert-list li")
    expect(items.nth(0)).to_contain_text("high one")
    expect(items.nth(1)).to_contain_text("low one")
    items.nth(0).get_by_role("button", name="Open claim").click()
    expect(page.locator("#claim-title")).to_contain_text("FRD-1")
    assert page.foreign_requests == []
