"""What GET /wallet shows: the balance, the newest transactions and recent withdrawals."""

from __future__ import annotations

from sqlalchemy.orm import Session

from .ledger import RECENT, balance_cents, list_transactions
from .withdrawals import pending_withdrawal_cents, recent_withdrawals


def wallet_view(session: Session, member_id: str) -> dict:
    """Return what GET /wallet shows (attribute names of WalletOut)."""
    transactions, _ = list_transactions(session, member_id, RECENT)
    return {
        "balance_cents": balance_cents(session, member_id),
        "pending_withdrawal_cents": pending_withdrawal_cents(session, member_id),
        "recent_transactions": transactions,
        "withdrawals": recent_withdrawals(session, member_id),
    }
