"""The wallet: reading the ledger, and withdrawals from request to settlement.

Every balance change is one conditional `UPDATE wallets SET balance = balance + delta`
(never below zero) beside one immutable WalletTransaction carrying the new balance, in the
caller's transaction. On PostgreSQL the wallet and withdrawal rows are locked first; the
conditional UPDATEs (balance, and `status = <expected>` for every withdrawal step) keep the
same guarantees on SQLite, which has no row locks.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from models import Wallet, WalletTransaction, Withdrawal, utcnow
from models.wallet import REFUND, WITHDRAWAL
from models.withdrawal import COMPLETED, FAILED, PENDING, PROCESSING
from shield.errors import ApiError, Conflict, NotFound
from shield.events import record
from shield.wire import dollars, iso

from . import bank as banking
from .bank import BankProvider

RECENT = 10
IN_FLIGHT = (PENDING, PROCESSING)
STATUSES = (PENDING, PROCESSING, COMPLETED, FAILED)
# Which status each step may start from.
ALLOWED_FROM = {PROCESSING: (PENDING,), COMPLETED: IN_FLIGHT, FAILED: IN_FLIGHT}


# -- reading ---------------------------------------------------------------------------------


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


def _newest_first(query):
    return query.order_by(WalletTransaction.created_at.desc(), WalletTransaction.id.desc())


def list_transactions(
    session: Session, member_id: str, limit: int = RECENT, before: str | None = None
) -> tuple[list[WalletTransaction], str | None]:
    """Return a page of transactions, newest first, and the cursor of the next page."""
    query = select(WalletTransaction).where(WalletTransaction.member_id == member_id)
    if before:
        anchor = session.execute(
            select(WalletTransaction.created_at, WalletTransaction.id).where(
                WalletTransaction.member_id == member_id, WalletTransaction.id == before
            )
        ).first()
        if anchor is None:
            raise ApiError("Query parameter 'before' is not one of your transactions.", status=400)
        query = query.where(
            or_(
                WalletTransaction.created_at < anchor.created_at,
                and_(
                    WalletTransaction.created_at == anchor.created_at,
                    WalletTransaction.id < anchor.id,
                ),
            )
        )
    rows = list(session.execute(_newest_first(query).limit(limit + 1)).scalars())
    page = rows[:limit]
    return page, (page[-1].id if len(rows) > limit else None)


def recent_withdrawals(session: Session, member_id: str, limit: int = RECENT) -> list[Withdrawal]:
    """Every withdrawal still in flight, plus the newest ones, newest first."""
    mine = select(Withdrawal).where(Withdrawal.member_id == member_id)
    newest = session.execute(
        mine.order_by(Withdrawal.created_at.desc(), Withdrawal.id.desc()).limit(limit)
    ).scalars()
    in_flight = session.execute(mine.where(Withdrawal.status.in_(IN_FLIGHT))).scalars()
    rows = {w.id: w for w in (*newest, *in_flight)}
    return sorted(rows.values(), key=lambda w: (w.created_at, w.id), reverse=True)


def pending_withdrawal_cents(session: Session, member_id: str) -> int:
    return session.execute(
        select(func.coalesce(func.sum(Withdrawal.amount_cents), 0)).where(
            Withdrawal.member_id == member_id, Withdrawal.status.in_(IN_FLIGHT)
        )
    ).scalar_one()


def wallet_view(session: Session, member_id: str) -> dict:
    """Return what GET /wallet shows (attribute names of WalletOut)."""
    transactions, _ = list_transactions(session, member_id, RECENT)
    return {
        "balance_cents": balance_cents(session, member_id),
        "pending_withdrawal_cents": pending_withdrawal_cents(session, member_id),
        "recent_transactions": transactions,
        "withdrawals": recent_withdrawals(session, member_id),
    }


def get_member_withdrawal(session: Session, member_id: str, withdrawal_id: str) -> Withdrawal:
    """Return a member's own withdrawal; someone else's is as absent as a missing one."""
    withdrawal = session.get(Withdrawal, withdrawal_id)
    if withdrawal is None or withdrawal.member_id != member_id:
        raise NotFound("No such withdrawal.")
    return withdrawal


def list_withdrawals(
    session: Session,
    status: str | None = None,
    member_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Withdrawal]:
    """All members' withdrawals, oldest first (the admin queue)."""
    query = select(Withdrawal).order_by(Withdrawal.created_at.asc(), Withdrawal.id.asc())
    if status:
        query = query.where(Withdrawal.status == status)
    if member_id:
        query = query.where(Withdrawal.member_id == member_id)
    return list(session.execute(query.limit(limit).offset(offset)).scalars())


