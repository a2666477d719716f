"""Retention: old events with their push deliveries, old Idempotency-Keys, stale devices.

Every function works in small batches, each its own transaction, and claims its rows with
`FOR UPDATE SKIP LOCKED`, so a web request holding one of them is never waited for (the
row goes next run) and two processes never fight over the same batch.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, or_, select, update

from models import (
    DeliveryAttempt,
    Device,
    EventAck,
    IdempotencyKey,
    OutboxEvent,
    PushDelivery,
    db,
    utcnow,
)
from models.idempotency import RUNNING
from shield.idempotency import KEEP_FOR

log = logging.getLogger(__name__)

BATCH = 500
# FCM expires registration tokens inactive for 270 days; sending to them only earns errors.
DEVICE_STALE_AFTER = timedelta(days=270)
STALE_REASON = "unseen_270_days"
MIN_EVENT_RETENTION_DAYS = 1


def event_retention() -> timedelta:
    """How long events are kept (SHIELD_EVENT_RETENTION_DAYS, default 7, at least 1)."""
    days = int(current_app.config.get("SHIELD_EVENT_RETENTION_DAYS") or 7)
    return timedelta(days=max(MIN_EVENT_RETENTION_DAYS, days))


def _bulk(statement) -> int:
    return db.session.execute(statement.execution_options(synchronize_session=False)).rowcount


def _locked_batches(query):
    """The ids `query` selects, BATCH at a time, each batch row-locked (SKIP LOCKED, so
    replicas share the work); the caller changes and commits a batch before the next."""
    while True:
        ids = list(
            db.session.execute(query.limit(BATCH).with_for_update(skip_locked=True)).scalars()
        )
        if not ids:
            db.session.rollback()
            return
        yield ids
        if len(ids) < BATCH:
            return


def prune_events(now: datetime | None = None) -> int:
    """Delete events older than the retention, with their deliveries, attempts and acks."""
    now = now or utcnow()
    cutoff = now - event_retention()
    counts = {"events": 0, "deliveries": 0, "attempts": 0, "acks": 0}
    old = select(OutboxEvent.id).where(OutboxEvent.created_at < cutoff).order_by(OutboxEvent.seq)
    for ids in _locked_batches(old):
        # Children first: the schema cascades, but a database created without the
        # ON DELETE clauses must not make this job fail.
        deliveries = select(PushDelivery.id).where(PushDelivery.event_id.in_(ids))
        counts["attempts"] += _bulk(
            delete(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(deliveries))
        )
        counts["deliveries"] += _bulk(delete(PushDelivery).where(PushDelivery.event_id.in_(ids)))
        counts["acks"] += _bulk(delete(EventAck).where(EventAck.event_id.in_(ids)))
        counts["events"] += _bulk(delete(OutboxEvent).where(OutboxEvent.id.in_(ids)))
        db.session.commit()
    if counts["events"]:
        log.info("pruned events older than %s: %s", cutoff.isoformat(), counts)
    return sum(counts.values())


def prune_idempotency_keys(now: datetime | None = None) -> int:
    """Delete Idempotency-Keys older than 24 h (a call still running keeps its key)."""
    now = now or utcnow()
    cutoff = now - KEEP_FOR
    removed = 0
    expired = (
        select(IdempotencyKey.id)
        .where(
            IdempotencyKey.created_at < cutoff,
            or_(
                IdempotencyKey.status != RUNNING,
                IdempotencyKey.locked_until.is_(None),
                IdempotencyKey.locked_until < now,
            ),
        )
        .order_by(IdempotencyKey.id)
    )
    for ids in _locked_batches(expired):
        removed += _bulk(delete(IdempotencyKey).where(IdempotencyKey.id.in_(ids)))
        db.session.commit()
    return removed


def deactivate_stale_devices(now: datetime | None = None) -> int:
    """Deactivate push tokens of devices not seen for 270 days."""
    now = now or utcnow()
    cutoff = now - DEVICE_STALE_AFTER
    stale = (Device.active.is_(True), Device.last_seen_at < cutoff)
    changed = 0
    for ids in _locked_batches(
        select(Device.id).where(*stale).order_by(Device.last_seen_at, Device.id)
    ):
        # The conditions again: a device seen (or re-registered) meanwhile stays active.
        changed += _bulk(
            update(Device)
            .where(Device.id.in_(ids), *stale)
            .values(active=False, deactivated_reason=STALE_REASON)
        )
        db.session.commit()
    return changed
