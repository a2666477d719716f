"""Helpers of the wallet tests: URLs, keys and money facts read straight from the tables."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from models import OutboxEvent, Wallet, WalletTransaction, Withdrawal, db
from shield.events import message

WALLET = "/shield/v1/wallet"
WITHDRAWALS = "/shield/v1/wallet/withdrawals"
ADMIN_WITHDRAWALS = "/shield/v1/admin/withdrawals"


def key() -> str:
    return uuid.uuid4().hex


def state(member_id: str) -> dict:
    """The money facts of a member, read straight from the tables (inside an app context)."""
    return {
        "balance": db.session.execute(
            select(Wallet.balance_cents).where(Wallet.member_id == member_id)
        ).scalar_one_or_none(),
        "ledger": db.session.execute(
            select(func.coalesce(func.sum(WalletTransaction.amount_cents), 0)).where(
                WalletTransaction.member_id == member_id
            )
        ).scalar_one(),
        "transactions": db.session.execute(
            select(func.count())
            .select_from(WalletTransaction)
            .where(WalletTransaction.member_id == member_id)
        ).scalar_one(),
        "withdrawals": db.session.execute(
            select(func.count()).select_from(Withdrawal).where(Withdrawal.member_id == member_id)
        ).scalar_one(),
    }


def events(member_id: str, name: str | None = None) -> list[dict]:
    """The member's outbox events as channels send them, in seq order."""
    query = select(OutboxEvent).where(OutboxEvent.member_id == member_id)
    if name:
        query = query.where(OutboxEvent.name == name)
    rows = db.session.execute(query.order_by(OutboxEvent.seq)).scalars()
    return [message(row.payload, row.id, row.seq) | {"_push": row.push_state} for row in rows]
