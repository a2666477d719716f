"""Reading the outbox for sockets: the live tail (all events) and one caller's replay."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import EventAck, OutboxEvent
from models.outbox import EventSequence
from shield.auth import Principal
from shield.feed.service import events_after, feed_state

from .protocol import Outgoing, outgoing

PAGE = 500


def top_seq(session: Session) -> int:
    """The highest seq ever handed out (0 on a database without events)."""
    return session.execute(select(EventSequence.value).where(EventSequence.id == 1)).scalar() or 0


def tail(session: Session, after: int, limit: int = PAGE) -> list[Outgoing]:
    """Every committed event with seq > after, in seq order (seq order is commit order)."""
    rows = session.execute(
        select(
            OutboxEvent.seq,
            OutboxEvent.id,
            OutboxEvent.name,
            OutboxEvent.member_id,
            OutboxEvent.audience,
            OutboxEvent.payload,
        )
        .where(OutboxEvent.seq > after)
        .order_by(OutboxEvent.seq)
        .limit(limit)
    ).all()
    return [outgoing(*row) for row in rows]


def gap_fillable(session: Session, principal: Principal, last_seq: int) -> tuple[bool, dict]:
    """Can every event after `last_seq` still be read? The REST feed's own rule (its
    `reset`): not when retention pruned events above it, nor when the seq comes from
    another history (a restored database)."""
    state = feed_state(session, principal, last_seq)
    details = {"lastSeq": last_seq, "latestSeq": state.top}
    if state.oldest_kept is not None:
        details["oldestSeq"] = state.oldest_kept
    return not state.reset, details


def replay(
    session: Session, principal: Principal, last_seq: int, limit: int
) -> list[Outgoing] | None:
    """The caller's events after last_seq in order, or None if more than `limit`."""
    events: list[Outgoing] = []
    after = last_seq
    while True:
        page = events_after(session, principal, after, min(PAGE, limit + 1 - len(events)))
        events.extend(
            outgoing(e.seq, e.id, e.name, e.member_id, e.audience, e.payload) for e in page
        )
        if len(events) > limit:
            return None
        if not page or len(page) < PAGE:
            return events
        after = page[-1].seq


def acked_ids(session: Session, event_ids: list[str]) -> set[str]:
    if not event_ids:
        return set()
    return set(
        session.execute(select(EventAck.event_id).where(EventAck.event_id.in_(event_ids))).scalars()
    )