# -- money -----------------------------------------------------------------------------------


def _lock_wallet(session: Session, member_id: str) -> int | None:
    """Lock the member's wallet row and return its balance (None when there is no wallet).

    Lock order everywhere: withdrawal, then wallet, then (at flush) the resource versions
    and the event sequence; taking the wallet before any flush keeps that order.
    """
    return session.execute(
        select(Wallet.balance_cents).where(Wallet.member_id == member_id).with_for_update()
    ).scalar_one_or_none()


def apply_balance_change(
    session: Session, member_id: str, delta_cents: int, now: datetime
) -> int | None:
    """Add `delta_cents` to the balance unless it would go below zero; return the new one."""
    statement = update(Wallet).where(Wallet.member_id == member_id)
    if delta_cents < 0:
        statement = statement.where(Wallet.balance_cents >= -delta_cents)
    statement = statement.values(
        balance_cents=Wallet.balance_cents + delta_cents, updated_at=now
    ).returning(Wallet.balance_cents)
    return session.execute(statement).scalar_one_or_none()


def _insufficient(balance: int, amount_cents: int) -> Conflict:
    return Conflict(
        "The wallet balance is lower than the amount to withdraw.",
        code="INSUFFICIENT_FUNDS",
        details={"balance": dollars(balance), "requested": dollars(amount_cents)},
    )


def request_withdrawal(
    session: Session,
    member_id: str,
    amount_cents: int,
    bank_last_four: str,
    now: datetime | None = None,
) -> Withdrawal:
    """Debit the wallet and create a pending withdrawal, or raise 409 INSUFFICIENT_FUNDS."""
    if amount_cents <= 0:
        raise ApiError("The amount must be positive.", status=422)
    balance = _lock_wallet(session, member_id)
    now = now or utcnow()  # taken under the lock, so ledger time order is balance order
    if balance is None or balance < amount_cents:
        raise _insufficient(balance or 0, amount_cents)
    new_balance = apply_balance_change(session, member_id, -amount_cents, now)
    if new_balance is None:  # only without row locks (SQLite): another debit came first
        raise _insufficient(balance_cents(session, member_id), amount_cents)
    withdrawal = Withdrawal(
        member_id=member_id,
        amount_cents=amount_cents,
        bank_last_four=bank_last_four,
        status=PENDING,
        created_at=now,
    )
    session.add(withdrawal)
    session.flush([withdrawal])
    session.add(
        WalletTransaction(
            member_id=member_id,
            type=WITHDRAWAL,
            amount_cents=-amount_cents,
            balance_after_cents=new_balance,
            withdrawal_id=withdrawal.id,
            description=f"Withdrawal to bank account ending {bank_last_four}",
            created_at=now,
        )
    )
    session.flush()
    return withdrawal


# -- the withdrawal's steps ------------------------------------------------------------------


