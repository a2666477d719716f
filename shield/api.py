"""Blueprint helpers shared by the feature APIs."""

from __future__ import annotations

from flask import Blueprint

from .auth import authenticate, require_admin
from .requests import reject_unstorable_input

API_PREFIX = "/shield/v1"


def _member_gate() -> None:
    authenticate()
    reject_unstorable_input()


def _admin_gate() -> None:
    require_admin()
    reject_unstorable_input()


# One before_request hook per blueprint, not two: Flask checks each hook for a coroutine on
# every request, a measurable share of the polling 304's cost.
def member_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint under /shield/v1 whose every route needs a valid bearer token."""
    bp = Blueprint(name, import_name, url_prefix=API_PREFIX)
    bp.before_request(_member_gate)
    return bp


def admin_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint under /shield/v1/admin whose every route needs the admin role."""
    bp = Blueprint(name, import_name, url_prefix=API_PREFIX + "/admin")
    bp.before_request(_admin_gate)
    return bp
