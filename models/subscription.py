"""Subscriptions and their yearly coverage periods."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import UTCDateTime, db, new_id, utcnow

STATUSES = ("active", "inactive", "cancelled", "past_due")
BILLING_PERIODS = ("monthly", "annual")


class Subscription(db.Model):
    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("sub"))
    member_id: Mapped[str] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), unique=True, index=True
    )
    plan_id: Mapped[str] = mapped_column(String(32))
    billing_period: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    renewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_renewal_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_payout_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set once restriction_expired has been announced for the current last_payout_at.
    restriction_expiry_sent: Mapped[bool] = mapped_column(Boolean, default=True)
    # Failed charge attempts since the last successful renewal.
    failed_charges: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CoveragePeriod(db.Model):
    """One coverage year of a subscription: what has been paid out and how many tickets."""

    __tablename__ = "coverage_periods"
    __table_args__ = (UniqueConstraint("subscription_id", "period_start"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("cov"))
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_cents: Mapped[int] = mapped_column(Integer, default=0)
    tickets_used: Mapped[int] = mapped_column(Integer, default=0)
