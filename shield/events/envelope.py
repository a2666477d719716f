"""The spec envelope `{event, timestamp, data}` every channel carries."""

from __future__ import annotations

from datetime import datetime

from shield.wire import iso


def envelope(name: str, data: dict, now: datetime) -> dict:
    """Build the spec envelope; optional fields whose value is None are left out."""
    return {"event": name, "timestamp": iso(now), "data": _drop_none(data)}


def _drop_none(value):
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value
