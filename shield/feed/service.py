"""The event feed: a caller's committed events after a seq, and acknowledgements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import DeliveryAttempt, Device, EventAck, OutboxEvent, PushDelivery, utcnow
from models.delivery import CANCELLED, PENDING
from models.outbox import AUDIENCE_ADMIN, EventSequence
from shield.auth import Principal
from shield.errors import Conflict, NotFound
from shield.events import ACK_OPTIONAL, ACK_REQUIRED, message, pruned_through, rule_for


def visible_to(principal: Principal):
    """SQL condition: the caller's own events, plus admin events for admins."""
    own = OutboxEvent.member_id == principal.id
    if principal.is_admin:
        return or_(own, OutboxEvent.audience == AUDIENCE_ADMIN)
    return own


def events_after(
    session: Session, principal: Principal, after: int, limit: int
) -> list[OutboxEvent]:
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


def ack_event(
    session: Session, principal: Principal, event_id: str, *, via: str, now: datetime | None = None
) -> tuple[EventAck, bool]:
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
    ack = _add_ack(session, event_id, principal.id, via, now or utcnow())
    if ack is None:  # a concurrent ack won
        return session.get(EventAck, event_id), False
    cancel_repush(session, event_id)
    # One change, one ack: acking claim_paid acks its payout_completed and the other way
    # round, so neither is pushed again nor replayed over the socket.
    for sibling in same_change(session, event):
        if session.get(EventAck, sibling) is None:
            _add_ack(session, sibling, principal.id, via, ack.acked_at)
        cancel_repush(session, sibling)
    return ack, True


def _add_ack(
    session: Session, event_id: str, member_id: str, via: str, now: datetime
) -> EventAck | None:
    ack = EventAck(event_id=event_id, member_id=member_id, via=via, acked_at=now)
    try:
        with session.begin_nested():
            session.add(ack)
    except IntegrityError:
        return None
    return ack


# Events of one change are recorded in one transaction, so their seqs are this close.
CHANGE_SEQ_SPAN = 64


def same_change(session: Session, event: OutboxEvent) -> list[str]:
    """The ids of the owner's other ack-required events of the same change (same payment)."""
    key = rule_for(event.name).change_key
    value = (event.payload.get("data") or {}).get(key) if key else None
    if not value:
        return []
    names = [n for n in ACK_REQUIRED if n != event.name and rule_for(n).change_key == key]
    if not names:
        return []
    return list(
        session.execute(
            select(OutboxEvent.id).where(
                OutboxEvent.member_id == event.member_id,
                OutboxEvent.seq.between(event.seq - CHANGE_SEQ_SPAN, event.seq + CHANGE_SEQ_SPAN),
                OutboxEvent.name.in_(sorted(names)),
                OutboxEvent.payload[("data", key)].as_string() == str(value),
            )
        ).scalars()
    )


def event_name(session: Session, event_id: str) -> str | None:
    event = session.get(OutboxEvent, event_id)  # usually already in the identity map
    return event.name if event else None


