"""Subscription jobs: renewals, coverage-period resets, cancellation-restriction expiry.

Each job is called inside an app context by the scheduler. It handles one row per
transaction (commit per item); the service claims each row with FOR UPDATE SKIP LOCKED and a
guarded UPDATE, so two processes running the same job at once never handle a row twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from models import db, utcnow
from shield.subscriptions import service
from shield.subscriptions.billing import BillingProvider
from shield.subscriptions.coverage import current_period

log = logging.getLogger(__name__)

# A bound per run; whatever is left is picked up by the next run.
MAX_ITEMS_PER_RUN = 1000


def _drain(name: str, claim: Callable, handle: Callable, now: datetime | None) -> int:
    """Claim and handle rows one transaction at a time until none is left."""
    now = now or utcnow()
    done = 0
    failed: set[str] = set()
    for _ in range(MAX_ITEMS_PER_RUN):
        subscription = claim(db.session, now, skip=failed)
        if subscription is None:
            db.session.rollback()
            break
        subscription_id = subscription.id
        try:
            handle(subscription, now)
            db.session.commit()
        except Exception:  # one bad row must not stop the others; it is retried next run
            db.session.rollback()
            failed.add(subscription_id)
            log.exception("%s failed for subscription %s", name, subscription_id)
            continue
        done += 1
    if done or failed:
        log.info("%s: %d handled, %d failed", name, done, len(failed))
    return done


def renew_subscriptions(
    now: datetime | None = None, *, billing: BillingProvider | None = None
) -> int:
    """Charge every due active subscription; returns how many were charged or failed."""
    return _drain(
        "renew_subscriptions",
        service.claim_due_renewal,
        lambda sub, at: service.renew(db.session, sub, at, billing),
        now,
    )


def reset_coverage_periods(now: datetime | None = None) -> int:
    """Start the new coverage period of every subscription past its anniversary."""
    return _drain(
        "reset_coverage_periods",
        service.claim_period_reset,
        lambda sub, at: current_period(db.session, sub, at, lock=True),
        now,
    )


def expire_cancellation_restrictions(now: datetime | None = None) -> int:
    """Announce every cancellation restriction that has ended (once per payout)."""
    return _drain(
        "expire_cancellation_restrictions",
        service.claim_restriction_expiry,
        lambda sub, at: service.announce_restriction_expiry(db.session, sub, at),
        now,
    )
