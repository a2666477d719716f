"""Whose devices an event pushes to: the owner's global switch and per-kind switches.

Critical events always push. A non-critical one pushes unless the member turned push off
altogether or turned its kind off (PUT /shield/v1/notifications/preferences).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Member, PushKindPreference
from shield.events.catalog import EventRule

Wants = Callable[[str | None, EventRule], bool]


def wants_push(session: Session, member_ids: Iterable[str]) -> Wants:
    """Read the switches of `member_ids` once; return `wants(member_id, rule) -> bool`."""
    ids = set(member_ids)
    enabled = dict(
        session.execute(select(Member.id, Member.push_enabled).where(Member.id.in_(ids)))
        .tuples()
        .all()
    )
    muted = set(
        session.execute(
            select(PushKindPreference.member_id, PushKindPreference.kind).where(
                PushKindPreference.member_id.in_(ids), PushKindPreference.enabled.is_(False)
            )
        )
        .tuples()
        .all()
    )

    def wants(member_id: str | None, rule: EventRule) -> bool:
        if not member_id:
            return False
        if rule.critical:
            return True
        return enabled.get(member_id, True) and (member_id, rule.kind) not in muted

    return wants
