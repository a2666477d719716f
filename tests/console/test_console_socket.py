"""The console on a real socket server (gunicorn, gevent worker, SHIELD_WS_ENABLED=1): admin
events arrive over the plain WebSocket, not the feed; when the socket is killed the console
polls the feed, and when it comes back it resumes from its lastSeq without missing or
repeating an event. The CSP lets exactly the same-origin socket through."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from models import db
from shield.events import outbox
from tests.console.steps import POLL_SECONDS, bearer, submit
from tests.factories import subscribe
from tests.realtime.conftest import Server, member_events

# The server reads the outbox every 0.2 s here (no LISTEN on SQLite). No feed request is made
# while the socket is open, so whatever arrives came over the socket; the bound is generous.
ARRIVAL_TIMEOUT_MS = 5000


@pytest.fixture
def ws_server(app, database_uri, tmp_path):
    """A gunicorn + gevent server with the socket addon, on the database `app` just emptied."""
    server = Server(database_uri, tmp_path / "gunicorn.log", SHIELD_WS_POLL_INTERVAL="0.2")
    server.wait_ready()
    yield server
    server.stop()


def _alert(app, message: str, claim_id: str | None = None) -> None:
    with app.app_context():
        data = {"type": "fraud_alert", "priority": "high", "message": message}
        if claim_id:
            data["claimId"] = claim_id
        outbox.record(db.session, "admin_action_required", data, member_id=None)
        db.session.commit()
        db.session.remove()


def _frames(page) -> tuple[list[dict], list[dict]]:
    """Every JSON frame the page's sockets sent and received so far."""
    sent, received = [], []
    for ws in page.websockets:
        sent.extend(ws.sent)
        received.extend(ws.received)
    return sent, received


def _record_frames(page) -> None:
    def opened(ws):
        ws.sent, ws.received = [], []
        ws.on("framesent", lambda payload: ws.sent.append(json.loads(payload)))
        ws.on("framereceived", lambda payload: ws.received.append(json.loads(payload)))

    page.on("websocket", opened)


