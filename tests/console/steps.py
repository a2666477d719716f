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


def open_console(page, base: str, admin_token: str) -> None:
    page.goto(f"{base}/shield/admin/#token={admin_token}")
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#live-status")).to_contain_text("Live")
