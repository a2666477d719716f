"""Members come from the identity provider: create one the first time its token is seen."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Member, ResourceVersion, Wallet

from .auth import Principal


def ensure_member(session: Session, principal: Principal) -> Member:
    """Return the caller's member row, creating it (with versions and wallet) on first use."""
    member = session.get(Member, principal.id)
    if member is None:
        try:
            with session.begin_nested():
                member = Member(id=principal.id, email=principal.email, role=principal.role)
                session.add(member)
                session.add(ResourceVersion(member_id=principal.id))
                session.add(Wallet(member_id=principal.id, balance_cents=0))
        except IntegrityError:  # a concurrent first request created it
            member = session.get(Member, principal.id)
        return member
    if member.role != principal.role:
        member.role = principal.role
    if principal.email and member.email != principal.email:
        member.email = principal.email
    return member


def ensure_member_id(session: Session, member_id: str) -> Member:
    """For admin calls naming a member who may not have signed in yet."""
    member = session.get(Member, member_id)
    if member is not None:
        return member
    return ensure_member(
        session,
        Principal(
            id=member_id,
            role="member",
            email=None,
            expires_at=datetime.max.replace(tzinfo=UTC),
        ),
    )
