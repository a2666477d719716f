"""Subscriptions: creation by admins, status changes, cancellation by members."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Subscription, utcnow
from shield.errors import Conflict
from shield.members import ensure_member_id

from .coverage import current_period, next_renewal


def get_subscription(session: Session, member_id: str, *, lock: bool = False) -> Subscription | None:
    query = select(Subscription).where(Subscription.member_id == member_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def create_subscription(session: Session, member_id: str, plan_id: str, billing_period: str,
                        now: datetime | None = None) -> Subscription:
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