def _lock(session: Session, withdrawal_id: str) -> Withdrawal:
    withdrawal = session.execute(
        select(Withdrawal)
        .where(Withdrawal.id == withdrawal_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if withdrawal is None:
        raise NotFound("No such withdrawal.")
    return withdrawal


def _illegal(withdrawal_status: str, new_status: str) -> Conflict:
    return Conflict(
        f"A withdrawal that is {withdrawal_status} cannot become {new_status}.",
        details={"status": withdrawal_status, "requested": new_status},
    )


def _move(session: Session, withdrawal: Withdrawal, new_status: str, **values) -> str:
    """Move the withdrawal to `new_status` only if it is still in the status we read.

    The guarded UPDATE is what makes a step happen once where rows cannot be locked
    (SQLite); the attributes are then set on the instance too, so the flush runs the
    outbox hook (version bump and the recorded event) like any other change.
    """
    previous = withdrawal.status
    if previous not in ALLOWED_FROM[new_status]:
        raise _illegal(previous, new_status)
    result = session.execute(
        update(Withdrawal)
        .where(Withdrawal.id == withdrawal.id, Withdrawal.status == previous)
        .values(status=new_status, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # moved by someone else since we read it (SQLite only)
        session.refresh(withdrawal)
        raise _illegal(withdrawal.status, new_status)
    withdrawal.status = new_status
    for name, value in values.items():
        setattr(withdrawal, name, value)
    return previous


def status_changed_data(withdrawal: Withdrawal, previous: str, wallet_balance_cents: int) -> dict:
    """Return the spec's `withdrawal_status_changed` data (optional fields only when set)."""
    data = {
        "withdrawalId": withdrawal.id,
        "previousStatus": previous,
        "newStatus": withdrawal.status,
        "amount": dollars(withdrawal.amount_cents),
        "bankAccountLastFour": withdrawal.bank_last_four,
    }
    if withdrawal.status == COMPLETED:
        data["completedAt"] = iso(withdrawal.completed_at)
    if withdrawal.status == FAILED:
        data["failureReason"] = withdrawal.failure_reason
    data["newWalletBalance"] = dollars(wallet_balance_cents)
    return data


def start_processing(
    session: Session, withdrawal_id: str, bank: BankProvider, now: datetime | None = None
) -> Withdrawal:
    """pending -> processing: start the bank transfer (no spec event: visible by polling)."""
    now = now or utcnow()
    withdrawal = _lock(session, withdrawal_id)
    _move(session, withdrawal, PROCESSING, processing_at=now)
    withdrawal.transfer_ref = bank.start_transfer(withdrawal)
    session.flush()
    return withdrawal


def complete_withdrawal(
    session: Session, withdrawal_id: str, now: datetime | None = None
) -> Withdrawal:
    """pending|processing -> completed: the money reached the bank account."""
    withdrawal = _lock(session, withdrawal_id)
    balance = _lock_wallet(session, withdrawal.member_id) or 0
    now = now or utcnow()
    previous = _move(session, withdrawal, COMPLETED, completed_at=now)
    record(
        session,
        "withdrawal_status_changed",
        status_changed_data(withdrawal, previous, balance),
        member_id=withdrawal.member_id,
        now=now,
    )
    return withdrawal


def fail_withdrawal(
    session: Session, withdrawal_id: str, reason: str, now: datetime | None = None
) -> Withdrawal:
    """pending|processing -> failed: refund the wallet once and tell the member."""
    reason = (reason or "").strip()[:200] or "The bank transfer failed."
    withdrawal = _lock(session, withdrawal_id)
    _lock_wallet(session, withdrawal.member_id)
    now = now or utcnow()  # taken under the wallet lock, like every ledger row
    previous = _move(session, withdrawal, FAILED, failure_reason=reason)
    new_balance = apply_balance_change(session, withdrawal.member_id, withdrawal.amount_cents, now)
    if new_balance is None:
        raise NotFound("The member's wallet is missing.")
    session.add(
        WalletTransaction(
            member_id=withdrawal.member_id,
            type=REFUND,
            amount_cents=withdrawal.amount_cents,
            balance_after_cents=new_balance,
            withdrawal_id=withdrawal.id,
            description=f"Refund of failed withdrawal to bank account ending "
            f"{withdrawal.bank_last_four}",
            created_at=now,
        )
    )
    record(
        session,
        "withdrawal_status_changed",
        status_changed_data(withdrawal, previous, new_balance),
        member_id=withdrawal.member_id,
        now=now,
    )
    session.flush()
    return withdrawal


# -- the job's unit of work ------------------------------------------------------------------


def due_withdrawals(session: Session, limit: int = 100) -> list[tuple[str, str]]:
    """Return (id, status) of pending withdrawals, then of processing ones, oldest first."""
    pending = session.execute(
        select(Withdrawal.id, Withdrawal.status)
        .where(Withdrawal.status == PENDING)
        .order_by(Withdrawal.created_at.asc(), Withdrawal.id.asc())
        .limit(limit)
    ).all()
    processing = session.execute(
        select(Withdrawal.id, Withdrawal.status)
        .where(Withdrawal.status == PROCESSING)
        .order_by(Withdrawal.processing_at.asc(), Withdrawal.id.asc())
        .limit(limit)
    ).all()
    return [(row.id, row.status) for row in (*pending, *processing)]


def advance_withdrawal(
    session: Session,
    withdrawal_id: str,
    expected_status: str,
    bank: BankProvider,
    now: datetime | None = None,
) -> str | None:
    """Take one step of a withdrawal another worker is not holding; return its new status.

    Returns None when the row is locked by another worker, has moved on since it was
    listed, or its transfer has not settled yet.
    """
    now = now or utcnow()
    withdrawal = session.execute(
        select(Withdrawal)
        .where(Withdrawal.id == withdrawal_id, Withdrawal.status == expected_status)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if withdrawal is None:
        return None
    try:
        if expected_status == PENDING:
            return start_processing(session, withdrawal_id, bank, now).status
        outcome, reason = bank.transfer_status(
            withdrawal.transfer_ref or "", withdrawal.processing_at or now, now
        )
        if outcome == banking.SETTLED:
            return complete_withdrawal(session, withdrawal_id, now).status
        if outcome == banking.FAILED:
            return fail_withdrawal(session, withdrawal_id, reason or "", now).status
        return None
    except Conflict:  # moved by someone else between the listing and the lock (SQLite)
        return None
