"""Planning deliveries for push-worthy outbox events, and claiming due deliveries under a lease.

Safe with many dispatcher processes: events are taken with `FOR UPDATE SKIP LOCKED`, and
deliveries are claimed by one UPDATE whose subquery skips locked rows and whose WHERE
re-checks that the row is still pending and unleased. A delivery is claimed only when a
send slot is free for it, and the claim is a lease (`lease_owner`, `lease_until`) that the
sender renews while it sends (dispatcher.py): if the process dies, the rows become
claimable again within `lease_seconds`, so nothing is lost and only the sends that were in
flight may repeat.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, false, func, insert, or_, select, true, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from models import Device, OutboxEvent, PushDelivery, new_id
from models.delivery import PENDING
from models.outbox import PUSH_PENDING, PUSH_PLANNED
from shield.events import rule_for

from .preferences import wants_push
from .settings import PushSettings

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def plan_pending(session: Session, settings: PushSettings, now: datetime) -> int:
    """Create the deliveries of pending push events (not leased); return how many events.

    One delivery per active device of the owner (none for a non-critical event whose member
    turned push, or its kind, off: preferences.py); ack-required events also get their
    re-push rounds, due `repush_minutes` after now and cancelled once the event is
    acknowledged. Commits.
    """
    # Plain rows of the columns used, not ORM objects: no identity map to fill and expire.
    events = session.execute(
        select(OutboxEvent.id, OutboxEvent.member_id, OutboxEvent.name)
        .where(OutboxEvent.push_state == PUSH_PENDING)
        .order_by(OutboxEvent.seq)
        .limit(settings.batch_size)
        .with_for_update(skip_locked=True)
    ).all()
    if not events:
        session.commit()
        return 0
    member_ids = {e.member_id for e in events if e.member_id}
    devices: dict[str, list] = {}
    for device in session.execute(
        select(Device.id, Device.member_id)
        .where(Device.member_id.in_(member_ids), Device.active.is_(True))
        .order_by(Device.created_at, Device.id)
    ):
        devices.setdefault(device.member_id, []).append(device)
    wants = wants_push(session, member_ids)
    rows: list[dict] = []  # one multi-row INSERT, not an ORM unit of work per delivery
    for event in events:
        rule = rule_for(event.name)
        wanted = wants(event.member_id, rule)
        hold = socket_hold_seconds(event.member_id) if wanted and rule.ack_required else 0.0
        for device in devices.get(event.member_id, []) if wanted else []:
            first = _delivery(event, device, now, rule.critical)
            first["next_attempt_at"] = now + timedelta(seconds=hold)
            rows.append(first)
            if rule.ack_required:
                for round_, minutes in enumerate(settings.repush_minutes, start=1):
                    later = _delivery(event, device, now, rule.critical, round_)
                    later["next_attempt_at"] = now + timedelta(minutes=minutes)
                    rows.append(later)
    try:
        if rows:
            session.execute(insert(PushDelivery), rows)
        session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_([e.id for e in events]))
            .values(push_state=PUSH_PLANNED)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    except (IntegrityError, OperationalError) as exc:
        # Only without row locks (SQLite): another dispatcher planned the same events first.
        session.rollback()
        log.info("push planning lost a race, retrying next pass: %s", type(exc).__name__)
        return 0
    return len(events)


def _delivery(event, device, now: datetime, critical: bool, round_: int = 0) -> dict:
    """A delivery row for an event and a device (rows with `id` and `member_id`)."""
    return {
        "id": new_id("dlv"),
        "event_id": event.id,
        "device_id": device.id,
        "member_id": event.member_id,
        "round": round_,
        "critical": critical,
        "status": PENDING,
        "attempts": 0,
        "lease_owner": None,
        "lease_until": None,
        "created_at": now,
    }


def socket_hold_seconds(member_id: str) -> float:
    """How long an ack-required push waits for a socket ack (0: push at once).

    A member with a live socket gets the event there first; if the app acks it over the
    socket within the hold, the push is cancelled, otherwise it goes out as usual.
    """
    try:
        from shield.realtime.presence import has_live_socket, push_hold_seconds

        return push_hold_seconds() if has_live_socket(member_id) else 0.0
    except Exception:  # presence is best effort: never delay or lose a push over it
        log.exception("socket presence lookup failed; pushing at once")
        return 0.0


def _is_critical(critical: bool):
    # `= true`, not `IS true`: PostgreSQL uses the index only for the former.
    return PushDelivery.critical == (true() if critical else false())


def claimable(now: datetime):
    return and_(
        PushDelivery.status == PENDING,
        PushDelivery.next_attempt_at <= now,
        or_(PushDelivery.lease_until.is_(None), PushDelivery.lease_until < now),
    )


def claim_due(
    session: Session, settings: PushSettings, now: datetime, owner: str, limit: int
) -> list[str]:
    """Lease up to `limit` due deliveries to `owner`: critical ones first, each oldest due
    first (two range scans of ix_push_deliveries_due, no sort of the backlog). Commits."""
    ids: list[str] = []
    for critical in (True, False):
        if len(ids) >= limit:
            break
        # Lock first, then update: PostgreSQL may rescan an `IN (SELECT ... LIMIT n FOR
        # UPDATE SKIP LOCKED)` subquery and so lease more than n rows.
        due = list(
            session.execute(
                select(PushDelivery.id)
                .where(claimable(now), _is_critical(critical))
                .order_by(PushDelivery.next_attempt_at)
                .limit(limit - len(ids))
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if not due:
            continue
        ids += (
            session.execute(
                update(PushDelivery)
                .where(PushDelivery.id.in_(due), claimable(now))
                .values(
                    lease_owner=owner,
                    lease_until=now + timedelta(seconds=settings.lease_seconds),
                )
                .returning(PushDelivery.id)
                .execution_options(synchronize_session=False)
            )
            .scalars()
            .all()
        )
    session.commit()
    return ids


def next_due(session: Session) -> datetime | None:
    """When the next pending delivery falls due (the epoch when events wait to be planned).

    A time in the past means due deliveries another sender holds (or that found no free
    slot): callers wait a little rather than spin (worker.py)."""
    if (
        session.execute(
            select(OutboxEvent.id).where(OutboxEvent.push_state == PUSH_PENDING).limit(1)
        ).first()
        is not None
    ):
        session.commit()
        return EPOCH
    # One index lookup per value of `critical` (ix_push_deliveries_due), not a scan.
    firsts = [
        session.execute(
            select(func.min(PushDelivery.next_attempt_at)).where(
                PushDelivery.status == PENDING, _is_critical(critical)
            )
        ).scalar_one_or_none()
        for critical in (True, False)
    ]
    session.commit()
    return min((t for t in firsts if t is not None), default=None)
