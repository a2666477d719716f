"""Claims: a member's ticket, its review state and the decision on it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import UTCDateTime, db, new_id, utcnow

SUBMITTED = "submitted"
UNDER_REVIEW = "under_review"
APPROVED = "approved"
PAID = "paid"
DENIED = "denied"
STATUSES = (SUBMITTED, UNDER_REVIEW, APPROVED, PAID, DENIED)

# The only moves a claim may make (domain.md); anything else is a 409.
TRANSITIONS: dict[str, frozenset[str]] = {
    SUBMITTED: frozenset({UNDER_REVIEW, APPROVED, DENIED}),
    UNDER_REVIEW: frozenset({APPROVED, DENIED}),
    APPROVED: frozenset({PAID}),
    PAID: frozenset(),
    DENIED: frozenset(),
}


class Claim(db.Model):
    __tablename__ = "claims"
    __table_args__ = (UniqueConstraint("member_id", "ticket_number"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("clm"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    ticket_number: Mapped[str] = mapped_column(String(64), index=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    city: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(64))
    violation_type: Mapped[str] = mapped_column(String(128))
    ticket_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=SUBMITTED, index=True)
    estimated_payout_cents: Mapped[int] = mapped_column(Integer, default=0)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    denied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payout_cents: Mapped[int | None] = mapped_column(Integer)
    deductible_cents: Mapped[int | None] = mapped_column(Integer)
    copay_cents: Mapped[int | None] = mapped_column(Integer)
    denial_code: Mapped[str | None] = mapped_column(String(8))
    decision_notes: Mapped[str | None] = mapped_column(Text)
    appeal_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    proof_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    proof_due_by: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    proof_uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    proof_document_url: Mapped[str | None] = mapped_column(Text)
    proof_overdue_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fraud_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The member-facing JSON, rendered at every flush that changes the claim (see
    # shield/claims/serialize.py): the claims list sends it without re-serialising.
    rendered: Mapped[str | None] = mapped_column(Text)

    def can_move_to(self, new_status: str) -> bool:
        return new_status in TRANSITIONS[self.status]
