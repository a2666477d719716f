"""The withdrawal job: start bank transfers of pending withdrawals, settle processing ones.

Safe with several runners at once: each withdrawal is claimed with
`SELECT ... FOR UPDATE SKIP LOCKED` and only if it is still in the status it was listed
with, and every item is its own transaction (committed, or rolled back on error).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from models import db, utcnow
from shield.wallet import service
from shield.wallet.bank import BankProvider, bank_for

log = logging.getLogger(__name__)

BATCH = 100


def process_due_withdrawals(
    session: Session, bank: BankProvider, now: datetime | None = None, limit: int = BATCH
) -> int:
    """Take one step for each due withdrawal (commit per item); return how many moved."""
    now = now or utcnow()
    due = service.due_withdrawals(session, limit)
    session.commit()
    moved = 0
    for withdrawal_id, status in due:
        try:
            new_status = service.advance_withdrawal(session, withdrawal_id, status, bank, now)
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
