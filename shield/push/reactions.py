"""What the dispatcher does with each send's result (FCM's documented error handling).

| result | delivery | device | retry |
|---|---|---|---|
| sent / recorded | sent | | |
| token_dead (UNREGISTERED, invalid token, SENDER_ID_MISMATCH) | failed | deactivated | no |
| payload_rejected (400 about the message) | failed, logged as a bug | kept | no |
| third_party_auth (401 THIRD_PARTY_AUTH_ERROR) | waits out the platform pause | kept | after it |
| quota_exceeded (429) | pending | kept | >= 60 s, or Retry-After if longer |
| retryable, this token only (others answered meanwhile) | pending | kept | backoff + jitter |
| retryable, for everyone (outage, OAuth, config) | pending, keeps its place | kept | breaker |
Only the first four rows and token-only retries spend the retry budget (`max_attempts`,
then failed); during an outage a delivery is given up only when its TTL passes (items.py).
Every delay counts from the answer that carried it (Retry-After included).
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import Device, PushDelivery
from models.delivery import CANCELLED, FAILED, PENDING

from . import results as r
from .items import Item
from .leases import finish
from .pauses import pause_platform
from .settings import PushSettings

log = logging.getLogger(__name__)

OUTCOMES = {
    r.SENT: "sent",
    r.RECORDED: "recorded",
    r.TOKEN_DEAD: "token_dead",
    r.PAYLOAD_REJECTED: "payload_rejected",
    r.THIRD_PARTY_AUTH: "paused",
    r.QUOTA: "retry",
    r.RETRYABLE: "retry",
}


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter, never below `base * 2**(attempt-1)` (capped)."""
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    return delay * random.uniform(1.0, 1.5)


def react(
    session: Session,
    settings: PushSettings,
    item: Item,
    result: r.SendResult,
    answered: datetime,
    owner: str,
    *,
    token_only: bool,
) -> str:
    """Apply a failed attempt's reaction (table above); return the attempt's outcome.

    `token_only`: for a retryable result, whether other sends got proper answers meanwhile
    (then the failure is this token's and spends its budget)."""
    outcome = OUTCOMES[result.kind]
    error = f"{result.error_code} ({result.http_status})" if result.error_code else None
    if result.kind == r.TOKEN_DEAD:
        deactivate(session, item, result, owner, error)
        return outcome
    if result.kind == r.PAYLOAD_REJECTED:
        log.error(
            "BUG: FCM rejected the payload of push %s (event %s): %s %s",
            item.delivery_id,
            item.event_id,
            result.error_code,
            result.detail,
        )
        finish(
            session,
            item.delivery_id,
            owner,
            status=FAILED,
            attempts=item.attempts + 1,
            last_error=f"{error}: payload rejected (bug)",
        )
        return outcome
    if result.kind == r.RETRYABLE and not token_only:
        # An outage for everyone: keep the delivery's place and budget; the breaker spaces
        # the sends. Only a Retry-After from the answer moves it back.
        values = {"last_error": f"{error}: waiting for FCM" if error else "waiting for FCM"}
        if result.retry_after:
            values["next_attempt_at"] = answered + timedelta(seconds=result.retry_after)
        finish(session, item.delivery_id, owner, **values)
        return "outage"
    attempts = item.attempts + 1
    if result.kind == r.THIRD_PARTY_AUTH:
        resume = pause_platform(
            session,
            item.platform,
            result,
            settings,
            answered,
            event_id=item.event_id,
            delivery_id=item.delivery_id,
        )
        delay = (resume - answered).total_seconds()
    elif result.kind == r.QUOTA:
        delay = backoff(
            attempts,
            settings.quota_retry_seconds,
            max(settings.retry_cap_seconds, settings.quota_retry_seconds),
        )
    else:
        delay = backoff(attempts, settings.retry_base_seconds, settings.retry_cap_seconds)
    delay = max(delay, result.retry_after or 0.0)
    if attempts >= settings.max_attempts and result.kind != r.THIRD_PARTY_AUTH:
        finish(
            session,
            item.delivery_id,
            owner,
            status=FAILED,
            attempts=attempts,
            last_error=f"{error}: gave up after {attempts} attempts",
        )
        return "gave_up"
    finish(
        session,
        item.delivery_id,
        owner,
        attempts=attempts,
        last_error=error,
        next_attempt_at=answered + timedelta(seconds=delay),
    )
    return outcome


def deactivate(session: Session, item: Item, result: r.SendResult, owner: str, error) -> None:
    """FCM's verdict on a token: the delivery fails, the device and its other pushes stop."""
    finish(
        session,
        item.delivery_id,
        owner,
        status=FAILED,
        attempts=item.attempts + 1,
        last_error=f"{error}: token deactivated",
    )
    session.execute(
        update(Device)
        .where(Device.id == item.device_id, Device.token == item.token)
        .values(active=False, deactivated_reason=result.error_code)
        .execution_options(synchronize_session=False)
    )
    # Its other waiting deliveries (re-push rounds, retries) will never go out. Rows another
    # dispatcher holds locked are skipped (no lock cycles); they are cancelled when claimed,
    # as the device is inactive by then.
    others = (
        select(PushDelivery.id)
        .where(
            PushDelivery.device_id == item.device_id,
            PushDelivery.status == PENDING,
            PushDelivery.id != item.delivery_id,
        )
        .with_for_update(skip_locked=True)
    )
    session.execute(
        update(PushDelivery)
        .where(PushDelivery.id.in_(others), PushDelivery.status == PENDING)
        .values(
            status=CANCELLED,
            last_error=f"device deactivated ({result.error_code})",
            lease_owner=None,
            lease_until=None,
        )
        .execution_options(synchronize_session=False)
    )
