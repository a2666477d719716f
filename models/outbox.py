"""The outbox: every spec event, written in the transaction that caused it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import UTCDateTime, db, utcnow

AUDIENCE_MEMBER = "member"
AUDIENCE_ADMIN = "admin"

# push_state: none (not push-worthy) -> pending (deliveries not yet planned) -> planned.
PUSH_NONE = "none"
PUSH_PENDING = "pending"
PUSH_PLANNED = "planned"


class OutboxEvent(db.Model):
    __tablename__ = "outbox_events"
    # The event feed: a member's events after a seq, and their newest seq (ETag).
    __table_args__ = (Index("ix_outbox_events_member_seq", "member_id", "seq"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Commit-ordered and gapless across the whole system (see shield/events/outbox.py),
    # hence increasing per member too: clients resume with `after=<seq>`.
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    member_id: Mapped[str | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    audience: Mapped[str] = mapped_column(String(16), default=AUDIENCE_MEMBER, index=True)
    name: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)
    push_state: Mapped[str] = mapped_column(String(16), default=PUSH_NONE, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class EventSequence(db.Model):
    """A single counter row; its row lock orders event-producing commits."""

    __tablename__ = "event_sequence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class EventRetention(db.Model):
    """A single row: every event with seq <= pruned_through may have been deleted by retention.

    The feed's `reset` reads it instead of min(seq): after a day's prune, min(seq) walks the
    index entries of the 1.4 million rows just deleted (at a million members) until VACUUM
    has run, or for as long as any transaction anywhere is open.
    """

    __tablename__ = "event_retention"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pruned_through: Mapped[int] = mapped_column(BigInteger, default=0)
