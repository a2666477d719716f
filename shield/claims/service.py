"""Claims: submission by members, and every decision admins take on them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Claim, Member, Payout, Subscription, utcnow
from models import claim as status
from shield.auth import Principal
from shield.errors import Conflict, NotFound
from shield.events import record
from shield.hot_reads import HotQuery, fetch_all
from shield.members import ensure_member
from shield.rules import (
    APPEAL_WINDOW,
    CAP_REACHED,
    DENIAL_CODES,
    PAYOUT_COMPLETION_DELAY,
    PLANS,
    PROOF_DUE_AFTER,
    TICKET_LIMIT_REACHED,
    payout_split,
)
from shield.subscriptions.coverage import current_period, pending_payouts, remaining_cap_cents
from shield.wire import dollars, iso

from . import events
from .serialize import render, stored_json

DEFAULT_PROOF_MESSAGE = (
    "Please upload proof that the ticket was paid (a receipt or the city's confirmation)."
)


def get_member_claim(session: Session, member_id: str, claim_id: str) -> Claim:
    """Return a member's own claim; someone else's is as absent as a missing one."""
    claim = session.get(Claim, claim_id)
    if claim is None or claim.member_id != member_id:
        raise NotFound("No such claim.")
    return claim


def list_member_claims(session: Session, member_id: str) -> list[Claim]:
    return list(
        session.execute(
            select(Claim).where(Claim.member_id == member_id).order_by(Claim.submitted_at.desc())
        ).scalars()
    )


LIST_QUERY = HotQuery(
    select(Claim.rendered, Claim.appeal_deadline, Claim.id)
    .where(Claim.member_id == bindparam("member_id"))
    .order_by(Claim.submitted_at.desc())
)


def list_json(session: Session, member_id: str, now: datetime) -> tuple[str, datetime | None]:
    """The member's claims list as JSON text, and when `appealable` next flips in it.

    One query over stored renderings (no ORM objects, no per-field serialisation): this is
    the body of the polling hot path's 200, so it runs as a hot read (`shield.hot_reads`:
    a prepared statement on an autocommit connection, one round trip). Reading outside the
    request's transaction is safe here: the caller read the version first, so the rows can
    only be newer than the ETag (costing one extra 200), never older.
    """
    parts = []
    next_change = None
    for rendered, deadline, claim_id in fetch_all(LIST_QUERY, {"member_id": member_id}):
        if rendered is None:  # written outside the ORM (bulk loads): render it now
            rendered = render(session.get(Claim, claim_id))
        parts.append(stored_json(rendered, deadline, now))
        if (
            deadline is not None
            and deadline > now
            and (next_change is None or deadline < next_change)
        ):
            next_change = deadline
    return '{"claims":[' + ",".join(parts) + '],"count":' + str(len(parts)) + "}", next_change


def next_clock_change(session: Session, member_id: str, now: datetime) -> datetime | None:
    """The next appeal deadline of the member's claims (when `appealable` flips)."""
    return session.execute(
        select(func.min(Claim.appeal_deadline)).where(
            Claim.member_id == member_id, Claim.appeal_deadline > now
        )
    ).scalar_one()


def active_subscription(session: Session, member_id: str, *, lock: bool = False) -> Subscription:
    query = select(Subscription).where(Subscription.member_id == member_id)
    if lock:
        query = query.with_for_update()
    subscription = session.execute(query).scalar_one_or_none()
    if subscription is None or subscription.status != "active":
        raise Conflict(
            "An active subscription is needed to submit a claim.",
            code="SUBSCRIPTION_INACTIVE",
        )
    return subscription


def submit_claim(
    session: Session, principal: Principal, data: dict, now: datetime | None = None
) -> Claim:
    """File a claim for the caller; needs an active subscription and a new ticket number."""
    now = now or utcnow()
    member = ensure_member(session, principal)
    subscription = active_subscription(session, member.id, lock=True)
    ticket_date: date = data["ticket_date"]
    if ticket_date > now.date():
        raise Conflict("The ticket date is in the future.", code="INVALID_PAYLOAD", status=422)
    duplicate = session.execute(
        select(Claim.id).where(
            Claim.member_id == member.id, Claim.ticket_number == data["ticket_number"]
        )
    ).first()
    if duplicate:
        raise Conflict("You already filed a claim for this ticket number.", code="DUPLICATE_CLAIM")
    period = current_period(session, subscription, now)
    plan = PLANS[subscription.plan_id]
    split = payout_split(
        data["amount_cents"],
        plan.deductible_cents,
        remaining_cap_cents(session, subscription, period),
    )
    claim = Claim(
        member_id=member.id,
        ticket_number=data["ticket_number"],
        amount_cents=data["amount_cents"],
        city=data["city"],
        state=data["state"],
        violation_type=data["violation_type"],
        ticket_date=ticket_date,
        status=status.SUBMITTED,
        estimated_payout_cents=split.payout_cents,
        submitted_at=now,
        updated_at=now,
    )
    session.add(claim)
    try:
        with session.begin_nested():
            session.flush([claim])
    except IntegrityError:
        raise Conflict(
            "You already filed a claim for this ticket number.", code="DUPLICATE_CLAIM"
        ) from None
    record(session, "claim_submitted", events.claim_submitted(claim), member_id=member.id, now=now)
    record(
        session,
        "admin_claim_submitted",
        events.admin_claim_submitted(claim, member),
        member_id=None,
        now=now,
    )
    return claim


def lock_claim(session: Session, claim_id: str) -> Claim:
    """Load a claim with a row lock (PostgreSQL), so decisions on it serialise."""
    claim = session.execute(
        select(Claim).where(Claim.id == claim_id).with_for_update()
    ).scalar_one_or_none()
    if claim is None:
        raise NotFound("No such claim.")
    return claim


