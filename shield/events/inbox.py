"""Inbox entries: events that the catalog marks for the inbox become notifications."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Notification
from shield.wire import iso

from .texts import describe


def add_entry(
    session: Session,
    record,
    name: str,
    data: dict,
    notification_type: str,
    member_id: str,
    now: datetime,
) -> Notification:
    """Create the inbox entry for an event and record its `notification_received`."""
    text = describe(name, data)
    entry = Notification(
        member_id=member_id,
        title=text.title,
        message=text.message,
        type=notification_type,
        read=False,
        claim_id=text.claim_id,
        route=text.route,
        source_event=name,
        created_at=now,
    )
    session.add(entry)
    session.flush([entry])
    unread = session.execute(
        select(func.count())
        .select_from(Notification)
        .where(Notification.member_id == member_id, Notification.read.is_(False))
    ).scalar_one()
    record(
        session, "notification_received", received_data(entry, unread), member_id=member_id, now=now
    )
    return entry


def received_data(entry: Notification, unread_count: int) -> dict:
    """Return the `notification_received` data for an inbox entry."""
    extra = {"claimId": entry.claim_id, "route": entry.route}
    return {
        "notification": {
            "id": entry.id,
            "title": entry.title,
            "message": entry.message,
            "type": entry.type,
            "read": False,
            "createdAt": iso(entry.created_at),
            "data": extra if any(extra.values()) else None,
        },
        "unreadCount": unread_count,
    }
