"""Retention: old events with their push deliveries, old Idempotency-Keys, stale devices.

Every function works in small batches, each its own transaction, and claims its rows with
`FOR UPDATE SKIP LOCKED`, so a web request holding one of them is never waited for (the
row goes next run) and two processes never fight over the same batch. Events, the one
table of millions (a week is ten million rows at a million members), go by seq keyset in batches
sized to take about 50 ms each (`_old_event_batches`).
"""

from __future__ import annotations

import logging
import time
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
from shield.events import mark_pruned
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


# Event batches are sized by time: each batch is one transaction holding its rows' locks
# (an ack of an event about to go waits on them), so it aims at BATCH_SECONDS, growing or
# shrinking by halves between EVENT_BATCH_MIN and EVENT_BATCH_MAX rows.
BATCH_SECONDS = 0.05
EVENT_BATCH_MIN = 100
EVENT_BATCH_MAX = 5000


def _next_size(size: int, seconds: float) -> int:
    if seconds < BATCH_SECONDS / 2:
        return min(EVENT_BATCH_MAX, size * 2)
    if seconds > BATCH_SECONDS * 2:
        return max(EVENT_BATCH_MIN, size // 2)
    return size


def _old_event_batches(cutoff: datetime):
    """(ids, highest seq) of events created before `cutoff`, in seq order, a locked batch
    at a time.

    Keyset by seq (`seq > last`), never from the start again: a pass over a day of events
    (1.4 million rows at 1,000,000 members) would otherwise walk, batch after batch, the
    index entries of the rows it already deleted, dead until VACUUM. The scan stops at the
    seq of the first event created at or after the cutoff (found by the created_at index),
    so the last batch does not walk the days kept. An older event committed after that one
    (seq is commit order, created_at is not quite) goes in a later run, once the cutoff
    has passed the events around it.
    """
    first_kept = db.session.execute(
        select(OutboxEvent.seq)
        .where(OutboxEvent.created_at >= cutoff)
        .order_by(OutboxEvent.created_at)
        .limit(1)
    ).scalar()
    where = [OutboxEvent.created_at < cutoff]
    if first_kept is not None:
        where.append(OutboxEvent.seq < first_kept)
    last, size = None, BATCH
    while True:
        started = time.monotonic()
        query = select(OutboxEvent.id, OutboxEvent.seq).where(*where).order_by(OutboxEvent.seq)
        if last is not None:
            query = query.where(OutboxEvent.seq > last)
        rows = db.session.execute(query.limit(size).with_for_update(skip_locked=True)).all()
        if not rows:
            db.session.rollback()
            return
        last = rows[-1].seq
        yield [r.id for r in rows], last  # the caller deletes them and commits
        if len(rows) < size:
            return
        size = _next_size(size, time.monotonic() - started)


def prune_events(now: datetime | None = None) -> int:
    """Delete events older than the retention, with their deliveries, attempts and acks."""
    now = now or utcnow()
    cutoff = now - event_retention()
    counts = {"events": 0, "deliveries": 0, "attempts": 0, "acks": 0}
    for ids, last in _old_event_batches(cutoff):
        # Children first: the schema cascades, but a database created without the
        # ON DELETE clauses must not make this job fail.
        deliveries = select(PushDelivery.id).where(PushDelivery.event_id.in_(ids))
        counts["attempts"] += _bulk(
            delete(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(deliveries))
        )
        counts["deliveries"] += _bulk(delete(PushDelivery).where(PushDelivery.event_id.in_(ids)))
        counts["acks"] += _bulk(delete(EventAck).where(EventAck.event_id.in_(ids)))
        counts["events"] += _bulk(delete(OutboxEvent).where(OutboxEvent.id.in_(ids)))
        mark_pruned(db.session, last)  # the feed's `reset`: may be deleted up to here
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
