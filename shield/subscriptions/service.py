"""Subscriptions: creation by admins, status and plan changes, cancellation by members."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from models import CoveragePeriod, Subscription, utcnow
from shield.errors import Conflict, NotFound
from shield.events import record
from shield.members import ensure_member_id
from shield.rules import CANCELLATION_RESTRICTION, PLANS
from shield.wire import dollars, iso

from .billing import BillingProvider, default_provider
from .coverage import coverage_data, current_period, next_renewal, period_bounds
from .restriction import cancellation_state

log = logging.getLogger(__name__)

CANCELLED = "cancelled"


def get_subscription(
    session: Session, member_id: str, *, lock: bool = False
) -> Subscription | None:
    query = select(Subscription).where(Subscription.member_id == member_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def require_subscription(session: Session, member_id: str, *, lock: bool = False) -> Subscription:
    subscription = get_subscription(session, member_id, lock=lock)
    if subscription is None:
        raise NotFound("No subscription for this member.")
    return subscription


def create_subscription(
    session: Session, member_id: str, plan_id: str, billing_period: str, now: datetime | None = None
) -> Subscription:
    """Start a member's subscription (one per member) and its first coverage period."""
    now = now or utcnow()
    ensure_member_id(session, member_id)
    if get_subscription(session, member_id, lock=True) is not None:
        raise Conflict("This member already has a subscription; change its plan or status instead.")
    subscription = Subscription(
        member_id=member_id,
        plan_id=plan_id,
        billing_period=billing_period,
        status="active",
        started_at=now,
        next_renewal_at=next_renewal(now, billing_period),
        created_at=now,
    )
    session.add(subscription)
    session.flush([subscription])
    current_period(session, subscription, now)
    return subscription


def start_subscription(
    session: Session, member_id: str, plan_id: str, billing_period: str, now: datetime | None = None
) -> Subscription:
    """Admin: create the subscription and tell the member it is active."""
    now = now or utcnow()
    subscription = create_subscription(session, member_id, plan_id, billing_period, now=now)
    _status_event(session, subscription, "inactive", now, "subscription_created")
    return subscription


# --- what the member sees -------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionState:
    """A subscription as shown at one instant (the clock-derived parts computed for `now`)."""

    id: str
    member_id: str
    plan_id: str
    status: str
    billing_period: str
    price_cents: int
    started_at: datetime
    renewed_at: datetime | None
    next_renewal_at: datetime
    cancelled_at: datetime | None
    coverage: dict
    cancellation: dict


def peek_period(session: Session, subscription: Subscription, now: datetime) -> CoveragePeriod:
    """The period containing `now`, without writing: a period nobody touched yet is empty."""
    start, end = period_bounds(subscription.started_at, now)
    period = session.execute(
        select(CoveragePeriod).where(
            CoveragePeriod.subscription_id == subscription.id, CoveragePeriod.period_start == start
        )
    ).scalar_one_or_none()
    if period is None:  # transient, never added to the session
        period = CoveragePeriod(
            subscription_id=subscription.id,
            member_id=subscription.member_id,
            period_start=start,
            period_end=end,
            used_cents=0,
            tickets_used=0,
        )
    return period


def cancellation_view(subscription: Subscription, now: datetime) -> tuple[dict, datetime | None]:
    """The `cancellation` object; a cancelled subscription cannot be cancelled again."""
    state, next_change = cancellation_state(subscription, now)
    if subscription.status == CANCELLED:
        state = {**state, "canCancel": False}
    return state, next_change


def subscription_state(
    session: Session, subscription: Subscription, now: datetime
) -> tuple[SubscriptionState, datetime]:
    """Return what the member sees and the next instant any clock-derived field changes."""
    period = peek_period(session, subscription, now)
    cancellation, cancel_change = cancellation_view(subscription, now)
    state = SubscriptionState(
        id=subscription.id,
        member_id=subscription.member_id,
        plan_id=subscription.plan_id,
        status=subscription.status,
        billing_period=subscription.billing_period,
        price_cents=PLANS[subscription.plan_id].price_cents(subscription.billing_period),
        started_at=subscription.started_at,
        renewed_at=subscription.renewed_at,
        next_renewal_at=subscription.next_renewal_at,
        cancelled_at=subscription.cancelled_at,
        coverage=coverage_data(subscription, period),
        cancellation=cancellation,
    )
    # The coverage shown switches to the next (empty) period at period_end.
    changes = [period.period_end] + ([cancel_change] if cancel_change else [])
    return state, min(changes)


# --- changes --------------------------------------------------------------------------------


def _status_event(
    session: Session, subscription: Subscription, previous: str, now: datetime, reason: str | None
) -> None:
    record(
        session,
        "subscription_status_changed",
        {
            "subscriptionId": subscription.id,
            "previousStatus": previous,
            "newStatus": subscription.status,
            "planId": subscription.plan_id,
            "effectiveDate": iso(now),
            "reason": reason,
        },
        member_id=subscription.member_id,
        now=now,
    )


