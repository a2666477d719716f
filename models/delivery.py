"""Push deliveries (one per event, device and round), their attempts, and event acks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from .base import UTCDateTime, db, new_id, utcnow

PENDING = "pending"  # due at next_attempt_at
SENT = "sent"
FAILED = "failed"  # failed for good (bad payload, dead token, attempts exhausted)
CANCELLED = "cancelled"  # no longer needed (event acked before a retry round)


class PushDelivery(db.Model):
    __tablename__ = "push_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "device_id", "round"),
        # The dispatcher's claim queries: due pending deliveries, critical ones first, each
        # in due order (two range scans, no sort of the whole backlog).
        Index("ix_push_deliveries_due", "status", "critical", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("dlv"))
    event_id: Mapped[str] = mapped_column(
        ForeignKey("outbox_events.id", ondelete="CASCADE"), index=True
    )
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    # 0 = first push; 1.. = re-push of an unacknowledged critical event.
    round: Mapped[int] = mapped_column(Integer, default=0)
    # The event is critical (claim approved, payment received, ...): after an outage the
    # backlog drains critical deliveries first.
    critical: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    status: Mapped[str] = mapped_column(String(16), default=PENDING, index=True)
    # Attempts that spent the retry budget: failures of this token only. Attempts during an
    # outage for everyone cost time, not budget (each HTTP attempt is a DeliveryAttempt row).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # A delivery is leased only while a sender is sending it; the sender renews the lease
    # every few seconds, so it lapses within SHIELD_PUSH_LEASE_SECONDS of the sender's death.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Which dispatcher holds the lease: results are written only while it still does.
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    last_error: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeliveryAttempt(db.Model):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("push_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    outcome: Mapped[str] = mapped_column(String(32))  # sent, retry, token_dead, failed, ...
    http_status: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)


class PushPause(db.Model):
    """Sends to one platform held back (FCM THIRD_PARTY_AUTH_ERROR: APNs credentials rejected)."""

    __tablename__ = "push_pauses"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    paused_until: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(200))
    # When admins were last alerted, so a long outage raises one alert, not one per probe.
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EventAck(db.Model):
    __tablename__ = "event_acks"

    event_id: Mapped[str] = mapped_column(
        ForeignKey("outbox_events.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    via: Mapped[str] = mapped_column(String(16))  # rest | socket
    acked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
