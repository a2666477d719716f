"""What a send attempt came to, classified from FCM's own `errorCode` (not pyfcm's status map)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Kinds of result; the dispatcher maps each to one reaction (shield/push/dispatcher.py).
SENT = "sent"  # FCM accepted it
RECORDED = "recorded"  # the log backend recorded it (no credentials configured)
TOKEN_DEAD = "token_dead"  # noqa: S105 (not a secret) - UNREGISTERED, invalid registration token, SENDER_ID_MISMATCH
PAYLOAD_REJECTED = "payload_rejected"  # 400 about the message itself: our bug, never retried
THIRD_PARTY_AUTH = "third_party_auth"  # APNs (or web push) credentials rejected
QUOTA = "quota_exceeded"  # 429: retry no sooner than a minute
RETRYABLE = "retryable"  # 5xx, network, OAuth, our own credentials: backoff, bounded

# error_code of an OAuth token request the token endpoint refused (not retryable: a revoked key,
# a wrong token_uri); OAUTH is one that failed on the way (network, 5xx).
OAUTH_REFUSED = "OAUTH_REFUSED"

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"


@dataclass(frozen=True)
class SendResult:
    kind: str
    http_status: int | None = None
    error_code: str | None = None
    detail: str | None = None
    retry_after: float | None = None  # seconds, from the Retry-After header
    message_id: str | None = None

    @property
    def project_wide(self) -> bool:
        """Not about this token: FCM, OAuth, the network or our configuration failed.

        These feed the circuit breaker (shield/push/breaker.py) and never decide a token's
        fate or spend a delivery's retry budget during an outage."""
        return self.kind == RETRYABLE

    @property
    def config_fault(self) -> bool:
        """A fault a person must fix: a 401/403/404 without FCM's errorCode (wrong endpoint,
        a proxy's page, the API disabled, our credentials refused) or an OAuth refusal."""
        if self.kind != RETRYABLE:
            return False
        return self.http_status in (401, 403, 404) or self.error_code == OAUTH_REFUSED


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(int(value)))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _error_parts(body: str) -> tuple[str | None, str | None, str, list[str]]:
    """(FCM errorCode, google.rpc status, message, fields named by BadRequest violations)."""
    try:
        error = json.loads(body).get("error") or {}
    except (ValueError, AttributeError):
        return None, None, (body or "")[:300], []
    if not isinstance(error, dict):
        return None, None, str(error)[:300], []
    code = None
    fields: list[str] = []
    for detail in error.get("details") or []:
        if not isinstance(detail, dict):
            continue
        if detail.get("@type") == FCM_ERROR_TYPE and detail.get("errorCode"):
            code = str(detail["errorCode"])
        if detail.get("@type") == BAD_REQUEST_TYPE:
            fields += [
                str(v.get("field", ""))
                for v in detail.get("fieldViolations") or []
                if isinstance(v, dict)
            ]
    return code, error.get("status"), str(error.get("message", ""))[:300], fields


def _is_token_problem(message: str, fields: list[str]) -> bool:
    if any(f == "message.token" for f in fields):
        return True
    return "registration token" in message.lower()


def classify(status: int, body: str, headers: Mapping[str, str]) -> SendResult:
    """Turn an FCM HTTP v1 response into a SendResult."""
    retry_after = parse_retry_after(headers.get("Retry-After"))
    if status == 200:
        try:
            name = json.loads(body).get("name")
        except (ValueError, AttributeError):
            name = None
        return SendResult(SENT, 200, message_id=name)
    code, rpc_status, message, fields = _error_parts(body)
    key = code or rpc_status
    # A token's fate is decided only by FCM's own errorCode detail: a 404 from a wrong
    # endpoint or a proxy's HTML page says nothing about the device.
    if code in ("UNREGISTERED", "SENDER_ID_MISMATCH"):
        return SendResult(TOKEN_DEAD, status, code, message)
    if status == 404:
        return SendResult(RETRYABLE, status, key or "HTTP_404_NOT_FCM", message, retry_after)
    if status == 403:
        # PERMISSION_DENIED for the project (API disabled, missing role): not the token's fault.
        return SendResult(RETRYABLE, status, key or "PERMISSION_DENIED", message, retry_after)
    if status == 400:
        if code == "INVALID_ARGUMENT" and _is_token_problem(message, fields):
            return SendResult(
                TOKEN_DEAD,
                status,
                key or "INVALID_ARGUMENT",
                f"invalid registration token: {message}",
            )
        return SendResult(PAYLOAD_REJECTED, status, key or "INVALID_ARGUMENT", message)
    if status == 401:
        if code == "THIRD_PARTY_AUTH_ERROR":
            return SendResult(THIRD_PARTY_AUTH, status, code, message, retry_after)
        return SendResult(RETRYABLE, status, key or "UNAUTHENTICATED", message, retry_after)
    if status == 429 or code == "QUOTA_EXCEEDED":
        return SendResult(QUOTA, status, code or "QUOTA_EXCEEDED", message, retry_after)
    return SendResult(RETRYABLE, status, key or f"HTTP_{status}", message, retry_after)
