"""Log format (SHIELD_LOG_FORMAT=text|json), request ids, and the scrubbing of secrets.

`json`: one JSON object per line with time, level, logger, message and, inside a request,
request_id, member_id (once authenticated), route (the URL rule, never the path's ids) and
method; the access lines (logger `shield.access`) add status and duration_ms. Every line,
text or JSON, goes through `scrub`, which blanks bearer tokens, JWTs, long opaque tokens
(FCM registration tokens) and long digit runs (bank numbers), whatever code logged them.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import secrets
import sys
from datetime import UTC, datetime

from flask import g, has_request_context, request

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

_SECRETS = [
    (re.compile(r"(?i)\bbearer\s+[^\s,;\"']+"), "Bearer [redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[jwt]"),
    (re.compile(r"[A-Za-z0-9_:\-]{64,}"), "[token]"),
    (re.compile(r"(?<![\w.])\d{5,15}(\d{4})(?![\w.])"), r"[number ending \1]"),
]


def scrub(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


# --- request ids -----------------------------------------------------------------------------

_prefix = secrets.token_hex(4)
_counter = itertools.count(1)


def _forked() -> None:
    global _prefix, _counter
    _prefix, _counter = secrets.token_hex(4), itertools.count(1)


os.register_at_fork(after_in_child=_forked)


def new_request_id() -> str:
    """Unique per process (random prefix) and cheap (a counter): no syscall per request."""
    return f"{_prefix}-{next(_counter):x}"


def request_id(incoming: str | None) -> str:
    """The client's X-Request-ID when it is a plausible id (<= 64 safe characters), else a
    new one: a header is never logged as it came (it could hold anything)."""
    if incoming and _VALID_REQUEST_ID.fullmatch(incoming):
        return incoming
    return new_request_id()


# --- formatters ------------------------------------------------------------------------------


def request_fields() -> dict:
    if not has_request_context():
        return {}
    fields = {"request_id": g.get("request_id"), "method": request.method}
    rule = request.url_rule
    if rule is not None:
        fields["route"] = rule.rule
    principal = g.get("principal")
    if principal is not None:
        fields["member_id"] = principal.id
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        entry.update(request_fields())
        for name in ("request_id", "member_id", "route", "method", "status", "duration_ms"):
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = scrub(record.exc_text)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def configure(config) -> None:
    """Like logging.basicConfig (nothing is added when the root logger already has handlers,
    as under pytest), with the format SHIELD_LOG_FORMAT names; a later call changes it."""
    name = (config.get("SHIELD_LOG_FORMAT") or "text").strip().lower()
    if name not in FORMATS:
        from shield.config import ConfigError

        raise ConfigError(f"SHIELD_LOG_FORMAT={name!r} is not known: use text or json")
    formatter = JsonFormatter() if name == "json" else TextFormatter(TEXT_FORMAT)
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "shield", False)]
    if ours:
        ours[0].setFormatter(formatter)
    elif not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.shield = True
        handler.setFormatter(formatter)
        root.addHandler(handler)
        root.setLevel((config.get("SHIELD_LOG_LEVEL") or "INFO").upper())
