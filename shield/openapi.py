"""TODO: OpenAPI document (being written)."""

from flask import Blueprint

bp = Blueprint("openapi", __name__, url_prefix="/shield/v1")
