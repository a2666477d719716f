"""The notification inbox: listing, marking read, and the member's push preference."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Member, Notification
from shield.auth import Principal
from shield.errors import NotFound
from shield.members import ensure_member

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def list_notifications(
    session: Session, member_id: str, limit: int = DEFAULT_LIMIT
) -> list[Notification]:
    """The member's newest inbox entries first."""
    return list(
        session.execute(
            select(Notification)
            .where(Notification.member_id == member_id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        ).scalars()
    )


def unread_count(session: Session, member_id: str) -> int:
    return session.execute(
        select(func.count())
        .select_from(Notification)
        .where(Notification.member_id == member_id, Notification.read.is_(False))
    ).scalar_one()


def mark_read(session: Session, member_id: str, notification_id: str) -> Notification:
    """Mark one of the member's own entries read (again is fine); others' are absent."""
    entry = session.execute(
        select(Notification).where(
            Notification.id == notification_id, Notification.member_id == member_id
        )
    ).scalar_one_or_none()
    if entry is None:
        raise NotFound("No such notification.")
    if not entry.read:  # an unchanged row must not bump the poller's version
        entry.read = True
    return entry


def mark_all_read(session: Session, member_id: str) -> int:
    """Mark every unread entry of the member read; returns how many changed."""
    entries = (
        session.execute(
            select(Notification).where(
                Notification.member_id == member_id, Notification.read.is_(False)
            )
        )
        .scalars()
        .all()
    )
    for entry in entries:
        entry.read = True
    return len(entries)


def push_enabled(session: Session, member_id: str) -> bool:
    member = session.get(Member, member_id)
    return True if member is None else bool(member.push_enabled)


def set_push_enabled(session: Session, principal: Principal, enabled: bool) -> bool:
    """Store the preference; critical events push regardless (the dispatcher decides)."""
    member = ensure_member(session, principal)
    member.push_enabled = enabled
    return enabled
