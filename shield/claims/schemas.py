"""Input and output schemas of the claims API (camelCase, the spec's field names)."""

from __future__ import annotations

from datetime import date

from marshmallow import Schema, fields, pre_load, validate

from shield.fields import Money, Timestamp
from shield.patterns import Pattern
from shield.rules import DENIAL_CODES

MAX_CLAIM_CENTS = 1_000_000  # $10,000: larger tickets go to support, not the app
# No ticket the app can be asked to cover is older; later than today is refused by the service
# (it knows the request's clock).
EARLIEST_TICKET_DATE = date(2000, 1, 1)


class ClaimIn(Schema):
    ticket_number = fields.String(
        data_key="ticketNumber",
        required=True,
        # At least one character that is not a space: the number is stripped before it is
        # checked, so "   " is an empty ticket number (422), and the document says so.
        validate=[
            validate.Length(min=1, max=64),
            Pattern(r"^ *[A-Za-z0-9\-_/.][A-Za-z0-9\-_/. ]*$"),
        ],
    )
    amount_cents = Money(
        data_key="amount", required=True, minimum_cents=1, maximum_cents=MAX_CLAIM_CENTS
    )
    city = fields.String(required=True, validate=validate.Length(min=1, max=128))
    state = fields.String(required=True, validate=validate.Length(min=1, max=64))
    violation_type = fields.String(
        data_key="violationType", required=True, validate=validate.Length(min=1, max=128)
    )
    ticket_date = fields.Date(
        data_key="ticketDate",
        required=True,
        validate=validate.Range(
            min=EARLIEST_TICKET_DATE, error="Must be a date from 2000-01-01 to today."
        ),
        # The document's form of the lower bound (a year from 2000); "not after today" is a
        # rule of the request's clock, which no JSON Schema can state.
        metadata={
            "description": "From 2000-01-01 to today (later is 422)",
            "pattern": "^2[0-9]{3}-[0-9]{2}-[0-9]{2}$",
        },
    )

    @pre_load
    def _strip_ticket_number(self, data, **kwargs):
        """' T-1 ' is ticket T-1: padding must not get past the duplicate check."""
        value = data.get("ticketNumber") if isinstance(data, dict) else None
        if isinstance(value, str):
            data = {**data, "ticketNumber": value.strip()}
        return data


class ProofOut(Schema):
    proof_requested_at = Timestamp(data_key="requestedAt")
    proof_due_by = Timestamp(data_key="dueBy")
    proof_uploaded_at = Timestamp(data_key="uploadedAt", allow_none=True)


class ClaimOut(Schema):
    id = fields.String(data_key="claimId")
    ticket_number = fields.String(data_key="ticketNumber")
    amount_cents = Money(data_key="amount")
    status = fields.String(
        validate=validate.OneOf(["submitted", "under_review", "approved", "paid", "denied"])
    )
    city = fields.String()
    state = fields.String()
    violation_type = fields.String(data_key="violationType")
    ticket_date = fields.Date(data_key="ticketDate")
    submitted_at = Timestamp(data_key="submittedAt")
    updated_at = Timestamp(data_key="updatedAt")
    estimated_payout_cents = Money(data_key="estimatedPayout")
    payout_cents = Money(data_key="payoutAmount", allow_none=True)
    deductible_cents = Money(data_key="deductibleApplied", allow_none=True)
    copay_cents = Money(data_key="memberCoPay", allow_none=True)
    approved_at = Timestamp(data_key="approvalTimestamp", allow_none=True)
    paid_at = Timestamp(data_key="payoutTimestamp", allow_none=True)
    denial_code = fields.String(data_key="denialCode", allow_none=True)
    denial_reason = fields.Method("_denial_reason", data_key="denialReason", allow_none=True)
    decision_notes = fields.String(data_key="decisionNotes", allow_none=True)
    appealable = fields.Method("_appealable", allow_none=True)
    appeal_deadline = Timestamp(data_key="appealDeadline", allow_none=True)
    proof_of_payment = fields.Method("_proof", data_key="proofOfPayment", allow_none=True)

    def _denial_reason(self, claim):
        return DENIAL_CODES[claim.denial_code].reason if claim.denial_code else None

    def _appealable(self, claim):
        """Clock-derived: true until the appeal deadline passes (the ETag accounts for it)."""
        if claim.status != "denied":
            return None
        now = self.context_now()
        return bool(claim.appeal_deadline and now < claim.appeal_deadline)

    def _proof(self, claim):
        if claim.proof_requested_at is None:
            return None
        return ProofOut().dump(claim)

    def __init__(self, *args, now=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._now = now

    def context_now(self):
        from models import utcnow

        return self._now or utcnow()


class ClaimListOut(Schema):
    claims = fields.List(fields.Nested(ClaimOut))
    count = fields.Integer()


class ReviewIn(Schema):
    notes = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class ApproveIn(Schema):
    decision_notes = fields.String(
        data_key="decisionNotes",
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=2000),
    )


class DenyIn(Schema):
    denial_code = fields.String(
        data_key="denialCode", required=True, validate=validate.OneOf(sorted(DENIAL_CODES))
    )
    decision_notes = fields.String(
        data_key="decisionNotes",
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=2000),
    )


class ProofRequestIn(Schema):
    message = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))
    due_by = Timestamp(data_key="dueBy", load_default=None, allow_none=True)


class ProofUploadIn(Schema):
    document_url = fields.Url(
        data_key="documentUrl", required=True, schemes={"https"}, validate=validate.Length(max=2000)
    )