def _set_status(subscription: Subscription, status: str, now: datetime) -> str:
    previous = subscription.status
    subscription.status = status
    subscription.updated_at = now
    if status == CANCELLED:
        subscription.cancelled_at = now
    elif previous == CANCELLED:
        subscription.cancelled_at = None
    if status == "active" and previous == "past_due":
        subscription.failed_charges = 0
    return previous


def cancel(
    session: Session, member_id: str, reason: str | None = None, now: datetime | None = None
) -> Subscription:
    """Member cancels; refused inside the cancellation restriction after a payout."""
    now = now or utcnow()
    subscription = require_subscription(session, member_id, lock=True)
    if subscription.status == CANCELLED:
        raise Conflict(
            "This subscription is already cancelled.",
            code="ALREADY_CANCELLED",
            details={"status": subscription.status},
        )
    state, _ = cancellation_state(subscription, now)
    if not state["canCancel"]:
        raise Conflict(
            "You received a payout recently, so the subscription cannot be cancelled until the "
            "restriction ends.",
            code="CANCELLATION_RESTRICTED",
            details={
                "restrictionEndDate": state["restrictionEndDate"],
                "daysRemaining": state["daysRemaining"],
            },
        )
    previous = _set_status(subscription, CANCELLED, now)
    if reason:
        log.info("subscription %s cancelled by member: %s", subscription.id, reason[:200])
    _status_event(session, subscription, previous, now, "user_cancelled")
    return subscription


