"""Demo data for `make run`: one member with a subscription and claims, one admin."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from models import Member, db, utcnow
from shield.auth import Principal
from shield.claims import service as claims
from shield.config import ConfigError, is_local
from shield.members import ensure_member
from shield.subscriptions.service import create_subscription

DEMO_MEMBER = "demo-member"
DEMO_ADMIN = "demo-admin"


def _principal(member_id: str, role: str) -> Principal:
    return Principal(
        id=member_id,
        role=role,
        email=f"{member_id}@example.com",
        expires_at=utcnow() + timedelta(days=1),
    )


def seed_demo() -> bool:
    """Create the demo data unless it is already there; return whether it was created.
    Refuses outside development and test: demo members and claims in a production database
    are claims someone could be paid for."""
    if not is_local(current_app.config):
        raise ConfigError(
            f"refusing to write demo data with SHIELD_ENV={current_app.config.get('SHIELD_ENV')}: "
            "seeding is for SHIELD_ENV=development or test"
        )
    if db.session.execute(select(Member.id).where(Member.id == DEMO_MEMBER)).first():
        return False
    now = utcnow()
    member = _principal(DEMO_MEMBER, "member")
    ensure_member(db.session, member)
    ensure_member(db.session, _principal(DEMO_ADMIN, "admin"))
    create_subscription(db.session, DEMO_MEMBER, "pro", "monthly", now=now - timedelta(days=40))
    tickets = [
        ("SF-1001", 9500, "San Francisco", "CA", "street_cleaning", 6),
        ("SF-1002", 7200, "San Francisco", "CA", "expired_meter", 3),
        ("OAK-2001", 5500, "Oakland", "CA", "residential_permit", 1),
    ]
    for number, cents, city, state, violation, days_ago in tickets:
        claims.submit_claim(
            db.session,
            member,
            {
                "ticket_number": number,
                "amount_cents": cents,
                "city": city,
                "state": state,
                "violation_type": violation,
                "ticket_date": (now - timedelta(days=days_ago)).date(),
            },
            now=now,
        )
    db.session.commit()
    return True