def _wait_until(page, condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        page.wait_for_timeout(50)  # lets Playwright deliver the page's events meanwhile


def _feed_requests(page) -> list[str]:
    return [u for u in page.all_requests if "/shield/v1/events" in u]


def _open(page, server: Server, admin_token: str, transport: str) -> None:
    page.goto(f"{server.url}/shield/admin/#token={admin_token}")
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-transport", transport)
    expect(status).to_contain_text("Live")


def test_claims_and_alerts_arrive_over_the_socket(app, ws_server, open_page, token):
    with app.app_context():
        subscribe("sam", "pro")
    page = open_page(ws_server.url)
    _record_frames(page)
    page.clock.install()  # fake timers: the 30 s heartbeat is run forward below
    _open(page, ws_server, token("root", admin=True), "socket")
    assert len(page.websockets) == 1
    assert page.websockets[0].url == ws_server.ws_url  # no token (nor anything) in the URL
    sent, received = _frames(page)
    assert sent[0]["event"] == "auth" and sent[0]["data"]["token"]
    assert isinstance(sent[0]["data"]["lastSeq"], int)
    assert received[0]["event"] == "connected"

    polls_before = len(_feed_requests(page))
    claim = submit(ws_server.url, bearer(token("sam")), ticketNumber="SOCK-1")
    row = page.locator(f"#queue-body tr[data-claim-id='{claim['claimId']}']")
    expect(row).to_be_visible(timeout=ARRIVAL_TIMEOUT_MS)
    _alert(app, "card used in three states", claim["claimId"])
    expect(page.locator("#alert-count")).to_have_text("1", timeout=ARRIVAL_TIMEOUT_MS)

    _, received = _frames(page)
    arrived = {f["event"]: f for f in received if "seq" in f}
    assert arrived["admin_claim_submitted"]["data"]["claimId"] == claim["claimId"]
    assert arrived["admin_action_required"]["data"]["message"] == "card used in three states"
    assert len(_feed_requests(page)) == polls_before  # nothing came by polling

    # Heartbeat: a `ping` frame every 30 s, answered by the server's `pong`.
    page.clock.run_for(30_500)
    _wait_until(page, lambda: [f["event"] for f in _frames(page)[1]].count("pong") == 1)
    assert [f["event"] for f in _frames(page)[0]].count("ping") == 1
    assert page.foreign_requests == []
    assert page.console_errors == []


def test_the_csp_lets_only_the_same_origin_socket_through(app, ws_server, open_page, token):
    page = open_page(ws_server.url)
    _open(page, ws_server, token("root", admin=True), "socket")
    header = page.request.get(f"{ws_server.url}/shield/admin/").headers["content-security-policy"]
    assert "connect-src 'self'" in header
    blocked = page.evaluate(
        """(url) => new Promise((resolve) => {
          document.addEventListener("securitypolicyviolation",
            (e) => resolve(e.effectiveDirective + " " + e.blockedURI), { once: true });
          try { new WebSocket(url); } catch (error) { resolve("threw " + error.name); }
        })""",
        f"ws://localhost:{ws_server.port}/shield/ws",
    )
    assert blocked.startswith(("connect-src", "threw SecurityError")), blocked
    assert len(page.websockets) == 1  # the console's own, same origin
    assert page.foreign_requests == []


def test_a_killed_socket_falls_back_to_polling_and_resumes_from_last_seq(
    app, ws_server, open_page, token
):
    with app.app_context():
        subscribe("kim", "pro")
    page = open_page(ws_server.url)
    _record_frames(page)
    routes, refuse = [], {"socket": False, "feed": False}

    def route_socket(ws):
        if refuse["socket"]:
            ws.close(code=1011, reason="refused by the test")
            return
        upstream = ws.connect_to_server()
        routes.append((ws, upstream))

    def route_feed(route):
        if refuse["feed"]:
            route.abort()
        else:
            route.fallback()

    page.context.route_web_socket(re.compile(r"/shield/ws$"), route_socket)
    page.route(re.compile(r"/shield/v1/events"), route_feed)
    _open(page, ws_server, token("root", admin=True), "socket")

    # Kill the socket and refuse new ones: the console polls the feed at once.
    refuse["socket"] = True
    for ws, upstream in routes:
        upstream.close(code=1001, reason="killed")
        ws.close(code=1011, reason="killed")
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-transport", "poll", timeout=2000)
    expect(status).to_contain_text("dropped")
    polls_before = len(_feed_requests(page))
    claim = submit(ws_server.url, bearer(token("kim")), ticketNumber="POLL-1")
    row = page.locator(f"#queue-body tr[data-claim-id='{claim['claimId']}']")
    expect(row).to_be_visible(timeout=(POLL_SECONDS + 1.5) * 1000)
    assert len(_feed_requests(page)) > polls_before

    # An event the feed cannot bring (the feed is cut too), then the socket comes back:
    # it resumes from the page's lastSeq and the server replays the missed event, once.
    refuse["feed"] = True
    time.sleep(POLL_SECONDS + 0.5)  # any poll in flight has finished
    _alert(app, "missed while away", claim["claimId"])
    time.sleep(POLL_SECONDS)
    expect(page.locator("#alert-count")).to_have_text("0")
    admin_seqs = [
        seq for seq, _, name in member_events(app, "kim", admin=True) if name.startswith("admin_")
    ]
    submitted_seq, alert_seq = admin_seqs[-2], admin_seqs[-1]
    refuse["socket"] = False
    # Retries after a drop: 1, 2, 5, 10, then every 30 s (docs/console.md).
    expect(status).to_have_attribute("data-transport", "socket", timeout=40_000)
    expect(page.locator("#alert-count")).to_have_text("1")
    expect(page.locator("#alert-list")).to_contain_text("missed while away")
    resumed = page.websockets[-1]
    assert len(page.websockets) >= 2 and resumed.sent[0]["event"] == "auth"
    assert submitted_seq <= resumed.sent[0]["data"]["lastSeq"] < alert_seq
    replayed = [f for f in resumed.received if f.get("event") == "admin_action_required"]
    assert [f["seq"] for f in replayed] == [alert_seq]  # replayed once, handled once
    assert page.console_errors == []
    assert page.foreign_requests == []


def test_a_token_expiring_on_the_socket_signs_the_page_out_in_words(
    app, ws_server, open_page, token
):
    page = open_page(ws_server.url)
    _record_frames(page)
    _open(page, ws_server, token("root", admin=True, ttl=timedelta(seconds=4)), "socket")
    expect(page.locator("#login-message")).to_have_text(
        "Your token expired or was refused: paste a fresh admin token.", timeout=10_000
    )
    expect(page.locator("#app")).to_be_hidden()
    _, received = _frames(page)
    assert [f["data"]["code"] for f in received if f["event"] == "error"] == ["AUTH_EXPIRED"]
    assert page.evaluate("sessionStorage.getItem('shield.adminToken')") is None
    page.wait_for_timeout(1500)
    assert len(page.websockets) == 1  # no reconnect loop with a dead token
