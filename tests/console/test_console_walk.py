"""The console tried as a new admin would: `make run`, open the link it prints, and with the
mouse only (no keyboard, no typed URL) watch a member's new claim arrive without a reload and
work it from submitted through Start review, Approve and Pay."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests.console.steps import POLL_SECONDS, bearer, submit
from tests.processes import process_env

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"^\s+(http://\S+/shield/admin/#token=\S+)$", re.M)
MEMBER_TOKEN = re.compile(r"export MEMBER_TOKEN=(\S+)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def make_run(tmp_path):
    """`make run` on a free port and a SQLite file of its own, as a developer starts it; yields
    its printed output once the server answers."""
    port = _free_port()
    env = process_env(f"sqlite:///{tmp_path / 'shield.sqlite3'}")
    env["SHIELD_ENV"] = "development"  # what make run defaults to
    log_path = tmp_path / "make-run.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: make, flask and the server
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "make run stopped:\n" + log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "make run did not serve:\n" + log_path.read_text()
            try:
                if requests.get(f"http://127.0.0.1:{port}/shield/admin/", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        yield log_path.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def test_a_new_admin_works_a_claim_to_paid_with_the_mouse(make_run, open_page):
    link = LINK.search(make_run).group(1)
    base = link.split("/shield/admin/")[0]
    member = bearer(MEMBER_TOKEN.search(make_run).group(1))
    page = open_page(base)
    page.goto(link)
    expect(page.locator("#who")).to_contain_text("demo-admin")
    expect(page.locator("#live-status")).to_contain_text("Live")
    assert "token=" not in page.url
    expect(page.locator("#counts [data-status='submitted'] .count")).to_have_text("3")  # seeded

    claim = submit(base, member, ticketNumber="NEW-4242", amount=80, city="Austin", state="TX")
    row = page.locator(f"#queue-body tr[data-claim-id='{claim['claimId']}']")
    expect(row).to_be_visible(timeout=(POLL_SECONDS + 1.5) * 1000)  # no reload
    expect(row.locator(".badge")).to_have_text("new")
    expect(page.locator("#queue-news")).to_contain_text("New claim NEW-4242 ($80)")
    expect(page.locator("#counts [data-status='submitted'] .count")).to_have_text("4")

    row.get_by_role("button", name="NEW-4242").click()
    title = page.locator("#claim-title")
    expect(title).to_have_text("Claim NEW-4242 (submitted)")
    expect(page.locator("#claim-plan")).to_contain_text("pro")
    expect(page.locator("#claim-plan")).to_contain_text("$600")  # the pro plan's annual cap
    remaining_before = _dd(page, "#claim-plan", "Coverage remaining")
    expect(page.locator("#claim-next")).to_contain_text("Start review")
    expect(page.get_by_role("button", name="Pay")).to_be_disabled()

    steps = [
        ("Start review", "under review", "Approve or Deny"),
        ("Approve", "approved", "Pay"),
        ("Pay", "paid", "request proof"),
    ]
    for button, status, next_hint in steps:
        page.get_by_role("button", name=button, exact=True).click()
        expect(page.locator("#action-message")).to_have_text(
            f"Done: claim NEW-4242 is now {status}."
        )
        expect(title).to_have_text(f"Claim NEW-4242 ({status})")
        expect(page.locator("#claim-next")).to_contain_text(next_hint)
        expect(page.get_by_role("button", name=button, exact=True)).to_be_disabled()

    # $80 on pro: $10 deductible, $70 paid, and the coverage shown moves by as much.
    expect(page.locator("#claim-fields")).to_contain_text("$70")
    remaining_after = _dd(page, "#claim-plan", "Coverage remaining")
    assert float(remaining_before.strip("$")) - float(remaining_after.strip("$")) == 70
    mine = requests.get(f"{base}/shield/v1/claims", headers=member, timeout=10).json()["claims"]
    assert {c["claimId"]: c["status"] for c in mine}[claim["claimId"]] == "paid"

    page.get_by_role("button", name="Back to queue").click()
    expect(row).to_contain_text("paid")
    expect(row.locator(".badge")).to_have_count(0)  # opened: no longer new
    assert page.foreign_requests == []
    assert page.console_errors == []


def _dd(page, dl: str, term: str) -> str:
    return (
        page.locator(f"{dl} dt", has_text=term)
        .locator("xpath=following-sibling::dd[1]")
        .inner_text()
    )
