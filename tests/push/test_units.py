"""Pure pieces: classifying FCM answers, Retry-After, message building, settings, backoff."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from shield.push import results as r
from shield.push.fcm import GOOGLE_ENDPOINT_BASE, endpoint_base
from shield.push.messages import PayloadTooLarge, build_message, collapse_key, mask_token
from shield.push.reactions import backoff
from shield.push.settings import PushSettings
from tests.fakes import fcm_server as F


def _classify(reply: F.Reply) -> r.SendResult:
    return r.classify(reply.status, json.dumps(reply.body), reply.headers)


@pytest.mark.parametrize(
    ("reply", "kind", "code"),
    [
        (F.UNREGISTERED(), r.TOKEN_DEAD, "UNREGISTERED"),
        (F.INVALID_TOKEN(), r.TOKEN_DEAD, "INVALID_ARGUMENT"),
        (F.INVALID_PAYLOAD(), r.PAYLOAD_REJECTED, "INVALID_ARGUMENT"),
        (F.SENDER_ID_MISMATCH(), r.TOKEN_DEAD, "SENDER_ID_MISMATCH"),
        (F.PERMISSION_DENIED(), r.RETRYABLE, "PERMISSION_DENIED"),
        (F.THIRD_PARTY_AUTH_ERROR(), r.THIRD_PARTY_AUTH, "THIRD_PARTY_AUTH_ERROR"),
        (F.QUOTA_EXCEEDED("7"), r.QUOTA, "QUOTA_EXCEEDED"),
        (F.UNAVAILABLE(), r.RETRYABLE, "UNAVAILABLE"),
        (F.INTERNAL(), r.RETRYABLE, "INTERNAL"),
        (F.ACCESS_TOKEN_EXPIRED(), r.RETRYABLE, "UNAUTHENTICATED"),
    ],
)
def test_classify_reads_fcms_error_code(reply, kind, code):
    result = _classify(reply)
    assert (result.kind, result.error_code, result.http_status) == (kind, code, reply.status)


def test_classify_copes_with_bodies_that_are_not_fcms():
    assert r.classify(502, "<html>bad gateway</html>", {}).kind == r.RETRYABLE
    # A 404 without FCM's errorCode is a wrong endpoint or a proxy: never the token's fault.
    assert r.classify(404, "", {}).kind == r.RETRYABLE
    assert r.classify(404, "<html>Not Found</html>", {}).kind == r.RETRYABLE
    assert (
        r.classify(200, '{"name": "projects/p/messages/1"}', {}).message_id
        == "projects/p/messages/1"
    )
    assert _classify(F.QUOTA_EXCEEDED("7")).retry_after == 7


def test_retry_after_as_seconds_or_http_date():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert r.parse_retry_after("120", now) == 120
    assert r.parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert r.parse_retry_after("garbage", now) is None
    assert r.parse_retry_after(None, now) is None
    assert r.parse_retry_after("-5", now) == 0


def _build(name="claim_approved", data=None, **kw):
    payload = {
        "event": name,
        "timestamp": "x",
        "data": data or {"claimId": "clm_1", "ticketNumber": "T-1"},
    }
    args = {
        "delivery_id": "dlv_1",
        "event_id": "evt_1",
        "seq": 7,
        "name": name,
        "payload": payload,
        "token": "abcdefghijkl",
        "platform": "ios",
        "round_": 0,
        "ttl_seconds": 3600,
        "now": datetime(2026, 1, 1, tzinfo=UTC),
    }
    args.update(kw)
    return build_message(**args)


def test_message_data_is_strings_only_and_small():
    message = _build()
    assert all(isinstance(v, str) for v in message.data.values())
    assert message.data["seq"] == "7"
    assert message.android["ttl"] == "3600s"
    assert message.apns["headers"]["apns-expiration"] == str(
        int(datetime(2026, 1, 1, 1, tzinfo=UTC).timestamp())
    )
    shown = message.describe()
    assert shown["token"] == "…ghijkl" and "abcdefghijkl" not in json.dumps(shown)


def test_an_oversized_data_payload_is_refused_before_sending():
    with pytest.raises(PayloadTooLarge):
        _build(data={"claimId": "c" * 5000})


def test_collapse_keys_fit_apns_limit():
    assert collapse_key("claim_paid", {"claimId": "clm_1"}) == "claim-clm_1"
    assert collapse_key("withdrawal_status_changed", {"withdrawalId": "wd_1"}) == "withdrawal-wd_1"
    long_key = collapse_key("claim_paid", {"claimId": "x" * 100})
    assert len(long_key.encode()) <= 64
    assert long_key == collapse_key("claim_paid", {"claimId": "x" * 100})
    assert mask_token("0123456789") == "…456789" and mask_token(None) is None


def test_settings_from_config_and_environment():
    settings = PushSettings.from_config(
        {"SHIELD_PUSH_BATCH": "7", "SHIELD_FCM_SERVICE_ACCOUNT": "/x.json"},
        env={"SHIELD_PUSH_REPUSH_MINUTES": "1,5", "SHIELD_PUSH_WORKER": "ON"},
    )
    assert settings.batch_size == 7 and settings.repush_minutes == (1, 5)
    assert settings.worker == "on" and settings.service_account == "/x.json"
    assert PushSettings.from_config({}, env={}).max_attempts == 5
    with pytest.raises(ValueError):
        PushSettings.from_config({"SHIELD_PUSH_TTL_SECONDS": 3_000_000}, env={})
    with pytest.raises(ValueError):
        PushSettings.from_config({"SHIELD_PUSH_WORKER": "sometimes"}, env={})


def test_endpoint_base_accepts_a_host_or_a_full_base():
    assert endpoint_base(None) == GOOGLE_ENDPOINT_BASE
    assert endpoint_base("http://127.0.0.1:9") == "http://127.0.0.1:9/v1/projects"
    assert endpoint_base("http://h/v1/projects/") == "http://h/v1/projects"


def test_backoff_grows_with_jitter_and_a_cap():
    for attempt, low in ((1, 10), (2, 20), (3, 40)):
        delays = [backoff(attempt, 10, 3600) for _ in range(50)]
        assert all(low <= d <= low * 1.5 for d in delays)
        assert len(set(delays)) > 1
    assert backoff(30, 10, 100) <= 150
