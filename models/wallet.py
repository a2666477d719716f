"""The wallet ledger: immutable transactions, and a balance kept beside them for speed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import UTCDateTime, db, new_id, utcnow

PAYOUT = "payout"  # credit
WITHDRAWAL = "withdrawal"  # debit
REFUND = "refund"  # credit back after a failed withdrawal
TYPES = (PAYOUT, WITHDRAWAL, REFUND)


class Wallet(db.Model):
    """The balance equals the sum of the member's transactions; both change together.

    `last_seq` is the `seq` of the wallet's newest transaction: one UPDATE adds the amount to
    the balance and 1 to `last_seq`, so each transaction's place in the statement and its
    balance after come from the same row version.
    """

    __tablename__ = "wallets"
    __table_args__ = (CheckConstraint("balance_cents >= 0", name="balance_not_negative"),)

    member_id: Mapped[str] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    balance_cents: Mapped[int] = mapped_column(Integer, default=0)
    last_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WalletTransaction(db.Model):
    __tablename__ = "wallet_transactions"
    __table_args__ = (
        # A payout is credited once; a withdrawal is debited once and refunded at most once.
        UniqueConstraint("payout_id"),
        UniqueConstraint("withdrawal_id", "type"),
        # The wallet's statement order: 1, 2, 3... per member, each balance_after chaining
        # from the one before it.
        UniqueConstraint("member_id", "seq"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("txn"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(Integer)  # signed: credits > 0, debits < 0
    balance_after_cents: Mapped[int] = mapped_column(Integer)
    payout_id: Mapped[str | None] = mapped_column(ForeignKey("payouts.id"))
    claim_id: Mapped[str | None] = mapped_column(ForeignKey("claims.id"))
    withdrawal_id: Mapped[str | None] = mapped_column(ForeignKey("withdrawals.id"))
    description: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
