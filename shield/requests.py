"""Reading request input: JSON bodies, pagination and idempotency keys."""

from __future__ import annotations

from flask import request

from .errors import ApiError


def json_body(*, optional: bool = False) -> dict:
    """Return the JSON object body, or raise 400/415 with a clear message."""
    if optional and not request.content_length and not request.data:
        return {}
    if not request.is_json:
        raise ApiError(
            "The body must be JSON (Content-Type: application/json).",
            code="UNSUPPORTED_MEDIA_TYPE",
            status=415,
        )
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError("The body is not valid JSON.", status=400)
    if not isinstance(data, dict):
        raise ApiError("The body must be a JSON object.", status=400)
    return data


def int_arg(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    """Read an integer query parameter within bounds, or raise 400."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(f"Query parameter {name!r} must be an integer.", status=400) from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ApiError(f"Query parameter {name!r} must be {bound}.", status=400)
    return value
