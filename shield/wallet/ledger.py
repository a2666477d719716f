"""The wallet's ledger: posting a transaction, and reading the statement.

Every balance change is one conditional `UPDATE wallets SET balance = balance + delta,
last_seq = last_seq + 1` (never below zero) beside one immutable WalletTransaction carrying
the new balance and the new `seq`, in the caller's transaction. Both numbers come from the
same row version, so ordered by `seq` every `balance_after` is the one before it plus its own
amount, whatever order concurrent payouts, withdrawals and refunds took their timestamps in.
On PostgreSQL the UPDATE holds the wallet row's lock to commit; on SQLite writers are serial.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models import Wallet, WalletTransaction
from shield.errors import ApiError

RECENT = 10


def balance_cents(session: Session, member_id: str) -> int:
    value = session.execute(
        select(Wallet.balance_cents).where(Wallet.member_id == member_id)
    ).scalar_one_or_none()
    return value or 0


def ledger_sum_cents(session: Session, member_id: str) -> int:
    """Return the sum of the member's transactions (always equal to the balance)."""
    return session.execute(
        select(func.coalesce(func.sum(WalletTransaction.amount_cents), 0)).where(
            WalletTransaction.member_id == member_id
        )
    ).scalar_one()


def list_transactions(
    session: Session, member_id: str, limit: int = RECENT, before: str | None = None
) -> tuple[list[WalletTransaction], str | None]:
    """Return a page of the statement, newest first, and the cursor of the next page.

    The order is the wallet's `seq`: read downwards, each row's balance_after minus its
    amount is the next row's balance_after. `before` is a transaction id (the cursor).
    """
    query = select(WalletTransaction).where(WalletTransaction.member_id == member_id)
    if before:
        anchor = session.execute(
            select(WalletTransaction.seq).where(
                WalletTransaction.member_id == member_id, WalletTransaction.id == before
            )
        ).scalar_one_or_none()
        if anchor is None:
            raise ApiError("Query parameter 'before' is not one of your transactions.", status=400)
        query = query.where(WalletTransaction.seq < anchor)
    query = query.order_by(WalletTransaction.seq.desc()).limit(limit + 1)
    rows = list(session.execute(query).scalars())
    page = rows[:limit]
    return page, (page[-1].id if len(rows) > limit else None)


def lock_wallet(session: Session, member_id: str, *, create: bool = False) -> Wallet | None:
    """Lock the member's wallet row (PostgreSQL) and return it; None when there is none,
    unless `create`, which makes an empty one.

    Lock order everywhere: claim or withdrawal, then wallet, then (at flush) the resource
    versions and the event sequence; taking the wallet before any flush keeps that order.
    """
    wallet = session.execute(
        select(Wallet)
        .where(Wallet.member_id == member_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if wallet is None and create:
        wallet = Wallet(member_id=member_id, balance_cents=0, last_seq=0)
        session.add(wallet)
        session.flush([wallet])
    return wallet


def post(
    session: Session,
    member_id: str,
    amount_cents: int,
    now: datetime,
    *,
    type: str,
    description: str,
    **links: str | None,
) -> WalletTransaction | None:
    """Add `amount_cents` (signed) to the wallet and write its transaction; return it.

    Returns None, changing nothing, when there is no wallet or a debit would take the
    balance below zero. `links` are the transaction's payout_id, claim_id, withdrawal_id.
    """
    statement = update(Wallet).where(Wallet.member_id == member_id)
    if amount_cents < 0:
        statement = statement.where(Wallet.balance_cents >= -amount_cents)
    statement = statement.values(
        balance_cents=Wallet.balance_cents + amount_cents,
        last_seq=Wallet.last_seq + 1,
        updated_at=now,
    ).returning(Wallet.balance_cents, Wallet.last_seq)
    row = session.execute(statement).first()
    if row is None:
        return None
    transaction = WalletTransaction(
        member_id=member_id,
        seq=row.last_seq,
        type=type,
        amount_cents=amount_cents,
        balance_after_cents=row.balance_cents,
        description=description,
        created_at=now,
        **links,
    )
    session.add(transaction)
    session.flush([transaction])
    return transaction
