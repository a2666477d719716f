"""A live server thread on the test app and headless Debian Chromium driven by Playwright.

No browser is downloaded: Playwright launches /usr/bin/chromium. In CI a missing Chromium or
Playwright fails the run instead of skipping.
"""

from __future__ import annotations

import os
import threading
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from tests.conftest import IN_CI

CHROMIUM = os.environ.get("SHIELD_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing(message: str):
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def live_server(app):
    """The test app served on a free port by a threaded WSGI server; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _missing(f"Playwright is not installed: {exc}")
    if not os.path.exists(CHROMIUM):
        _missing(f"Chromium is missing at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser):
    """Make pages for an origin: every request is logged; any request to another origin is
    aborted and recorded in `page.foreign_requests`; WebSockets are recorded in
    `page.websockets` (and in `foreign_requests` when not to the same host and port)."""
    contexts = []

    def make(base_url: str):
        context = browser.new_context()
        contexts.append(context)
        origin = urlsplit(base_url)
        foreign: list[str] = []
        seen: list[str] = []

        def gate(route):
            url = urlsplit(route.request.url)
            seen.append(route.request.url)
            if (url.scheme, url.netloc) != (origin.scheme, origin.netloc):
                foreign.append(route.request.url)
                route.abort()
                return
            route.continue_()

        def socket_opened(ws):
            page.websockets.append(ws)
            url = urlsplit(ws.url)
            same_scheme = {"http": "ws", "https": "wss"}[origin.scheme]
            if (url.scheme, url.netloc) != (same_scheme, origin.netloc):
                foreign.append(ws.url)

        context.route("**/*", gate)
        page = context.new_page()
        page.foreign_requests = foreign
        page.all_requests = seen
        page.websockets = []
        page.console_errors = []
        page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
        page.on("websocket", socket_opened)
        page.set_default_timeout(10_000)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page, live_server):
    """A page on the live server (no socket there: the console polls the feed)."""
    return open_page(live_server)
