"""Reading request input: JSON bodies, pagination and idempotency keys."""

from __future__ import annotations

import json
import re

from flask import request

from .errors import ApiError

MAX_SQL_INT = 2**63 - 1
# No body or frame the API takes nests deeper than a few levels; 32 leaves room and keeps
# every later walk over the value (hashing, storing, logging) far from Python's recursion limit.
MAX_JSON_DEPTH = 32
_INTEGER = re.compile(r"-?[0-9]+")


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
    data = parse_json(_body_bytes())
    if not isinstance(data, dict):
        raise ApiError("The body must be a JSON object.", status=400)
    return data


def _body_bytes() -> bytes:
    """The raw body; over MAX_CONTENT_LENGTH, 413 also for a chunked body of unknown length.

    Werkzeug reads a body without Content-Length only up to the limit and returns the cut
    text, which would read as invalid JSON; one more read tells whether there was more.
    """
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if limit is not None and len(raw) >= limit and request.content_length is None:
        request.stream.read(1)  # raises RequestEntityTooLarge (413) when the body went on
    return raw


def storable_text(value: str) -> bool:
    """True when a database text column can hold `value` (no NUL, valid UTF-8)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, as JSON "\ud800" gives
        return False
    return True


def parse_json(raw: bytes | str):
    """Decode a JSON body or frame, or raise 400: not JSON, too deep, or not storable text."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: thousands of levels
        raise ApiError("The body is not valid JSON.", status=400) from None
    problem = json_problem(value)
    if problem:
        raise ApiError(problem, status=400)
    return value


def json_problem(value) -> str | None:
    """What makes a decoded JSON value unacceptable, walking it without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not storable_text(item):
                return UNSTORABLE
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                return f"The body nests deeper than {MAX_JSON_DEPTH} levels."
            if isinstance(item, dict):
                for key, child in item.items():
                    if not storable_text(key):
                        return UNSTORABLE
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
    return None


UNSTORABLE = "The body contains characters that cannot be stored (NUL or an unpaired surrogate)."


def reject_unstorable_input() -> None:
    """Refuse path and query values no database column could hold (before any lookup)."""
    for value in (request.view_args or {}).values():
        if isinstance(value, str) and not storable_text(value):
            raise ApiError("Not found.", code="NOT_FOUND", status=404)
    if not request.environ.get("QUERY_STRING"):
        return  # the polls: nothing to parse
    for name, values in request.args.lists():
        if len(values) > 1:
            raise ApiError(f"Query parameter {name!r} is given more than once.", status=400)
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
    # ASCII digits only: int() would also take " 5", "1_000" and other scripts' digits.
    if not _INTEGER.fullmatch(raw):
        raise ApiError(f"Query parameter {name!r} must be an integer.", status=400)
    value = int(raw) if len(raw) <= 20 else MAX_SQL_INT + 1  # longer is out of every bound
    if maximum is None:
        maximum = MAX_SQL_INT  # what every database parameter can hold (OFFSET, ids, seqs)
    if value < minimum or value > maximum:
        bound = f"between {minimum} and {maximum}"
        raise ApiError(f"Query parameter {name!r} must be {bound}.", status=400)
    return value
