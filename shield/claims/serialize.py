"""The claim's JSON, written by hand: the claims list is the polling hot path's 200.

`ClaimOut` (schemas.py) documents the same shape for OpenAPI; a test keeps the two equal.
Works on ORM objects and on plain rows of `CLAIM_COLUMNS` alike.
"""

from __future__ import annotations

from datetime import datetime

from models import Claim
from shield.rules import DENIAL_CODES
from shield.wire import dollars, iso

CLAIM_COLUMNS = tuple(
    getattr(Claim, name)
    for name in (
        "id",
        "member_id",
        "ticket_number",
        "amount_cents",
        "status",
        "city",
        "state",
        "violation_type",
        "ticket_date",
        "submitted_at",
        "updated_at",
        "estimated_payout_cents",
        "payout_cents",
        "deductible_cents",
        "copay_cents",
        "approved_at",
        "paid_at",
        "denial_code",
        "decision_notes",
        "appeal_deadline",
        "proof_requested_at",
        "proof_due_by",
        "proof_uploaded_at",
    )
)


def claim_json(claim, now: datetime, *, with_member: bool = False) -> dict:
    """Return the REST representation of a claim at `now` (appealable depends on it)."""
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
            bool(claim.appeal_deadline and now < claim.appeal_deadline)
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