def _move(claim: Claim, new_status: str, now: datetime) -> str:
    if not claim.can_move_to(new_status):
        raise Conflict(
            f"A claim that is {claim.status} cannot become {new_status}.",
            details={"status": claim.status, "requested": new_status},
        )
    previous = claim.status
    claim.status = new_status
    claim.updated_at = now
    return previous


def _record_change(
    session: Session,
    claim: Claim,
    specific: str | None,
    data: dict | None,
    previous: str,
    now: datetime,
) -> None:
    if specific:
        record(session, specific, data, member_id=claim.member_id, now=now)
    record(
        session,
        "claim_status_changed",
        events.status_change(claim, previous, now),
        member_id=claim.member_id,
        now=now,
    )


def start_review(session: Session, claim_id: str, now: datetime | None = None) -> Claim:
    now = now or utcnow()
    claim = lock_claim(session, claim_id)
    previous = _move(claim, status.UNDER_REVIEW, now)
    claim.reviewed_at = now
    _record_change(
        session,
        claim,
        "claim_under_review",
        {**events.status_change(claim, previous, now)},
        previous,
        now,
    )
    return claim


def deny(
    session: Session,
    claim_id: str,
    code: str,
    notes: str | None = None,
    now: datetime | None = None,
) -> Claim:
    now = now or utcnow()
    claim = lock_claim(session, claim_id)
    return _deny_locked(session, claim, code, notes, now)


def _deny_locked(
    session: Session, claim: Claim, code: str, notes: str | None, now: datetime
) -> Claim:
    denial = DENIAL_CODES[code]
    previous = _move(claim, status.DENIED, now)
    claim.denied_at = now
    claim.denial_code = denial.code
    claim.decision_notes = notes
    claim.appeal_deadline = now + APPEAL_WINDOW if denial.appealable else None
    _record_change(
        session, claim, "claim_denied", events.claim_denied(claim, previous), previous, now
    )
    return claim


def approve(
    session: Session, claim_id: str, notes: str | None = None, now: datetime | None = None
) -> Claim:
    """Approve a claim and start its payout; past the ticket limit or cap it is denied."""
    now = now or utcnow()
    claim = lock_claim(session, claim_id)
    if not claim.can_move_to(status.APPROVED):
        _move(claim, status.APPROVED, now)  # raises the 409
    subscription = session.execute(
        select(Subscription).where(Subscription.member_id == claim.member_id).with_for_update()
    ).scalar_one_or_none()
    if subscription is None:
        raise Conflict("The member has no subscription.", code="SUBSCRIPTION_INACTIVE")
    plan = PLANS[subscription.plan_id]
    period = current_period(session, subscription, now, lock=True)
    _, pending_count = pending_payouts(session, claim.member_id)
    if period.tickets_used + pending_count >= plan.max_tickets:
        return _deny_locked(session, claim, TICKET_LIMIT_REACHED, notes, now)
    remaining = remaining_cap_cents(session, subscription, period)
    if remaining <= 0:
        return _deny_locked(session, claim, CAP_REACHED, notes, now)
    split = payout_split(claim.amount_cents, plan.deductible_cents, remaining)
    previous = _move(claim, status.APPROVED, now)
    claim.approved_at = now
    claim.decision_notes = notes
    claim.payout_cents = split.payout_cents
    claim.deductible_cents = split.deductible_cents
    claim.copay_cents = split.copay_cents
    payout = Payout(
        claim_id=claim.id,
        member_id=claim.member_id,
        amount_cents=split.payout_cents,
        initiated_at=now,
    )
    session.add(payout)
    session.flush([payout])
    _record_change(
        session, claim, "claim_approved", events.claim_approved(claim, previous), previous, now
    )
    record(
        session,
        "payout_initiated",
        {
            "payoutId": payout.id,
            "claimId": claim.id,
            "amount": dollars(payout.amount_cents),
            "status": "pending",
            "initiatedAt": iso(now),
            "estimatedCompletionAt": iso(now + PAYOUT_COMPLETION_DELAY),
        },
        member_id=claim.member_id,
        now=now,
    )
    return claim


def request_proof(
    session: Session,
    claim_id: str,
    message: str | None = None,
    due_by: datetime | None = None,
    now: datetime | None = None,
) -> Claim:
    """Ask the member of a paid claim for proof that the ticket was paid."""
    now = now or utcnow()
    claim = lock_claim(session, claim_id)
    if claim.status != status.PAID:
        raise Conflict(
            "Proof of payment can only be requested on a paid claim.",
            details={"status": claim.status},
        )
    if due_by is not None and due_by <= now:
        raise Conflict("dueBy must be in the future.", code="INVALID_PAYLOAD", status=422)
    claim.proof_requested_at = now
    claim.proof_due_by = due_by or now + PROOF_DUE_AFTER
    claim.proof_uploaded_at = None
    claim.proof_overdue_alerted_at = None
    claim.updated_at = now
    record(
        session,
        "proof_of_payment_requested",
        events.proof_requested(claim, message or DEFAULT_PROOF_MESSAGE),
        member_id=claim.member_id,
        now=now,
    )
    return claim


def upload_proof(
    session: Session, member_id: str, claim_id: str, document_url: str, now: datetime | None = None
) -> Claim:
    """Record that the member sent the requested proof of payment."""
    now = now or utcnow()
    claim = get_member_claim(session, member_id, claim_id)
    claim = lock_claim(session, claim.id)
    if claim.proof_requested_at is None:
        raise Conflict("No proof of payment was requested for this claim.")
    claim.proof_uploaded_at = now
    claim.proof_document_url = document_url
    claim.updated_at = now
    return claim


def member_of(session: Session, claim: Claim) -> Member:
    return session.get(Member, claim.member_id)
