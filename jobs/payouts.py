"""Payout processing: pending payouts whose completion delay has passed are completed."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from models import Claim, Payout, db, utcnow
from models import claim as claim_status
from models import payout as payout_status
from shield.errors import ApiError
from shield.payouts.service import complete_payout
from shield.rules import PAYOUT_COMPLETION_DELAY

log = logging.getLogger(__name__)

# Bound one run; the next run picks up the rest.
MAX_PER_RUN = 200


def _claim_next(cutoff: datetime, skip: set[str]) -> tuple[str, str] | None:
    """Lock the claim of the oldest due payout nobody else holds; return (payout, claim) ids.

    The claim row is locked first, as admin 'pay' does (claim, then payout): the same lock
    order on both paths means a job and an admin can never deadlock.
    """
    query = (
        select(Payout.id, Claim.id)
        .join(Claim, Claim.id == Payout.claim_id)
        .where(
            Payout.status == payout_status.PENDING,
            Payout.initiated_at <= cutoff,
            Claim.status == claim_status.APPROVED,
        )
        .order_by(Payout.initiated_at, Payout.id)
        .limit(1)
        .with_for_update(of=Claim, skip_locked=True)
    )
    if skip:
        query = query.where(Payout.id.not_in(skip))
    row = db.session.execute(query).first()
    return (row[0], row[1]) if row else None


def process_payouts(now: datetime | None = None) -> int:
    """Complete due payouts, one transaction each; return how many were completed.

    `now` decides which payouts are due. Without it (the scheduler), each payout is stamped
    with the time it reached its wallet, not the run's start.
    """
    stamp = now
    cutoff = (now or utcnow()) - PAYOUT_COMPLETION_DELAY
    completed = 0
    skip: set[str] = set()
    while completed + len(skip) < MAX_PER_RUN:
        claimed = _claim_next(cutoff, skip)
        if claimed is None:
            db.session.rollback()
            break
        payout_id, claim_id = claimed
        try:
            complete_payout(db.session, payout_id, now=stamp)
            db.session.commit()
        except (ApiError, IntegrityError, OperationalError) as exc:
            # Completed meanwhile (an admin 'pay', another process on SQLite): the unique
            # payout credit and the status check refused a second payment. Nothing to do.
            db.session.rollback()
            skip.add(payout_id)
            log.info(
                "payout %s (claim %s) not completed here: %s",
                payout_id,
                claim_id,
                getattr(exc, "message", None) or type(exc).__name__,
            )
            continue
        except Exception:
            db.session.rollback()
            skip.add(payout_id)
            log.exception("payout %s (claim %s) failed; will retry next run", payout_id, claim_id)
            continue
        completed += 1
    return completed
