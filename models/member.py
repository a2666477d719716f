"""Members (identity lives upstream: the id is the JWT `sub`) and their resource versions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import UTCDateTime, db, utcnow

ROLE_MEMBER = "member"
ROLE_ADMIN = "admin"

# The resources a poller can ask about; each has a counter in ResourceVersion.
RESOURCES = ("claims", "wallet", "subscription", "notifications", "events")


class Member(db.Model):
    __tablename__ = "members"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16), default=ROLE_MEMBER)
    push_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def is_admin(self) -> bool:
        return self.role == ROLE_ADMIN


class ResourceVersion(db.Model):
    """Per-member counters bumped in the same transaction as any change to a resource.

    `*_valid_until` is the next instant a clock-derived field of that resource changes
    (an appeal deadline, the end of the cancellation restriction, a day boundary of
    `daysRemaining`): a 304 is only given before it.
    """

    __tablename__ = "resource_versions"

    member_id: Mapped[str] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    claims: Mapped[int] = mapped_column(Integer, default=1)
    wallet: Mapped[int] = mapped_column(Integer, default=1)
    subscription: Mapped[int] = mapped_column(Integer, default=1)
    notifications: Mapped[int] = mapped_column(Integer, default=1)
    events: Mapped[int] = mapped_column(Integer, default=1)
    claims_valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    subscription_valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PushKindPreference(db.Model):
    """A member's switch for one kind of push notice (shield/events/kinds.py).

    Only switched kinds have a row; a kind without one is on. Critical kinds never get one.
    """

    __tablename__ = "push_kind_preferences"

    member_id: Mapped[str] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
