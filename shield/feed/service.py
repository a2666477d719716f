"""The event feed: a caller's committed events after a seq, and acknowledgements."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import EventAck, OutboxEvent, utcnow
from models.outbox import AUDIENCE_ADMIN
from shield.auth import Principal
from shield.errors import Conflict, NotFound
from shield.events import ACK_OPTIONAL, ACK_REQUIRED, message


def visible_to(principal: Principal):
    """SQL condition: the caller's own events, plus admin events for admins."""
    own = OutboxEvent.member_id == principal.id
    if principal.is_admin:
        return or_(own, OutboxEvent.audience == AUDIENCE_ADMIN)
    return own


def events_after(session: Session, principal: Principal, after: int, limit: int) -> list[OutboxEvent]:
    """The caller's events with seq > after, in seq order."""
    return list(
        session.execute(
            select(OutboxEvent)
            .where(visible_to(principal), OutboxEvent.seq > after)
            .order_by(OutboxEvent.seq)
            .limit(limit)
        ).scalars()
    )


def as_message(event: OutboxEvent) -> dict:
    return message(event.payload, event.id, event.seq)


def ack_event(session: Session, principal: Principal, event_id: str, *, via: str,
              now: datetime | None = None) -> tuple[EventAck, bool]:
    """Acknowledge one of the caller's events; idempotent. Returns (ack, created)."""
    event = session.get(OutboxEvent, event_id)
    if event is None or event.member_id != principal.id:
        # Another member's event is reported as missing: ids must not leak.
        raise NotFound("No such event.")
    if event.name not in ACK_REQUIRED | ACK_OPTIONAL:
        raise Conflict(f"{event.name} events take no acknowledgement.")
    existing = session.get(EventAck, event_id)
    if existing is not None:
        return existing, False
    ack = EventAck(event_id=event_id, member_id=principal.id, via=via, acked_at=now or utcnow())
    try:
        with session.begin_nested():
            session.add(ack)
    except IntegrityError:  # a concurrent ack won
        return session.get(EventAck, event_id), False
    return ack, True
