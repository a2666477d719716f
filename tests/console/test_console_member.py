"""The console's member view: subscription changes, wallet statement, withdrawals completed by
hand, devices with masked tokens; each through the REST API, checked in the database."""

from __future__ import annotations

from playwright.sync_api import expect

from models import Subscription, Withdrawal, db
from tests.console.steps import api, approve_and_pay, bearer, open_console, submit
from tests.factories import subscribe

DEVICE_TOKEN = "fcm-token-abcdefghijklmnopqrstuvwxyz-0123456789-SECRETPART-tail1234"


def test_member_view_shows_and_changes_the_member(app, live_server, page, token):
    with app.app_context():
        subscribe("dana", "basic")
    member = bearer(token("dana"))
    admin = bearer(token("root", admin=True))
    claim = submit(live_server, member, amount=80)
    approve_and_pay(live_server, admin, claim["claimId"])
    assert (
        api("POST", live_server, "/devices", member, {"token": DEVICE_TOKEN, "platform": "android"})
    ).status_code == 201
    withdrawal = api(
        "POST",
        live_server,
        "/wallet/withdrawals",
        {**member, "Idempotency-Key": "w-1"},
        {"amount": 20, "bankAccountLastFour": "4321"},
    )
    assert withdrawal.status_code == 201, withdrawal.text
    withdrawal_id = withdrawal.json()["withdrawalId"]

    open_console(page, live_server, token("root", admin=True))
    page.get_by_role("button", name="Member").click()
    page.get_by_label("Member id", exact=True).fill("dana")
    page.get_by_label("Member id", exact=True).press("Enter")
    expect(page.locator("#member-subscription")).to_contain_text("basic")
    expect(page.locator("#member-transactions")).to_contain_text("payout")
    expect(page.locator("#member-balance")).to_contain_text("Balance $")
    devices = page.locator("#member-devices")
    expect(devices).to_contain_text("tail1234")
    assert "SECRETPART" not in page.content()

    row = page.locator("#member-withdrawals tr", has_text=withdrawal_id)
    row.get_by_role("button", name="Complete").click()
    expect(page.locator("#member-message")).to_contain_text("completed")
    expect(row).to_contain_text("completed")

    page.get_by_label("New plan").select_option("professional")
    page.get_by_role("button", name="Change plan").click()
    expect(page.locator("#member-message")).to_contain_text("Subscription changed")
    expect(page.locator("#member-subscription")).to_contain_text("professional")

    with app.app_context():
        assert db.session.get(Withdrawal, withdrawal_id).status == "completed"
        sub = db.session.query(Subscription).filter_by(member_id="dana").one()
        assert sub.plan_id == "professional"
        db.session.remove()
    assert page.foreign_requests == []
    assert page.console_errors == []
