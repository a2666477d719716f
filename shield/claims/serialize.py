"""The claim's JSON, written by hand: the claims list is the polling hot path's 200.

`ClaimOut` (schemas.py) documents the same shape for OpenAPI; a test keeps the two equal.

Rendering ahead: a `before_flush` listener stores each changed claim's JSON in
`Claim.rendered`, so the list sends stored text instead of loading 23 columns and building
50 dicts per request. The one clock-dependent field, `appealable`, is stored as it reads
before the appeal deadline and flipped at read time once the deadline has passed
(`"appealable":true` occurs once in a stored text: inside a JSON string a quote is always
escaped, so user text cannot forge the token).
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.orm import Session

from models import Claim
from shield.rules import DENIAL_CODES
from shield.wire import dollars, iso


def claim_json(claim, now: datetime | None, *, with_member: bool = False) -> dict:
    """Return the REST representation of a claim at `now` (appealable depends on it).

    `now=None` renders `appealable` as it reads before the appeal deadline.
    """
    denial = DENIAL_CODES[claim.denial_code] if claim.denial_code else None
    body = {
        "claimId": claim.id,
        "ticketNumber": claim.ticket_number,
        "amount": dollars(claim.amount_cents),
        "status": claim.status,
        "city": claim.city,
        "state": claim.state,
        "violationType": claim.violation_type,
        "ticketDate": claim.ticket_date.isoformat(),
        "submittedAt": iso(claim.submitted_at),
        "updatedAt": iso(claim.updated_at),
        "estimatedPayout": dollars(claim.estimated_payout_cents),
        "payoutAmount": dollars(claim.payout_cents),
        "deductibleApplied": dollars(claim.deductible_cents),
        "memberCoPay": dollars(claim.copay_cents),
        "approvalTimestamp": iso(claim.approved_at),
        "payoutTimestamp": iso(claim.paid_at),
        "denialCode": claim.denial_code,
        "denialReason": denial.reason if denial else None,
        "decisionNotes": claim.decision_notes,
        "appealable": (
            bool(claim.appeal_deadline and (now is None or now < claim.appeal_deadline))
            if claim.status == "denied"
            else None
        ),
        "appealDeadline": iso(claim.appeal_deadline),
        "proofOfPayment": (
            {
                "requestedAt": iso(claim.proof_requested_at),
                "dueBy": iso(claim.proof_due_by),
                "uploadedAt": iso(claim.proof_uploaded_at),
            }
            if claim.proof_requested_at is not None
            else None
        ),
    }
    if with_member:
        body["userId"] = claim.member_id
    return body


APPEALABLE = '"appealable":true'
NOT_APPEALABLE = '"appealable":false'


def render(claim) -> str:
    """The stored form of a claim's JSON (compact; `appealable` as before the deadline)."""
    return json.dumps(claim_json(claim, None), separators=(",", ":"))


def stored_json(rendered: str, appeal_deadline: datetime | None, now: datetime) -> str:
    """A stored rendering as it reads at `now`."""
    if appeal_deadline is not None and now >= appeal_deadline:
        return rendered.replace(APPEALABLE, NOT_APPEALABLE, 1)
    return rendered


def _apply_defaults(claim: Claim) -> None:
    """Column defaults are applied at INSERT, after this hook: apply them now."""
    for column in Claim.__table__.columns:
        default = column.default
        if default is None or getattr(claim, column.key) is not None:
            continue
        value = default.arg if default.is_scalar else default.arg(None)
        setattr(claim, column.key, value)


def _render_changed_claims(session: Session, flush_context, instances) -> None:
    for obj in session.new:
        if isinstance(obj, Claim):
            _apply_defaults(obj)
            obj.rendered = render(obj)
    for obj in session.dirty:
        if isinstance(obj, Claim) and session.is_modified(obj):
            obj.rendered = render(obj)


def install() -> None:
    """Keep `Claim.rendered` current on every session (idempotent)."""
    if not event.contains(Session, "before_flush", _render_changed_claims):
        event.listen(Session, "before_flush", _render_changed_claims)
