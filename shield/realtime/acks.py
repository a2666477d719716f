"""Socket acks: `{"event": "claim_paid_ack", "data": {"claimId", "transactionId", "received"}}`.

The spec's ack payloads name the claim or payout, not the event: the event is found by
`data.eventId` (or `data.id`) when the client sends it, else by the event name and the
claimId / payoutId among the caller's events (the ones this socket sent first). The ack is
recorded with the feed's `ack_event(..., via="socket")`, so it also stops push re-sends.
Errors carry `details.status`, the HTTP status REST answers for the same ack.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import OutboxEvent
from shield.auth import Principal
from shield.errors import Conflict, NotFound
from shield.feed.service import ack_event

from .connection import Connection
from .protocol import (
    ACK_EVENTS,
    INVALID_PAYLOAD,
    NOT_FOUND,
    ClientFrame,
    FrameError,
    ack_field,
)

MAX_ID = 64
# The data field an ack must repeat from its event, and get right: acking a payment names
# the wallet transaction it saw (the spec's claim_paid_ack), so a stale or guessed ack of
# another payment of the same claim does not stop the resends.
PROOF = {"claim_paid": "transactionId"}
# Answered like REST's POST /events/{id}/ack: anything not the caller's is "not found",
# worded the same whether it exists or not, so an ack reveals nothing about others' ids.
NO_SUCH_EVENT = "No such event."


def _string(frame: ClientFrame, field: str) -> str | None:
    value = frame.data.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_ID:
        raise FrameError(INVALID_PAYLOAD, f"`{field}` must be a string id.", frame.event)
    return value


def _not_found(frame: ClientFrame, message: str = NO_SUCH_EVENT) -> FrameError:
    return FrameError(NOT_FOUND, message, frame.event, {"status": 404})


def _by_id(
    session: Session, principal: Principal, frame: ClientFrame, name: str, event_id: str
) -> str:
    event = session.get(OutboxEvent, event_id)
    if event is None or event.member_id != principal.id:
        raise _not_found(frame)
    if event.name != name:
        raise FrameError(INVALID_PAYLOAD, f"Event {event_id} is a {event.name} event.", frame.event)
    return event.id


def _by_subject(
    session: Session, principal: Principal, conn: Connection, frame: ClientFrame, name: str
) -> str:
    field = ack_field(name)
    subject = _string(frame, field)
    if subject is None:
        raise FrameError(INVALID_PAYLOAD, f"`{field}` (or `eventId`) is required.", frame.event)
    event_id = conn.event_for((name, subject))
    if event_id is not None:
        return event_id
    event_id = session.execute(
        select(OutboxEvent.id)
        .where(
            OutboxEvent.member_id == principal.id,
            OutboxEvent.name == name,
            OutboxEvent.payload[("data", field)].as_string() == subject,
        )
        .order_by(OutboxEvent.seq.desc())
        .limit(1)
    ).scalar()
    if event_id is None:  # none, or another member's: the same answer
        raise _not_found(frame, f"No {name} event for this {field[:-2]}.")
    return event_id


def _check_proof(session: Session, frame: ClientFrame, name: str, event_id: str) -> None:
    field = PROOF.get(name)
    if field is None:
        return
    given = _string(frame, field)
    if given is None:
        if frame.bound:  # the callback of the very event: it names the payment
            return
        raise FrameError(INVALID_PAYLOAD, f"`{field}` is required.", frame.event)
    event = session.get(OutboxEvent, event_id)
    if event is None or (event.payload.get("data") or {}).get(field) != given:
        raise FrameError(
            INVALID_PAYLOAD,
            f"`{field}` is not the one of this {name} event: not acknowledged.",
            frame.event,
        )


def acknowledge(
    session: Session, principal: Principal, conn: Connection, frame: ClientFrame
) -> str:
    """Record the ack of one of the caller's events; return the event id. Commits."""
    name = ACK_EVENTS[frame.event]
    if "received" in frame.data and frame.data["received"] is not True:
        raise FrameError(INVALID_PAYLOAD, "`received` must be true.", frame.event)
    event_id = _string(frame, "eventId") or _string(frame, "id")
    if event_id is not None:
        event_id = _by_id(session, principal, frame, name, event_id)
    else:
        event_id = _by_subject(session, principal, conn, frame, name)
    _check_proof(session, frame, name, event_id)
    try:
        ack_event(session, principal, event_id, via="socket")
    except NotFound:
        raise _not_found(frame) from None
    except Conflict as exc:
        raise FrameError(INVALID_PAYLOAD, exc.message, frame.event, {"status": 409}) from None
    session.commit()
    return event_id