def change_status(
    session: Session,
    member_id: str,
    status: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> Subscription:
    """Admin: move a subscription to another status (no restriction applies to admins)."""
    now = now or utcnow()
    subscription = require_subscription(session, member_id, lock=True)
    if subscription.status == status:
        raise Conflict(f"The subscription is already {status}.", details={"status": status})
    previous = _set_status(subscription, status, now)
    _status_event(session, subscription, previous, now, reason)
    return subscription


def change_plan(
    session: Session, member_id: str, plan_id: str, now: datetime | None = None
) -> Subscription:
    """Admin: switch plans; the new cap and limits apply to the current period at once."""
    now = now or utcnow()
    subscription = require_subscription(session, member_id, lock=True)
    if subscription.plan_id == plan_id:
        raise Conflict(f"The subscription is already on {plan_id}.", details={"planId": plan_id})
    if subscription.status == CANCELLED:
        raise Conflict(
            "A cancelled subscription cannot change plans.", details={"status": subscription.status}
        )
    period = current_period(session, subscription, now, lock=True)
    subscription.plan_id = plan_id
    subscription.updated_at = now
    record(
        session,
        "coverage_updated",
        {
            "coverage": coverage_data(subscription, period),
            "changeReason": "plan_upgrade",
        },
        member_id=member_id,
        now=now,
    )
    return subscription


# --- scheduled work: each step claims one row, so concurrent workers never share one --------


def _claim(session: Session, subscription: Subscription, now: datetime, *conditions) -> bool:
    """Take a candidate row for this worker with an UPDATE that re-checks why it was picked.

    On PostgreSQL the candidate is already row-locked (SKIP LOCKED), so this always matches.
    On SQLite (no row locks) the UPDATE waits for the database write lock and then sees
    committed data: a row another process has just handled no longer matches.
    """
    result = session.execute(
        update(Subscription)
        .where(Subscription.id == subscription.id, *conditions)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _pick(session: Session, query, now: datetime, skip, conditions) -> Subscription | None:
    """Lock (skipping rows others hold) and claim the first row of `query`."""
    lost: set[str] = set()
    while True:
        candidates = query.where(*conditions)
        excluded = set(skip) | lost
        if excluded:
            candidates = candidates.where(Subscription.id.not_in(excluded))
        subscription = session.execute(
            candidates.order_by(Subscription.id)
            .limit(1)
            .with_for_update(skip_locked=True, of=Subscription)
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if subscription is None:
            return None
        if _claim(session, subscription, now, *conditions, *_unchanged(subscription)):
            return subscription
        lost.add(subscription.id)


def _unchanged(subscription: Subscription) -> tuple:
    """Conditions that hold only while nobody else has handled the row since we read it."""
    return (
        Subscription.status == subscription.status,
        Subscription.next_renewal_at == subscription.next_renewal_at,
        Subscription.restriction_expiry_sent == bool(subscription.restriction_expiry_sent),
    )


def claim_due_renewal(
    session: Session, now: datetime | None = None, skip: Iterable[str] = ()
) -> Subscription | None:
    """Lock and claim one active subscription whose renewal is due."""
    now = now or utcnow()
    return _pick(
        session,
        select(Subscription),
        now,
        skip,
        (Subscription.status == "active", Subscription.next_renewal_at <= now),
    )


def following_renewal(subscription: Subscription, due: datetime) -> datetime:
    """The first renewal date on the subscription's schedule after `due` (no month drift)."""
    cycles = 1
    while (
        moment := next_renewal(subscription.started_at, subscription.billing_period, cycles)
    ) <= due:
        cycles += 1
    return moment


def renew(
    session: Session,
    subscription: Subscription,
    now: datetime | None = None,
    billing: BillingProvider | None = None,
) -> bool:
    """Charge one billing period: renewed on success, past_due on failure. Returns success."""
    now = now or utcnow()
    billing = billing or default_provider()
    amount = PLANS[subscription.plan_id].price_cents(subscription.billing_period)
    result = billing.charge(subscription, amount)
    if not result.ok:
        subscription.failed_charges = (subscription.failed_charges or 0) + 1
        previous = _set_status(subscription, "past_due", now)
        log.warning(
            "renewal charge failed for subscription %s: %s",
            subscription.id,
            result.reason or "no reason given",
        )
        _status_event(session, subscription, previous, now, "payment_failed")
        return False
    subscription.renewed_at = now
    subscription.next_renewal_at = following_renewal(subscription, subscription.next_renewal_at)
    subscription.failed_charges = 0
    subscription.updated_at = now
    coverage = coverage_data(subscription, current_period(session, subscription, now, lock=True))
    record(
        session,
        "subscription_renewed",
        {
            "subscriptionId": subscription.id,
            "planId": subscription.plan_id,
            "billingPeriod": subscription.billing_period,
            "renewedAt": iso(now),
            "nextRenewalDate": iso(subscription.next_renewal_at),
            "amountCharged": dollars(amount),
            "coverage": {key: coverage[key] for key in RENEWAL_COVERAGE_KEYS},
        },
        member_id=subscription.member_id,
        now=now,
    )
    return True


RENEWAL_COVERAGE_KEYS = (
    "annualCap",
    "remainingAmount",
    "ticketsUsed",
    "maxTickets",
    "periodStart",
    "periodEnd",
)


def renew_next_due(
    session: Session, now: datetime | None = None, billing: BillingProvider | None = None
) -> Subscription | None:
    """Claim and renew one due subscription; None when nothing is due."""
    now = now or utcnow()
    subscription = claim_due_renewal(session, now)
    if subscription is not None:
        renew(session, subscription, now, billing)
    return subscription


def _no_current_period(now: datetime):
    return ~exists().where(
        CoveragePeriod.subscription_id == Subscription.id, CoveragePeriod.period_end > now
    )


def claim_period_reset(
    session: Session, now: datetime | None = None, skip: Iterable[str] = ()
) -> Subscription | None:
    """Lock and claim one live subscription whose current coverage period is not started."""
    now = now or utcnow()
    return _pick(
        session,
        select(Subscription),
        now,
        skip,
        (
            Subscription.status != CANCELLED,
            Subscription.started_at <= now,
            _no_current_period(now),
        ),
    )


def reset_next_period(
    session: Session, now: datetime | None = None, skip: Iterable[str] = ()
) -> CoveragePeriod | None:
    """Start the next coverage period of one subscription (`coverage_updated` period_reset)."""
    now = now or utcnow()
    subscription = claim_period_reset(session, now, skip)
    if subscription is None:
        return None
    return current_period(session, subscription, now, lock=True)


def claim_restriction_expiry(
    session: Session, now: datetime | None = None, skip: Iterable[str] = ()
) -> Subscription | None:
    """Lock and claim one subscription whose cancellation restriction ended unannounced."""
    now = now or utcnow()
    return _pick(
        session,
        select(Subscription),
        now,
        skip,
        (
            Subscription.restriction_expiry_sent.is_(False),
            Subscription.last_payout_at.is_not(None),
            Subscription.last_payout_at <= now - CANCELLATION_RESTRICTION,
        ),
    )


def announce_restriction_expiry(
    session: Session, subscription: Subscription, now: datetime | None = None
) -> None:
    """Tell the member they may cancel again (once per payout; not to cancelled members)."""
    now = now or utcnow()
    subscription.restriction_expiry_sent = True
    if subscription.status == CANCELLED:
        return
    record(
        session,
        "cancellation_restriction_changed",
        {
            "canCancel": True,
            "reason": "restriction_expired",
            "lastPayoutDate": iso(subscription.last_payout_at),
        },
        member_id=subscription.member_id,
        now=now,
    )


def expire_next_restriction(
    session: Session, now: datetime | None = None, skip: Iterable[str] = ()
) -> Subscription | None:
    """Claim and announce one ended cancellation restriction; None when there is none."""
    now = now or utcnow()
    subscription = claim_restriction_expiry(session, now, skip)
    if subscription is not None:
        announce_restriction_expiry(session, subscription, now)
    return subscription
