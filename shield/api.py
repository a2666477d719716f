"""Blueprint helpers shared by the feature APIs."""

from __future__ import annotations

from flask import Blueprint

from .auth import authenticate, require_admin
from .requests import reject_unstorable_input

API_PREFIX = "/shield/v1"


def member_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint under /shield/v1 whose every route needs a valid bearer token."""
    bp = Blueprint(name, import_name, url_prefix=API_PREFIX)
    bp.before_request(lambda: (authenticate(), None)[1])
    bp.before_request(reject_unstorable_input)
    return bp


def admin_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint under /shield/v1/admin whose every route needs the admin role."""
    bp = Blueprint(name, import_name, url_prefix=API_PREFIX + "/admin")
    bp.before_request(lambda: (require_admin(), None)[1])
    bp.before_request(reject_unstorable_input)
    return bp
