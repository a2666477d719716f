"""Coverage periods: yearly windows from the subscription's start, and what is left in one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import CoveragePeriod, Payout, Subscription
from models.payout import PENDING
from shield.events import record
from shield.rules import COVERAGE_PERIOD_YEARS, PLANS
from shield.wire import dollars, iso


def add_years(moment: datetime, years: int) -> datetime:
    """Return the same instant `years` later (29 February becomes 28 February)."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


def period_bounds(started_at: datetime, now: datetime) -> tuple[datetime, datetime]:
    """Return the coverage year that contains `now` (the first one if `now` is earlier)."""
    years = max(0, now.year - started_at.year)
    start = add_years(started_at, years)
    if start > now and years > 0:
        years -= 1
        start = add_years(started_at, years)
    return start, add_years(started_at, years + COVERAGE_PERIOD_YEARS)


def current_period(
    session: Session, subscription: Subscription, now: datetime, *, lock: bool = False
) -> CoveragePeriod:
    """Return (creating if needed) the coverage period containing `now`.

    Creating a period after the first one is the anniversary reset: whoever touches the new
    period first (the reset job, a renewal, a claim) records `coverage_updated`
    (`period_reset`) in the same transaction; the unique (subscription, period_start) row
    makes that happen once per period. Callers hold the subscription's row lock.
    """
    start, end = period_bounds(subscription.started_at, now)
    query = select(CoveragePeriod).where(
        CoveragePeriod.subscription_id == subscription.id, CoveragePeriod.period_start == start
    )
    if lock:
        query = query.with_for_update()
    period = session.execute(query).scalar_one_or_none()
    if period is None:
        period = CoveragePeriod(
            subscription_id=subscription.id,
            member_id=subscription.member_id,
            period_start=start,
            period_end=end,
            used_cents=0,
            tickets_used=0,
        )
        session.add(period)
        session.flush([period])
        if start > subscription.started_at:
            data = {"coverage": coverage_data(subscription, period), "changeReason": "period_reset"}
            record(session, "coverage_updated", data, member_id=subscription.member_id, now=now)
    return period


def pending_payouts(session: Session, member_id: str) -> tuple[int, int]:
    """Return (cents, count) approved but not yet paid: reserved against the cap."""
    cents, count = session.execute(
        select(func.coalesce(func.sum(Payout.amount_cents), 0), func.count()).where(
            Payout.member_id == member_id, Payout.status == PENDING
        )
    ).one()
    return int(cents), int(count)


def remaining_cap_cents(
    session: Session, subscription: Subscription, period: CoveragePeriod
) -> int:
    """Cap left in the period after paid and still-pending payouts."""
    plan = PLANS[subscription.plan_id]
    reserved, _ = pending_payouts(session, subscription.member_id)
    return max(0, plan.annual_cap_cents - period.used_cents - reserved)


def coverage_data(subscription: Subscription, period: CoveragePeriod) -> dict:
    """The spec's `coverage` object (as in coverage_updated)."""
    plan = PLANS[subscription.plan_id]
    return {
        "planId": plan.id,
        "annualCap": dollars(plan.annual_cap_cents),
        "usedAmount": dollars(period.used_cents),
        "remainingAmount": dollars(max(0, plan.annual_cap_cents - period.used_cents)),
        "ticketsUsed": period.tickets_used,
        "maxTickets": plan.max_tickets,
        "periodStart": iso(period.period_start),
        "periodEnd": iso(period.period_end),
    }


def add_months(moment: datetime, months: int) -> datetime:
    """Return the same day `months` later, clamped to the month's last day."""
    import calendar

    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def next_renewal(start: datetime, billing_period: str, cycles: int = 1) -> datetime:
    """Return the renewal date `cycles` billing periods after `start`."""
    if billing_period == "annual":
        return add_years(start, cycles)
    return add_months(start, cycles)
