"""Test data for push and feed tests: members, devices and spec events, through the services."""

from __future__ import annotations

import itertools
from datetime import datetime

from sqlalchemy import select

from models import Device, OutboxEvent, db, new_id, utcnow
from shield import events
from shield.members import ensure_member_id
from shield.wire import iso

_n = itertools.count(1)


def member(member_id: str, *, push_enabled: bool = True) -> str:
    row = ensure_member_id(db.session, member_id)
    row.push_enabled = push_enabled
    db.session.commit()
    return member_id


def device(member_id: str, token: str | None = None, platform: str = "android") -> str:
    """Register an active device for a member (creating the member); return its id."""
    ensure_member_id(db.session, member_id)
    row = Device(member_id=member_id, token=token or f"tok-{new_id('t')}", platform=platform)
    db.session.add(row)
    db.session.commit()
    return row.id


def event_data(name: str, claim_id: str | None = None, **overrides) -> dict:
    claim_id = claim_id or new_id("clm")
    stamp = iso(utcnow())
    ticket = f"T-{next(_n):06d}"
    data = {
        "claim_submitted": {
            "claimId": claim_id,
            "ticketNumber": ticket,
            "amount": 65,
            "status": "submitted",
            "city": "SF",
            "state": "CA",
            "violationType": "street_cleaning",
            "submittedAt": stamp,
        },
        "claim_under_review": {
            "claimId": claim_id,
            "ticketNumber": ticket,
            "previousStatus": "submitted",
            "newStatus": "under_review",
            "updatedAt": stamp,
        },
        "claim_approved": {
            "claimId": claim_id,
            "ticketNumber": ticket,
            "previousStatus": "under_review",
            "newStatus": "approved",
            "payoutAmount": 50,
            "deductibleApplied": 15,
            "memberCoPay": 15,
            "approvalTimestamp": stamp,
        },
        "claim_paid": {
            "claimId": claim_id,
            "ticketNumber": ticket,
            "previousStatus": "approved",
            "newStatus": "paid",
            "payoutAmount": 50,
            "payoutTimestamp": stamp,
            "walletBalance": 50,
            "transactionId": new_id("wtx"),
        },
        "payout_completed": {
            "payoutId": new_id("pay"),
            "claimId": claim_id,
            "amount": 50,
            "status": "completed",
            "completedAt": stamp,
            "transactionId": new_id("wtx"),
            "newWalletBalance": 50,
        },
        "admin_action_required": {
            "type": "claim_review",
            "priority": "medium",
            "claimId": claim_id,
            "message": "look",
        },
    }[name]
    data.update(overrides)
    return data


def emit(
    member_id: str | None, name: str = "claim_approved", *, now: datetime | None = None, **data
) -> str:
    """Record one spec event in its own transaction; return the event id."""
    if member_id:
        ensure_member_id(db.session, member_id)
    events.record(db.session, name, event_data(name, **data), member_id=member_id, now=now)
    db.session.commit()
    return (
        db.session.execute(
            select(OutboxEvent.id).where(OutboxEvent.name == name).order_by(OutboxEvent.seq.desc())
        )
        .scalars()
        .first()
    )
