"""The `/shield/ws` route (Flask-Sock) and the checks made before the upgrade."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, request
from flask_sock import Sock

from shield.errors import error_response

from .protocol import NOT_AUTHORIZED
from .ws_session import SocketSession

PATH = "/shield/ws"

bp = Blueprint("realtime", __name__)
sock = Sock()


def origin_allowed(origin: str, host: str | None, allowed: tuple[str, ...]) -> bool:
    """An allow-listed origin ('*' = any); with no list, only the server's own origin."""
    origin = origin.strip().rstrip("/")
    if "*" in allowed or origin in allowed:
        return True
    if allowed:
        return False
    parts = urlsplit(origin)
    return bool(host) and parts.netloc.lower() == host.lower()


@bp.before_request
def _before_upgrade():
    """Refuse foreign browser origins before the handshake (native apps send no Origin)."""
    state = current_app.extensions["shield.realtime"]
    if not state.settings.compression:
        # simple-websocket accepts permessage-deflate whenever offered (~90 KB per socket).
        request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
    origin = request.headers.get("Origin")
    if origin is not None and not origin_allowed(
        origin, request.host, state.settings.allowed_origins
    ):
        return error_response(403, NOT_AUTHORIZED, "This origin may not open a Shield socket.")
    return None


@sock.route(PATH, bp=bp)
def socket_endpoint(ws):
    """Deliver the caller's events over a WebSocket (see shield/realtime/__init__.py)."""
    app = current_app._get_current_object()
    SocketSession(ws, app, app.extensions["shield.realtime"].get_hub()).run()
