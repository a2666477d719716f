"""Pausing one platform's sends when FCM says its third-party credentials (APNs) are rejected.

FCM answers THIRD_PARTY_AUTH_ERROR (401) when the APNs key or certificate in the Firebase
project is invalid: every iOS send fails until a person fixes it, and the device tokens are
fine. So tokens are kept, the platform's deliveries wait until `paused_until` (then one
batch probes again), and admins get an `admin_action_required` alert, once per outage
(again only after `alert_repeat_seconds`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.delivery import PushPause
from shield import events
from shield.wire import iso

from .results import SendResult
from .settings import PushSettings

# The spec's admin_action_required types are claim_review | fraud_alert | proof_overdue.
# None names a configuration fault; claim_review ("a person must act") is the closest and
# metadata.reason says what it really is.
ALERT_TYPE = "claim_review"
ALERT_REASON = "push_credentials_rejected"


def active_pauses(session: Session, now: datetime) -> dict[str, datetime]:
    """Platforms whose sends are held back, with the time they resume."""
    rows = session.execute(select(PushPause).where(PushPause.paused_until > now)).scalars()
    return {p.platform: p.paused_until for p in rows}


def pause_platform(
    session: Session,
    platform: str,
    result: SendResult,
    settings: PushSettings,
    now: datetime,
    *,
    event_id: str,
    delivery_id: str,
) -> datetime:
    """Hold back the platform's sends and alert admins (once per outage); return the end."""
    until = now + timedelta(seconds=settings.pause_seconds)
    reason = f"{result.error_code}: {result.detail or ''}"[:200]
    pause = session.get(PushPause, platform, with_for_update=True)
    if pause is None:
        try:
            with session.begin_nested():
                pause = PushPause(platform=platform, paused_until=until, reason=reason)
                session.add(pause)
        except IntegrityError:  # another dispatcher paused it at the same moment
            pause = session.get(PushPause, platform, with_for_update=True, populate_existing=True)
    if pause.paused_until < until:
        pause.paused_until = until
    pause.reason = reason
    repeat = timedelta(seconds=settings.alert_repeat_seconds)
    if pause.alerted_at is None or now - pause.alerted_at >= repeat:
        pause.alerted_at = now
        data = _alert(platform, result, pause.paused_until, event_id, delivery_id)
        events.record(session, "admin_action_required", data, member_id=None, now=now)
    return pause.paused_until


def _alert(
    platform: str, result: SendResult, until: datetime, event_id: str, delivery_id: str
) -> dict:
    message = (
        f"Push notifications to {platform} devices are failing: FCM reports "
        f"{result.error_code} (the APNs key or certificate in the Firebase project was "
        f"rejected). Sends to {platform} are paused until {iso(until)} and retried then; "
        "device tokens are kept. Fix the APNs credentials in the Firebase console."
    )
    return {
        "type": ALERT_TYPE,
        "priority": "high",
        "message": message,
        "metadata": {
            "reason": ALERT_REASON,
            "errorCode": result.error_code,
            "httpStatus": result.http_status,
            "platform": platform,
            "pausedUntil": iso(until),
            "eventId": event_id,
            "deliveryId": delivery_id,
            "typeNote": "The spec has no admin_action_required type for configuration faults; "
            "claim_review is the closest. See reason.",
        },
    }


# The PushPause row that stands for the whole FCM project (a configuration fault seen by the
# breaker): it records the fault for admins and dedupes its alert across processes.
PROJECT = "project"
CONFIG_REASON = "push_configuration_fault"


def project_fault(
    session: Session, result: SendResult, settings: PushSettings, now: datetime, until: datetime
) -> bool:
    """Record a configuration fault for the project; alert admins once per fault (again only
    after `alert_repeat_seconds`). Returns whether an alert was raised. Caller commits."""
    reason = f"{result.error_code} ({result.http_status}): {result.detail or ''}"[:200]
    pause = session.get(PushPause, PROJECT, with_for_update=True)
    if pause is None:
        try:
            with session.begin_nested():
                pause = PushPause(platform=PROJECT, paused_until=until, reason=reason)
                session.add(pause)
        except IntegrityError:  # another process recorded it at the same moment
            pause = session.get(PushPause, PROJECT, with_for_update=True, populate_existing=True)
    pause.paused_until, pause.reason = max(pause.paused_until, until), reason
    repeat = timedelta(seconds=settings.alert_repeat_seconds)
    if pause.alerted_at is not None and now - pause.alerted_at < repeat:
        return False
    pause.alerted_at = now
    message = (
        f"Push notifications are not being sent: FCM's endpoint answered {result.http_status} "
        f"without an FCM error code ({result.error_code}), which means a configuration fault "
        "(SHIELD_FCM_ENDPOINT, a proxy, the FCM API disabled, or the service account refused), "
        "not a bad device. No device was deactivated; pushes wait and go out once FCM answers "
        "properly. Check the push configuration."
    )
    data = {
        "type": ALERT_TYPE,
        "priority": "high",
        "message": message,
        "metadata": {
            "reason": CONFIG_REASON,
            "errorCode": result.error_code,
            "httpStatus": result.http_status,
            "detail": (result.detail or "")[:200],
            "typeNote": "The spec has no admin_action_required type for configuration faults; "
            "claim_review is the closest. See reason.",
        },
    }
    events.record(session, "admin_action_required", data, member_id=None, now=now)
    return True


def project_recovered(session: Session, now: datetime) -> None:
    """FCM answers properly again: the project's fault row ends now (its alert stays
    deduplicated until `alert_repeat_seconds`, so a flapping endpoint alerts once). Caller
    commits."""
    pause = session.get(PushPause, PROJECT)
    if pause is not None and pause.paused_until > now:
        pause.paused_until = now
