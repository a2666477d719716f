"""The notification inbox: listing, marking read, and the member's push preferences."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Member, Notification, PushKindPreference, utcnow
from shield.auth import Principal
from shield.errors import NotFound, Unprocessable
from shield.events.kinds import BY_ID, KINDS
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


def preferences(session: Session, member_id: str) -> dict:
    """The global switch and every kind with `enabled` and `locked` (critical: locked on)."""
    muted = set(
        session.execute(
            select(PushKindPreference.kind).where(
                PushKindPreference.member_id == member_id, PushKindPreference.enabled.is_(False)
            )
        ).scalars()
    )
    return {
        "push_enabled": push_enabled(session, member_id),
        "kinds": [
            {
                "kind": kind.id,
                "title": kind.title,
                "enabled": kind.locked or kind.id not in muted,
                "locked": kind.locked,
            }
            for kind in KINDS
        ],
    }


def check_kinds(switches: dict[str, bool]) -> None:
    """Reject unknown kinds and locked kinds turned off, all at once, before any write."""
    unknown = sorted(k for k in switches if k not in BY_ID)
    if unknown:
        raise Unprocessable(
            f"Unknown notification kind: {', '.join(unknown)}.",
            details={"kinds": {k: "Unknown kind." for k in unknown}, "known": sorted(BY_ID)},
        )
    locked = sorted(k for k, on in switches.items() if BY_ID[k].locked and not on)
    if locked:
        raise Unprocessable(
            f"{', '.join(locked)} cannot be turned off: critical notices always push.",
            details={"kinds": {k: "Locked on." for k in locked}},
        )


def set_preferences(
    session: Session,
    principal: Principal,
    push_enabled: bool | None = None,
    switches: dict[str, bool] | None = None,
    now=None,
) -> dict:
    """Store the global switch and per-kind switches; critical kinds stay on (checked first)."""
    switches = switches or {}
    check_kinds(switches)
    member = ensure_member(session, principal)
    if push_enabled is not None:
        member.push_enabled = push_enabled
    for kind, on in sorted(switches.items()):
        if BY_ID[kind].locked:
            continue  # "on" for a locked kind: nothing to store
        row = session.get(PushKindPreference, (member.id, kind))
        if row is None:
            row = PushKindPreference(member_id=member.id, kind=kind)
            session.add(row)
        row.enabled = on
        row.updated_at = now or utcnow()
    session.flush()
    return preferences(session, member.id)
