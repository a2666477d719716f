"""SHIELD_LOG_FORMAT=json: one JSON object per line with the request's fields, and no bearer
token, push token or bank number in any line, whoever logged it."""

from __future__ import annotations

import io
import json
import logging
from contextlib import contextmanager
from datetime import timedelta

import pytest

from models import utcnow
from shield.ops import logs
from tests.review.helpers import API, key, paid_claim

PUSH_TOKEN = "fcmTok_" + "Zq9" * 50
BANK_NUMBER = "123456781234"


@contextmanager
def json_lines():
    """The root logger's records, formatted by the JSON formatter, as parsed lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    lines: list[dict] = []
    try:
        yield lines, stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        text = stream.getvalue()
        lines.extend(json.loads(line) for line in text.splitlines())


@pytest.fixture
def json_app(make_app):
    app = make_app(SHIELD_LOG_FORMAT="json")
    from tests.conftest import _truncate

    with app.app_context():
        _truncate()
    return app


def test_access_lines_carry_the_request_fields(json_app, token):
    client = json_app.test_client()
    jwt = token("alice")
    with json_lines() as (lines, _):
        r = client.post(
            f"{API}/devices",
            json={"token": PUSH_TOKEN, "platform": "android"},
            headers={"Authorization": f"Bearer {jwt}", "X-Request-ID": "req-42"},
        )
        assert r.status_code == 201
        assert r.headers["X-Request-ID"] == "req-42"
        client.get("/healthz")
    access = [e for e in lines if e["logger"] == "shield.access"]
    device = next(e for e in access if e.get("route") == "/shield/v1/devices")
    assert device["request_id"] == "req-42"
    assert device["member_id"] == "alice"
    assert device["method"] == "POST" and device["status"] == 201
    assert device["duration_ms"] >= 0 and device["level"] == "INFO"
    assert {"time", "level", "logger", "message"} <= set(device)
    probe = next(e for e in access if e.get("route") == "/healthz")
    assert probe["level"] == "DEBUG"  # probes are counted, not logged at INFO


def test_no_secret_reaches_a_json_line(json_app, token, auth):
    client = json_app.test_client()
    jwt = token("alice")
    headers = {"Authorization": f"Bearer {jwt}"}
    with json_lines() as (lines, stream):
        r = client.post(
            f"{API}/devices", json={"token": PUSH_TOKEN, "platform": "android"}, headers=headers
        )
        assert r.status_code == 201
        paid_claim(json_app, client, auth, "alice", 80)
        with json_app.app_context():
            from jobs.push import dispatch_push
            from jobs.withdrawals import process_withdrawals

            dispatch_push()
            r = client.post(
                f"{API}/wallet/withdrawals",
                json={"amount": 5, "bankAccountLastFour": BANK_NUMBER},
                headers={**headers, "Idempotency-Key": key()},
            )
            assert r.status_code == 422
            r = client.post(
                f"{API}/wallet/withdrawals",
                json={"amount": 5, "bankAccountLastFour": "1234"},
                headers={**headers, "Idempotency-Key": key()},
            )
            assert r.status_code == 201
            process_withdrawals(now=utcnow() + timedelta(days=3))
        client.get(f"{API}/claims", headers={"Authorization": "Bearer " + jwt + "x"})
        client.get("/healthz", headers={"X-Request-ID": jwt})  # not echoed, not logged
        # Code that logs a secret by mistake: the formatter blanks it.
        careless = logging.getLogger("shield.careless")
        careless.warning("header was Bearer %s for %s", jwt, PUSH_TOKEN)
        careless.warning("account %s", BANK_NUMBER)
        try:
            raise RuntimeError(f"bad token {jwt}")
        except RuntimeError:
            careless.exception("failed")
    text = stream.getvalue()
    assert len(lines) == len(text.splitlines()) > 10  # every line is one JSON object
    assert any(e["logger"] == "shield.careless" for e in lines)
    for secret in (jwt, jwt.split(".")[2], PUSH_TOKEN, PUSH_TOKEN[:-6], BANK_NUMBER):
        assert secret not in text
    assert "[number ending 1234]" in text


def test_an_unknown_log_format_refuses_to_start(make_app):
    from shield.config import ConfigError

    with pytest.raises(ConfigError, match="SHIELD_LOG_FORMAT"):
        make_app(SHIELD_LOG_FORMAT="yaml")
