"""Reading request input: JSON bodies, pagination and idempotency keys."""

from __future__ import annotations

from flask import request

from .errors import ApiError

MAX_SQL_INT = 2**63 - 1


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
    if not _storable(data):
        raise ApiError(
            "The body contains characters that cannot be stored (NUL or an unpaired surrogate).",
            status=400,
        )
    return data


def storable_text(value: str) -> bool:
    """True when a database text column can hold `value` (no NUL, valid UTF-8)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, as JSON "\ud800" gives
        return False
    return True


def _storable(data) -> bool:
    if isinstance(data, str):
        return storable_text(data)
    if isinstance(data, dict):
        return all(storable_text(k) and _storable(v) for k, v in data.items())
    if isinstance(data, list):
        return all(_storable(v) for v in data)
    return True


def reject_unstorable_input() -> None:
    """Refuse path and query values no database column could hold (before any lookup)."""
    for value in (request.view_args or {}).values():
        if isinstance(value, str) and not storable_text(value):
            raise ApiError("Not found.", code="NOT_FOUND", status=404)
    if not request.environ.get("QUERY_STRING"):
        return  # the polls: nothing to parse
    for value in request.args.values():
        if not storable_text(value):
            raise ApiError(
                "A query parameter contains characters that cannot be stored.", status=400
            )


def int_arg(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    """Read an integer query parameter within bounds, or raise 400."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(f"Query parameter {name!r} must be an integer.", status=400) from None
    if maximum is None:
        maximum = MAX_SQL_INT  # what every database parameter can hold (OFFSET, ids, seqs)
    if value < minimum or value > maximum:
        bound = f"between {minimum} and {maximum}"
        raise ApiError(f"Query parameter {name!r} must be {bound}.", status=400)
    return value
