"""The withdrawal job: start bank transfers of pending withdrawals, settle processing ones.

Safe with several runners at once: each withdrawal is claimed with
`SELECT ... FOR UPDATE SKIP LOCKED` and only if it is still in the status it was listed
with, and every item is its own transaction (committed, or rolled back on error).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Withdrawal, db, utcnow
from models.withdrawal import PENDING, PROCESSING
from shield.errors import Conflict
from shield.wallet import bank as banking
from shield.wallet import withdrawals
from shield.wallet.bank import BankProvider, bank_for

log = logging.getLogger(__name__)

BATCH = 100


def due_withdrawals(session: Session, limit: int = 100) -> list[tuple[str, str]]:
    """Return (id, status) of pending withdrawals, then of processing ones, oldest first."""

    def oldest(status: str, since) -> list:
        return session.execute(
            select(Withdrawal.id, Withdrawal.status)
            .where(Withdrawal.status == status)
            .order_by(since.asc(), Withdrawal.id.asc())
            .limit(limit)
        ).all()

    rows = (*oldest(PENDING, Withdrawal.created_at), *oldest(PROCESSING, Withdrawal.processing_at))
    return [(row.id, row.status) for row in rows]


def advance_withdrawal(
    session: Session,
    withdrawal_id: str,
    expected_status: str,
    bank: BankProvider,
    now: datetime | None = None,
) -> str | None:
    """Take one step of a withdrawal another worker is not holding; return its new status.

    Returns None when the row is locked by another worker, has moved on since it was
    listed, or its transfer has not settled yet. Without `now` (the scheduler), each step
    takes its time under the locks it holds, so a refund is stamped when it reached the wallet.
    """
    clock = now or utcnow()
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
            return withdrawals.start_processing(session, withdrawal_id, bank, now).status
        outcome, reason = bank.transfer_status(
            withdrawal.transfer_ref or "", withdrawal.processing_at or clock, clock
        )
        if outcome == banking.SETTLED:
            return withdrawals.complete_withdrawal(session, withdrawal_id, now).status
        if outcome == banking.FAILED:
            return withdrawals.fail_withdrawal(session, withdrawal_id, reason or "", now).status
        return None
    except Conflict:  # moved by someone else between the listing and the lock (SQLite)
        return None


def process_due_withdrawals(
    session: Session, bank: BankProvider, now: datetime | None = None, limit: int = BATCH
) -> int:
    """Take one step for each due withdrawal (commit per item); return how many moved."""
    due = due_withdrawals(session, limit)
    session.commit()
    moved = 0
    for withdrawal_id, status in due:
        try:
            new_status = advance_withdrawal(session, withdrawal_id, status, bank, now)
            session.commit()
        except Exception:
            session.rollback()
            log.exception(
                "withdrawal %s: step from %s failed; retried next run", withdrawal_id, status
            )
            continue
        if new_status:
            moved += 1
            log.info("withdrawal %s: %s -> %s", withdrawal_id, status, new_status)
    return moved


def process_withdrawals(now: datetime | None = None) -> int:
    """Scheduler entry point (inside an app context): one pass over due withdrawals."""
    return process_due_withdrawals(db.session, bank_for(), now)
