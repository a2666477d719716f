"""The admin console: static HTML, CSS and JavaScript modules at /shield/admin/.

The page is a client of the public REST API only (it holds no secret but the admin token the
person pastes in). Every response carries a Content-Security-Policy that allows nothing from
another host and no inline script.
"""

from __future__ import annotations

import os

from flask import Blueprint, send_from_directory

CONSOLE_PREFIX = "/shield/admin"
STATIC_DIR = os.path.join(os.path.dirname(__file__), "static")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

bp = Blueprint("console", __name__, url_prefix=CONSOLE_PREFIX)


@bp.after_request
def _security_headers(response):
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/")
def index():
    return send_from_directory(STATIC_DIR, "index.html")


@bp.get("/<path:filename>")
def asset(filename: str):
    return send_from_directory(STATIC_DIR, filename)


def console_link(base_url: str, token: str) -> str:
    """A link that opens the console signed in (the token travels in the fragment only)."""
    return f"{base_url.rstrip('/')}{CONSOLE_PREFIX}/#token={token}"
