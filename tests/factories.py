"""Test data built through the services, so it obeys the same rules as real data."""

from __future__ import annotations

from datetime import date

from models import db
from shield.subscriptions.service import create_subscription

_counter = iter(range(1, 10**9))


def subscribe(member_id: str, plan_id: str = "basic", billing_period: str = "monthly", now=None):
    sub = create_subscription(db.session, member_id, plan_id, billing_period, now=now)
    db.session.commit()
    return sub


def claim_body(**overrides) -> dict:
    body = {
        "ticketNumber": f"T-{next(_counter):06d}",
        "amount": 65,
        "city": "San Francisco",
        "state": "CA",
        "violationType": "street_cleaning",
        "ticketDate": date.today().isoformat(),
    }
    body.update(overrides)
    return body
