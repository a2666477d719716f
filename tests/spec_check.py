"""Check payloads field for field against the event spec (docs/spec/realtime-events.md).

The spec's TypeScript payload blocks are parsed into field tables; `check_envelope` then
verifies an event: every required field present, no field the spec does not name, and each
value of the declared type (string literals and unions checked by value).
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from pathlib import Path

SPEC = Path(__file__).resolve().parent.parent / "docs" / "spec" / "realtime-events.md"
CLAIM_STATUSES = {"submitted", "under_review", "approved", "paid", "denied"}


class Field:
    def __init__(self, optional: bool, kind):
        self.optional = optional
        self.kind = kind  # str type expression, or dict of nested fields


def _parse_object(text: str, pos: int) -> tuple[dict, int]:
    """Parse `{ name?: type; ... }` starting at text[pos] == '{'."""
    assert text[pos] == "{"
    pos += 1
    fields: dict[str, Field] = {}
    while True:
        match = re.compile(r"\s*(?://[^\n]*\s*)*").match(text, pos)
        pos = match.end()
        if text[pos] == "}":
            return fields, pos + 1
        m = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\??):\s*").match(text, pos)
        assert m, text[pos : pos + 60]
        name, optional = m.group(1), bool(m.group(2))
        pos = m.end()
        if text[pos] == "{":
            kind, pos = _parse_object(text, pos)
        else:
            end = text.index(";", pos)
            kind, pos = text[pos:end].strip(), end
        fields[name] = Field(optional, kind)
        pos = text.index(";", pos) + 1 if text[pos] == ";" else pos
        # skip a trailing comment on the same line
        m = re.compile(r"[ \t]*//[^\n]*").match(text, pos)
        if m:
            pos = m.end()


@cache
def spec_events() -> dict[str, dict]:
    """Return {event name: fields of its `data`} for every server event with an envelope."""
    text = SPEC.read_text()
    events: dict[str, dict] = {}
    for section in re.split(r"\n### ", text)[1:]:
        name = section.split("\n", 1)[0].strip()
        block = re.search(r"```typescript\n(.*?)```", section, re.S)
        if not block or "event:" not in block.group(1):
            continue
        body = block.group(1)
        top, _ = _parse_object(body, body.index("{"))
        events[name] = top["data"].kind
    return events


@cache
def connected_fields() -> dict:
    text = SPEC.read_text()
    section = text.split("\n### connected", 1)[1]
    body = re.search(r"```typescript\n(.*?)```", section, re.S).group(1)
    return _parse_object(body, body.index("{"))[0]


def _check_value(path: str, kind, value, errors: list[str]) -> None:
    if isinstance(kind, dict):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected object, got {value!r}")
            return
        check_fields(path, kind, value, errors)
        return
    options = [k.strip() for k in kind.split("|")]
    for option in options:
        if option == "string" and isinstance(value, str):
            if path.endswith(
                (
                    "At",
                    "Date",
                    "Timestamp",
                    "timestamp",
                    "Deadline",
                    "dueBy",
                    "periodStart",
                    "periodEnd",
                )
            ):
                _check_iso(path, value, errors)
            return
        if option == "number" and isinstance(value, int | float) and not isinstance(value, bool):
            if round(value, 2) != value:
                errors.append(f"{path}: money with more than two decimals: {value}")
            return
        if option == "boolean" and isinstance(value, bool):
            return
        if option in ("true", "false") and value is (option == "true"):
            return
        if option.startswith('"') and value == option.strip('"'):
            return
        if option == "ClaimStatus" and value in CLAIM_STATUSES:
            return
        if option.startswith("Record<") and isinstance(value, dict):
            return
    errors.append(f"{path}: {value!r} is not {kind}")


def _check_iso(path: str, value: str, errors: list[str]) -> None:
    if not value.endswith("Z"):
        errors.append(f"{path}: timestamp {value!r} is not UTC with Z")
        return
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        errors.append(f"{path}: {value!r} is not ISO 8601")


def check_fields(path: str, spec: dict, value: dict, errors: list[str]) -> None:
    for name, field in spec.items():
        if name not in value:
            if not field.optional:
                errors.append(f"{path}.{name}: required field missing")
            continue
        _check_value(f"{path}.{name}", field.kind, value[name], errors)
    for extra in set(value) - set(spec):
        errors.append(f"{path}.{extra}: not in the spec")


def check_envelope(message: dict, *, with_ids: bool = True) -> list[str]:
    """Return every way `message` differs from the spec (empty when it conforms)."""
    errors: list[str] = []
    name = message.get("event")
    events = spec_events()
    if name not in events:
        return [f"unknown event {name!r}"]
    expected_keys = {"event", "timestamp", "data"} | ({"id", "seq"} if with_ids else set())
    if set(message) != expected_keys:
        errors.append(f"envelope keys {sorted(message)} != {sorted(expected_keys)}")
    if not isinstance(message.get("timestamp"), str):
        errors.append("timestamp missing")
    else:
        _check_iso("timestamp", message["timestamp"], errors)
    if with_ids and (
        not isinstance(message.get("seq"), int) or not isinstance(message.get("id"), str)
    ):
        errors.append("id/seq missing or mistyped")
    check_fields(name, events[name], message.get("data") or {}, errors)
    return errors


def assert_conforms(message: dict, *, with_ids: bool = True) -> None:
    errors = check_envelope(message, with_ids=with_ids)
    assert not errors, f"{message.get('event')}: " + "; ".join(errors)
