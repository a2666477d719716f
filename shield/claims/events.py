"""Spec payloads for claim events."""

from __future__ import annotations

from datetime import datetime

from models import Claim, Member
from shield.rules import DENIAL_CODES
from shield.wire import dollars, iso


def claim_submitted(claim: Claim) -> dict:
    return {
        "claimId": claim.id,
        "ticketNumber": claim.ticket_number,
        "amount": dollars(claim.amount_cents),
        "status": "submitted",
        "city": claim.city,
        "state": claim.state,
        "violationType": claim.violation_type,
        "submittedAt": iso(claim.submitted_at),
        "estimatedPayout": dollars(claim.estimated_payout_cents),
    }


def admin_claim_submitted(claim: Claim, member: Member) -> dict:
    return {
        "claimId": claim.id,
        "userId": claim.member_id,
        "userEmail": member.email or "",
        "ticketNumber": claim.ticket_number,
        "amount": dollars(claim.amount_cents),
        "violationType": claim.violation_type,
        "city": claim.city,
        "state": claim.state,
        "submittedAt": iso(claim.submitted_at),
    }


def status_change(claim: Claim, previous: str, now: datetime) -> dict:
    return {
        "claimId": claim.id,
        "ticketNumber": claim.ticket_number,
        "previousStatus": previous,
        "newStatus": claim.status,
        "updatedAt": iso(now),
    }


def claim_approved(claim: Claim, previous: str) -> dict:
    return {
        "claimId": claim.id,
        "ticketNumber": claim.ticket_number,
        "previousStatus": previous,
        "newStatus": "approved",
        "payoutAmount": dollars(claim.payout_cents),
        "deductibleApplied": dollars(claim.deductible_cents),
        "memberCoPay": dollars(claim.copay_cents),
        "approvalTimestamp": iso(claim.approved_at),
        "decisionNotes": claim.decision_notes,
    }


def claim_denied(claim: Claim, previous: str) -> dict:
    code = DENIAL_CODES[claim.denial_code]
    return {
        "claimId": claim.id,
        "ticketNumber": claim.ticket_number,
        "previousStatus": previous,
        "newStatus": "denied",
        "denialCode": code.code,
        "denialReason": code.reason,
        "decisionNotes": claim.decision_notes,
        "appealable": code.appealable,
        "appealDeadline": iso(claim.appeal_deadline) if code.appealable else None,
    }


def claim_paid(claim: Claim, payout, wallet_balance_cents: int) -> dict:
    return {
        "claimId": claim.id,
        "ticketNumber": claim.ticket_number,
        "previousStatus": "approved",
        "newStatus": "paid",
        "payoutAmount": dollars(payout.amount_cents),
        "payoutTimestamp": iso(payout.completed_at),
        "walletBalance": dollars(wallet_balance_cents),
        "transactionId": payout.transaction_id,
    }


def proof_requested(claim: Claim, message: str) -> dict:
    return {
        "claimId": claim.id,
        "ticketNumber": claim.ticket_number,
        "requestedAt": iso(claim.proof_requested_at),
        "dueBy": iso(claim.proof_due_by),
        "message": message,
    }
