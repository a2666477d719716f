"""Withdrawals, from request to settlement, and the lists that show them.

A withdrawal debits the wallet when it is requested (pending), goes to the bank (processing)
and ends completed, or failed with the amount refunded once. Each step is a guarded
`UPDATE ... WHERE status = <expected>` after the withdrawal row's lock, so it happens once
on PostgreSQL and on SQLite alike; money moves only through `ledger.post`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models import Withdrawal, utcnow
from models.wallet import REFUND, WITHDRAWAL
from models.withdrawal import COMPLETED, FAILED, PENDING, PROCESSING
from shield.errors import ApiError, Conflict, NotFound
from shield.events import record
from shield.wire import dollars, iso

from .bank import BankProvider
from .ledger import RECENT, balance_cents, lock_wallet, post

IN_FLIGHT = (PENDING, PROCESSING)
STATUSES = (PENDING, PROCESSING, COMPLETED, FAILED)
# Which status each step may start from.
ALLOWED_FROM = {PROCESSING: (PENDING,), COMPLETED: IN_FLIGHT, FAILED: IN_FLIGHT}


# -- reading ---------------------------------------------------------------------------------


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
    wallet = lock_wallet(session, member_id)
    now = now or utcnow()  # taken under the lock, like every ledger row
    if wallet is None or wallet.balance_cents < amount_cents:
        raise _insufficient(wallet.balance_cents if wallet else 0, amount_cents)
    withdrawal = Withdrawal(
        member_id=member_id,
        amount_cents=amount_cents,
        bank_last_four=bank_last_four,
        status=PENDING,
        created_at=now,
    )
    session.add(withdrawal)
    session.flush([withdrawal])  # the debit's transaction refers to it
    debit = post(
        session,
        member_id,
        -amount_cents,
        now,
        type=WITHDRAWAL,
        description=f"Withdrawal to bank account ending {bank_last_four}",
        withdrawal_id=withdrawal.id,
    )
    if debit is None:  # only without row locks (SQLite): another debit came first
        raise _insufficient(balance_cents(session, member_id), amount_cents)
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
    withdrawal = _lock(session, withdrawal_id)
    now = now or utcnow()
    _move(session, withdrawal, PROCESSING, processing_at=now)
    withdrawal.transfer_ref = bank.start_transfer(withdrawal)
    session.flush()
    return withdrawal


def complete_withdrawal(
    session: Session, withdrawal_id: str, now: datetime | None = None
) -> Withdrawal:
    """pending|processing -> completed: the money reached the bank account."""
    withdrawal = _lock(session, withdrawal_id)
    wallet = lock_wallet(session, withdrawal.member_id)
    now = now or utcnow()
    previous = _move(session, withdrawal, COMPLETED, completed_at=now)
    record(
        session,
        "withdrawal_status_changed",
        status_changed_data(withdrawal, previous, wallet.balance_cents if wallet else 0),
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
    lock_wallet(session, withdrawal.member_id)
    now = now or utcnow()  # taken under the wallet lock, like every ledger row
    previous = _move(session, withdrawal, FAILED, failure_reason=reason)
    refund = post(
        session,
        withdrawal.member_id,
        withdrawal.amount_cents,
        now,
        type=REFUND,
        description="Refund of failed withdrawal to bank account ending "
        f"{withdrawal.bank_last_four}",
        withdrawal_id=withdrawal.id,
    )
    if refund is None:
        raise NotFound("The member's wallet is missing.")
    record(
        session,
        "withdrawal_status_changed",
        status_changed_data(withdrawal, previous, refund.balance_after_cents),
        member_id=withdrawal.member_id,
        now=now,
    )
    session.flush()
    return withdrawal
