"""The 90-day cancellation restriction after a payout, and its clock-derived fields."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from models import Subscription
from shield.rules import CANCELLATION_RESTRICTION
from shield.wire import iso

DAY = timedelta(days=1)


def restriction_end(subscription: Subscription | None) -> datetime | None:
    if subscription is None or subscription.last_payout_at is None:
        return None
    return subscription.last_payout_at + CANCELLATION_RESTRICTION


def days_remaining(end: datetime, now: datetime) -> int:
    """Whole days left, rounded up: 89.2 days left shows as 90."""
    return max(0, math.ceil((end - now) / DAY))


def cancellation_state(
    subscription: Subscription | None, now: datetime
) -> tuple[dict, datetime | None]:
    """Return the `cancellation` object and the next instant any of its fields changes."""
    end = restriction_end(subscription)
    if end is None or now >= end:
        return {"canCancel": True, "restrictionEndDate": None, "daysRemaining": None}, None
    remaining = days_remaining(end, now)
    # daysRemaining drops when (end - now) crosses a whole number of days.
    next_change = end - (remaining - 1) * DAY
    return (
        {"canCancel": False, "restrictionEndDate": iso(end), "daysRemaining": remaining},
        next_change,
    )