def cancel_repush(session: Session, event_id: str) -> int:
    """Cancel the pending re-push rounds of an acknowledged event (the first push stays)."""
    return session.execute(
        update(PushDelivery)
        .where(
            PushDelivery.event_id == event_id,
            PushDelivery.round > 0,
            PushDelivery.status == PENDING,
        )
        .values(status=CANCELLED, last_error="acknowledged", lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount


# -- the feed: GET /shield/v1/events --------------------------------------------------------


@dataclass(frozen=True)
class FeedState:
    """What decides a feed answer, read without loading any event (the 304 path)."""

    max_visible: int  # the caller's newest visible seq (0: none)
    oldest_kept: int | None  # the lowest seq retention has not pruned (None: none kept)
    top: int  # the last committed seq of the whole system
    reset: bool  # events after `after` may have been pruned: refetch state
    start: int  # the seq the answer starts after


def feed_state(session: Session, principal: Principal, after: int) -> FeedState:
    """Read the feed's bounds with three indexed lookups (top first: see `feed_page`)."""
    # Read the committed top before anything else: every seq <= top is committed and
    # visible to the queries that follow (seq order is commit order).
    top = session.execute(select(EventSequence.value).where(EventSequence.id == 1)).scalar()
    top = top or 0
    # Not min(seq): after a prune that walks the index entries of every row just deleted
    # until VACUUM has run (1.4 million a day at a million members). Retention keeps the
    # highest seq it may have deleted; the lowest that may be kept is the one above.
    pruned = pruned_through(session)
    oldest = pruned + 1 if pruned < top else None
    max_visible = (
        session.execute(
            select(func.max(OutboxEvent.seq)).where(OutboxEvent.member_id == principal.id)
        ).scalar()
        or 0
    )
    if principal.is_admin:
        admin_max = (
            session.execute(
                select(func.max(OutboxEvent.seq)).where(OutboxEvent.audience == AUDIENCE_ADMIN)
            ).scalar()
            or 0
        )
        max_visible = max(max_visible, admin_max)
    if after > top:  # the client's seq comes from another history (database restored)
        return FeedState(max_visible, oldest, top, True, 0)
    if oldest is None:  # nothing kept: anything after `after` was pruned
        return FeedState(max_visible, oldest, top, after < top, after)
    return FeedState(max_visible, oldest, top, after < oldest - 1, after)


@dataclass(frozen=True)
class FeedPage:
    events: list[OutboxEvent]
    last_seq: int
    has_more: bool
    reset: bool


def feed_page(session: Session, principal: Principal, state: FeedState, limit: int) -> FeedPage:
    """The caller's events after `state.start`, at most `limit`, in seq order."""
    rows = events_after(session, principal, state.start, limit + 1)
    has_more = len(rows) > limit
    rows = rows[:limit]
    if rows:
        last = rows[-1].seq
    elif state.reset:
        # Skip the pruned gap, or the client would be told to reset on every call.
        last = state.top if state.oldest_kept is None else max(state.start, state.oldest_kept - 1)
    else:
        last = state.start
    return FeedPage(rows, last, has_more, state.reset)


# -- admin: what happened to an event's pushes -------------------------------------------


@dataclass(frozen=True)
class DeliveryView:
    id: str
    event_id: str
    event: str
    seq: int
    device_id: str
    member_id: str
    platform: str
    token: str
    device_active: bool
    round: int
    status: str
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    attempt_log: list[DeliveryAttempt]


def _views(session: Session, rows) -> list[DeliveryView]:
    attempts: dict[str, list[DeliveryAttempt]] = {}
    if rows:
        for attempt in session.execute(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id.in_([d.id for d, _, _ in rows]))
            .order_by(DeliveryAttempt.attempted_at, DeliveryAttempt.id)
        ).scalars():
            attempts.setdefault(attempt.delivery_id, []).append(attempt)
    return [
        DeliveryView(
            id=d.id,
            event_id=e.id,
            event=e.name,
            seq=e.seq,
            device_id=dev.id,
            member_id=d.member_id,
            platform=dev.platform,
            token=dev.token,
            device_active=dev.active,
            round=d.round,
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            sent_at=d.sent_at,
            last_error=d.last_error,
            attempt_log=attempts.get(d.id, []),
        )
        for d, e, dev in rows
    ]


def _delivery_rows():
    return (
        select(PushDelivery, OutboxEvent, Device)
        .join(OutboxEvent, PushDelivery.event_id == OutboxEvent.id)
        .join(Device, PushDelivery.device_id == Device.id)
    )


def event_deliveries(
    session: Session, event_id: str
) -> tuple[OutboxEvent, EventAck | None, list[DeliveryView]]:
    """An event, its ack and its deliveries with their attempts, in round order."""
    event = session.get(OutboxEvent, event_id)
    if event is None:
        raise NotFound("No such event.")
    rows = session.execute(
        _delivery_rows()
        .where(PushDelivery.event_id == event_id)
        .order_by(PushDelivery.round, PushDelivery.created_at, PushDelivery.id)
    ).all()
    return event, session.get(EventAck, event_id), _views(session, rows)


def recent_deliveries(
    session: Session, *, member_id: str | None, status: str | None, limit: int
) -> list[DeliveryView]:
    """The latest deliveries, newest event first (its rounds in order), with their attempts."""
    query = (
        _delivery_rows()
        .order_by(OutboxEvent.seq.desc(), PushDelivery.round, PushDelivery.id)
        .limit(limit)
    )
    if member_id:
        query = query.where(PushDelivery.member_id == member_id)
    if status:
        query = query.where(PushDelivery.status == status)
    return _views(session, session.execute(query).all())
