"""Planning deliveries for push-worthy outbox events, and claiming due deliveries under a lease.

Safe with many dispatcher processes: events are taken with `FOR UPDATE SKIP LOCKED`, and
deliveries are claimed by one UPDATE whose subquery skips locked rows and whose WHERE
re-checks that the row is still pending and unleased. A claim is a lease (`lease_owner`,
`lease_until`): if the process dies, the rows become claimable again once the lease ends,
so nothing is lost and only the sends that were in flight may repeat.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, insert, or_, select, update
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


def plan_pending(session: Session, settings: PushSettings, now: datetime, owner: str) -> list[str]:
    """Create the deliveries of pending push events; return the first-round ones, leased to us.

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
        return []
    member_ids = {e.member_id for e in events if e.member_id}
    devices: dict[str, list] = {}
    for device in session.execute(
        select(Device.id, Device.member_id)
        .where(Device.member_id.in_(member_ids), Device.active.is_(True))
        .order_by(Device.created_at, Device.id)
    ):
        devices.setdefault(device.member_id, []).append(device)
    wants = wants_push(session, member_ids)
    lease_until = now + timedelta(seconds=settings.lease_seconds)
    leased: list[str] = []
    rows: list[dict] = []  # one multi-row INSERT, not an ORM unit of work per delivery
    for event in events:
        rule = rule_for(event.name)
        wanted = wants(event.member_id, rule)
        hold = socket_hold_seconds(event.member_id) if wanted and rule.ack_required else 0.0
        for device in devices.get(event.member_id, []) if wanted else []:
            first = _delivery(event, device, now)
            first.update(
                next_attempt_at=now + timedelta(seconds=hold),
                lease_owner=None if hold else owner,
                lease_until=None if hold else lease_until,
            )
            rows.append(first)
            if not hold:
                leased.append(first["id"])
            if rule.ack_required:
                for round_, minutes in enumerate(settings.repush_minutes, start=1):
                    later = _delivery(event, device, now, round_)
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
        return []
    return leased


def _delivery(event, device, now: datetime, round_: int = 0) -> dict:
    """A delivery row for an event and a device (rows with `id` and `member_id`)."""
    return {
        "id": new_id("dlv"),
        "event_id": event.id,
        "device_id": device.id,
        "member_id": event.member_id,
        "round": round_,
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


def _claimable(now: datetime):
    return and_(
        PushDelivery.status == PENDING,
        PushDelivery.next_attempt_at <= now,
        or_(PushDelivery.lease_until.is_(None), PushDelivery.lease_until < now),
    )


def claim_due(
    session: Session, settings: PushSettings, now: datetime, owner: str, limit: int
) -> list[str]:
    """Lease up to `limit` due deliveries to `owner`, oldest due first. Commits."""
    due = (
        select(PushDelivery.id)
        .where(_claimable(now))
        .order_by(PushDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = (
        session.execute(
            update(PushDelivery)
            .where(PushDelivery.id.in_(due), _claimable(now))
            .values(lease_owner=owner, lease_until=now + timedelta(seconds=settings.lease_seconds))
            .returning(PushDelivery.id)
            .execution_options(synchronize_session=False)
        )
        .scalars()
        .all()
    )
    session.commit()
    return list(ids)


def next_due(session: Session) -> datetime | None:
    """When the next pending delivery falls due (the epoch when events wait to be planned)."""
    if (
        session.execute(
            select(OutboxEvent.id).where(OutboxEvent.push_state == PUSH_PENDING).limit(1)
        ).first()
        is not None
    ):
        session.commit()
        return EPOCH
    value = session.execute(
        select(func.min(PushDelivery.next_attempt_at)).where(PushDelivery.status == PENDING)
    ).scalar_one_or_none()
    session.commit()
    return value
