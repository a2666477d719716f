"""Completing a payout: the one place a claim's money reaches the wallet."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Claim, Payout, Subscription, utcnow
from models import claim as claim_status
from models import payout as payout_status
from models.wallet import PAYOUT
from shield.claims import events as claim_events
from shield.claims.service import lock_claim
from shield.errors import Conflict, NotFound
from shield.events import record
from shield.subscriptions.coverage import coverage_data, current_period
from shield.subscriptions.restriction import days_remaining, restriction_end
from shield.wallet.ledger import lock_wallet, post
from shield.wire import dollars, iso


def pay_claim(session: Session, claim_id: str, now: datetime | None = None) -> Claim:
    """Complete the pending payout of an approved claim (admin 'pay')."""
    claim = lock_claim(session, claim_id)
    if claim.status != claim_status.APPROVED:
        raise Conflict(
            f"A claim that is {claim.status} cannot become paid.",
            details={"status": claim.status, "requested": "paid"},
        )
    payout = session.execute(select(Payout).where(Payout.claim_id == claim.id)).scalar_one()
    complete_payout(session, payout.id, now=now)
    return claim


def complete_payout(session: Session, payout_id: str, now: datetime | None = None) -> Payout:
    """Credit the wallet once and emit the full set of events of domain.md.

    Without `now`, the time is taken once the wallet is locked, as for every ledger row.
    """
    payout = session.execute(
        select(Payout).where(Payout.id == payout_id).with_for_update()
    ).scalar_one_or_none()
    if payout is None:
        raise NotFound("No such payout.")
    if payout.status == payout_status.COMPLETED:
        raise Conflict("This payout is already completed.", details={"payoutId": payout.id})
    claim = lock_claim(session, payout.claim_id)
    if not claim.can_move_to(claim_status.PAID):
        raise Conflict(f"A claim that is {claim.status} cannot become paid.")
    subscription = session.execute(
        select(Subscription).where(Subscription.member_id == payout.member_id).with_for_update()
    ).scalar_one()
    lock_wallet(session, payout.member_id, create=True)
    now = now or utcnow()
    txn = post(
        session,
        payout.member_id,
        payout.amount_cents,
        now,
        type=PAYOUT,
        description=f"Claim payout for ticket {claim.ticket_number}",
        payout_id=payout.id,
        claim_id=claim.id,
    )
    balance = txn.balance_after_cents
    payout.status = payout_status.COMPLETED
    payout.completed_at = now
    payout.transaction_id = txn.id
    previous = claim.status
    claim.status = claim_status.PAID
    claim.paid_at = now
    claim.updated_at = now

    period = current_period(session, subscription, now, lock=True)
    period.used_cents += payout.amount_cents
    period.tickets_used += 1
    subscription.last_payout_at = now
    subscription.restriction_expiry_sent = False

    member_id = payout.member_id
    record(
        session,
        "payout_completed",
        {
            "payoutId": payout.id,
            "claimId": claim.id,
            "amount": dollars(payout.amount_cents),
            "status": "completed",
            "completedAt": iso(now),
            "transactionId": txn.id,
            "newWalletBalance": dollars(balance),
        },
        member_id=member_id,
        now=now,
    )
    record(
        session,
        "claim_paid",
        claim_events.claim_paid(claim, payout, balance),
        member_id=member_id,
        now=now,
    )
    record(
        session,
        "claim_status_changed",
        claim_events.status_change(claim, previous, now),
        member_id=member_id,
        now=now,
    )
    record(
        session,
        "coverage_updated",
        {
            "coverage": coverage_data(subscription, period),
            "changeReason": "claim_payout",
            "claimId": claim.id,
        },
        member_id=member_id,
        now=now,
    )
    end = restriction_end(subscription)
    record(
        session,
        "cancellation_restriction_changed",
        {
            "canCancel": False,
            "restrictionEndDate": iso(end),
            "daysRemaining": days_remaining(end, now),
            "reason": "payout_received",
            "lastPayoutDate": iso(now),
        },
        member_id=member_id,
        now=now,
    )
    return payout
