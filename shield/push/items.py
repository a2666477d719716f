"""Turning claimed deliveries into messages to send, finishing those that must not go.

A claimed delivery is not sent when its device is gone (cancelled), its event was acked
(cancelled), its message's TTL has passed (failed: expired), its platform is paused, or it
is a re-push round whose first push has not been sent yet (it waits for it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session

from models import Device, EventAck, OutboxEvent, PushDelivery
from models.delivery import CANCELLED, FAILED, PENDING
from shield.events import rule_for

from .leases import finish
from .messages import PayloadTooLarge, PushMessage, build_message, collapse_key
from .pauses import active_pauses
from .planning import claimable
from .settings import PushSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    delivery_id: str
    attempts: int
    device_id: str
    token: str
    platform: str
    event_id: str
    message: PushMessage

    @property
    def key(self) -> tuple[str, str]:
        """Messages with one key (one claim to one device) go in order, one after another."""
        return (self.device_id, self.message.collapse_key)


def load_items(
    session: Session, settings: PushSettings, ids: list[str], *, now: datetime, owner: str
) -> list[Item]:
    """Load the deliveries leased to `owner`, finish those not to be sent, build the rest's
    messages (in event order). Commits.

    Claims are critical-first, so an earlier due message about the same claim to the same
    device (say claim_under_review before claim_approved) is claimed here too, to go first.
    """
    ids = ids + _claim_predecessors(session, settings, ids, now=now, owner=owner)
    # Plain rows of the columns used, not ORM objects: no identity map to fill and expire.
    rows = session.execute(
        select(
            PushDelivery.id,
            PushDelivery.attempts,
            PushDelivery.round,
            PushDelivery.created_at,
            OutboxEvent.id.label("event_id"),
            OutboxEvent.seq,
            OutboxEvent.name,
            OutboxEvent.payload,
            Device.id.label("device_id"),
            Device.token,
            Device.platform,
            Device.active,
            Device.deactivated_reason,
        )
        .join(OutboxEvent, PushDelivery.event_id == OutboxEvent.id)
        .join(Device, PushDelivery.device_id == Device.id)
        .where(
            PushDelivery.id.in_(ids),
            PushDelivery.lease_owner == owner,
            PushDelivery.status == PENDING,
        )
        .order_by(OutboxEvent.seq, PushDelivery.round, PushDelivery.id)
    ).all()
    acked = _acked(session, {row.event_id for row in rows if rule_for(row.name).ack_required})
    first_waiting = _first_rounds_pending(session, [r for r in rows if r.round > 0])
    paused = active_pauses(session, now)
    ttl = timedelta(seconds=settings.ttl_seconds)
    items: list[Item] = []
    for row in rows:
        if not row.active:
            reason = f"device deactivated ({row.deactivated_reason or 'inactive'})"
            finish(session, row.id, owner, status=CANCELLED, last_error=reason)
        elif row.event_id in acked:
            finish(session, row.id, owner, status=CANCELLED, last_error="acknowledged")
        elif now - row.created_at > ttl:
            finish(session, row.id, owner, status=FAILED, last_error="expired (past the TTL)")
        elif row.platform in paused:
            finish(
                session,
                row.id,
                owner,
                next_attempt_at=paused[row.platform],
                last_error=f"{row.platform} sends paused (THIRD_PARTY_AUTH_ERROR)",
            )
        elif row.round > 0 and (row.event_id, row.device_id) in first_waiting:
            # A re-push round never reaches the device before the first push (still retrying).
            after = first_waiting[(row.event_id, row.device_id)]
            gap = timedelta(minutes=settings.repush_minutes[0] if settings.repush_minutes else 2)
            finish(
                session,
                row.id,
                owner,
                next_attempt_at=max(after, now) + gap,
                last_error="waits for the first push",
            )
        else:
            item = _item(row, settings, now)
            if item is None:
                finish(session, row.id, owner, status=FAILED, last_error="payload too large")
            else:
                items.append(item)
    session.commit()  # no transaction stays open across the network calls
    return items


def _item(row, settings: PushSettings, now: datetime) -> Item | None:
    try:
        message = build_message(
            delivery_id=row.id,
            event_id=row.event_id,
            seq=row.seq,
            name=row.name,
            payload=row.payload,
            token=row.token,
            platform=row.platform,
            round_=row.round,
            ttl_seconds=settings.ttl_seconds,
            now=now,
        )
    except PayloadTooLarge as exc:
        log.error("BUG: push for %s not sendable: %s", row.event_id, exc)
        return None
    return Item(row.id, row.attempts, row.device_id, row.token, row.platform, row.event_id, message)


def _claim_predecessors(
    session: Session, settings: PushSettings, ids: list[str], *, now: datetime, owner: str
) -> list[str]:
    """Lease to `owner` the due, unleased deliveries that must go before the claimed ones
    (same device and collapse key, lower event seq); return their ids."""
    mine = session.execute(
        select(PushDelivery.device_id, OutboxEvent.seq, OutboxEvent.name, OutboxEvent.payload)
        .join(OutboxEvent, PushDelivery.event_id == OutboxEvent.id)
        .where(PushDelivery.id.in_(ids))
    ).all()
    if not mine:
        return []
    last: dict[tuple[str, str], int] = {}
    for row in mine:
        key = (row.device_id, collapse_key(row.name, (row.payload or {}).get("data") or {}))
        last[key] = max(last.get(key, 0), row.seq)
    earlier = session.execute(
        select(PushDelivery.id, PushDelivery.device_id, OutboxEvent.seq, OutboxEvent.name)
        .add_columns(OutboxEvent.payload)
        .join(OutboxEvent, PushDelivery.event_id == OutboxEvent.id)
        .where(
            PushDelivery.device_id.in_({row.device_id for row in mine}),
            PushDelivery.id.not_in(ids),
            claimable(now),
            OutboxEvent.seq < max(last.values()),
        )
    ).all()
    wanted = [
        e.id
        for e in earlier
        if e.seq
        < last.get((e.device_id, collapse_key(e.name, (e.payload or {}).get("data") or {})), 0)
    ]
    if not wanted:
        return []
    return list(
        session.execute(
            update(PushDelivery)
            .where(PushDelivery.id.in_(wanted), claimable(now))
            .values(lease_owner=owner, lease_until=now + timedelta(seconds=settings.lease_seconds))
            .returning(PushDelivery.id)
            .execution_options(synchronize_session=False)
        ).scalars()
    )


def _acked(session: Session, ackable: set[str]) -> set[str]:
    """Ack-required events the app acknowledged (REST or socket): their pushes stop."""
    if not ackable:
        return set()
    return set(
        session.execute(select(EventAck.event_id).where(EventAck.event_id.in_(ackable))).scalars()
    )


def _first_rounds_pending(session: Session, later_rounds: list) -> dict[tuple[str, str], datetime]:
    """(event, device) of re-push rounds whose round 0 is still pending -> when it is due."""
    if not later_rounds:
        return {}
    pairs = {(r.event_id, r.device_id) for r in later_rounds}
    rows = session.execute(
        select(PushDelivery.event_id, PushDelivery.device_id, PushDelivery.next_attempt_at).where(
            tuple_(PushDelivery.event_id, PushDelivery.device_id).in_(pairs),
            PushDelivery.round == 0,
            PushDelivery.status == PENDING,
        )
    ).all()
    return {(r.event_id, r.device_id): r.next_attempt_at for r in rows}
