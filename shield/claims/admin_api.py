"""Admin claim routes: the review queue and every decision on a claim."""

from __future__ import annotations

from flask import request
from marshmallow import Schema, fields
from sqlalchemy import func, or_, select

from models import Claim, db, utcnow
from shield.api import admin_blueprint
from shield.errors import ApiError
from shield.idempotency import idempotent
from shield.openapi import doc, query_enum, query_int, query_string
from shield.payouts.service import pay_claim
from shield.requests import int_arg, json_body
from shield.rules import DENIAL_CODES

from . import service
from .schemas import ApproveIn, ClaimOut, DenyIn, ProofRequestIn, ReviewIn
from .serialize import claim_json

bp = admin_blueprint("admin_claims", __name__)

STATUSES = ("submitted", "under_review", "approved", "paid", "denied")
MAX_SEARCH = 64


class AdminClaimOut(ClaimOut):
    member_id = fields.String(data_key="userId")


class AdminClaimListOut(Schema):
    claims = fields.List(fields.Nested(AdminClaimOut))
    count = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()


class ClaimCountsOut(Schema):
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={"description": "claims per status; every status present, 0 when none"},
    )
    total = fields.Integer(required=True)


class DenialCodeOut(Schema):
    code = fields.String(required=True)
    reason = fields.String(required=True)
    appealable = fields.Boolean(required=True)


class DenialCodesOut(Schema):
    denial_codes = fields.List(fields.Nested(DenialCodeOut), data_key="denialCodes", required=True)


@bp.get("/claims")
@doc(
    summary="Claims by status, oldest first (the review queue); ?q= a ticket number prefix "
    "or a member id",
    response=AdminClaimListOut,
    query=[
        query_enum("status", STATUSES, "Only claims in this status (empty: all)"),
        query_string("q", "A ticket number prefix or a member id", maxLength=MAX_SEARCH),
        query_int("limit", 50, minimum=1, maximum=200),
        query_int("offset", 0, minimum=0),
    ],
)
def list_claims():
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise ApiError(f"status must be one of {', '.join(STATUSES)}.", status=400)
    limit = int_arg("limit", 50, minimum=1, maximum=200)
    offset = int_arg("offset", 0, minimum=0)
    query = select(Claim).order_by(Claim.submitted_at.asc(), Claim.id.asc())
    if status:
        query = query.where(Claim.status == status)
    search = request.args.get("q") or ""
    if len(search) > MAX_SEARCH:
        raise ApiError(f"q must be at most {MAX_SEARCH} characters.", status=400)
    search = search.strip()
    if search:
        query = query.where(
            or_(Claim.ticket_number.startswith(search, autoescape=True), Claim.member_id == search)
        )
    claims = db.session.execute(query.limit(limit).offset(offset)).scalars().all()
    now = utcnow()
    return {
        "claims": [claim_json(c, now, with_member=True) for c in claims],
        "count": len(claims),
        "limit": limit,
        "offset": offset,
    }


@bp.get("/claims/counts")
@doc(summary="How many claims are in each status", response=ClaimCountsOut)
def claim_counts():
    rows = db.session.execute(select(Claim.status, func.count()).group_by(Claim.status)).all()
    found = dict(rows)
    counts = {status: int(found.get(status, 0)) for status in STATUSES}
    return ClaimCountsOut().dump({"counts": counts, "total": sum(counts.values())})


@bp.get("/denial-codes")
@doc(summary="The denial codes a claim can be denied with (domain.md)", response=DenialCodesOut)
def denial_codes():
    codes = [
        {"code": d.code, "reason": d.reason, "appealable": d.appealable}
        for d in DENIAL_CODES.values()
    ]
    return DenialCodesOut().dump({"denial_codes": codes})


@bp.get("/claims/<claim_id>")
@doc(summary="Any claim", response=AdminClaimOut)
def get_claim(claim_id: str):
    claim = db.session.get(Claim, claim_id)
    if claim is None:
        raise ApiError("No such claim.", code="NOT_FOUND", status=404)
    return claim_json(claim, utcnow(), with_member=True)


@bp.post("/claims/<claim_id>/review")
@doc(summary="Move a submitted claim to under_review", body=ReviewIn, response=AdminClaimOut)
def review(claim_id: str):
    ReviewIn().load(json_body(optional=True))
    claim = service.start_review(db.session, claim_id)
    db.session.commit()
    return claim_json(claim, utcnow(), with_member=True)


@bp.post("/claims/<claim_id>/approve")
@doc(
    summary="Approve a claim and start its payout (denied D008/D009 past cap or ticket limit)",
    body=ApproveIn,
    response=AdminClaimOut,
    idempotent=True,
)
@idempotent
def approve(claim_id: str):
    data = ApproveIn().load(json_body(optional=True))
    claim = service.approve(db.session, claim_id, data["decision_notes"])
    return claim_json(claim, utcnow(), with_member=True), 200


@bp.post("/claims/<claim_id>/deny")
@doc(summary="Deny a claim with a denial code", body=DenyIn, response=AdminClaimOut)
def deny(claim_id: str):
    data = DenyIn().load(json_body())
    claim = service.deny(db.session, claim_id, data["denial_code"], data["decision_notes"])
    db.session.commit()
    return claim_json(claim, utcnow(), with_member=True)


@bp.post("/claims/<claim_id>/pay")
@doc(summary="Complete the payout: credit the wallet once", response=AdminClaimOut, idempotent=True)
@idempotent
def pay(claim_id: str):
    json_body(optional=True)
    claim = pay_claim(db.session, claim_id)
    return claim_json(claim, utcnow(), with_member=True), 200


@bp.post("/claims/<claim_id>/proof-request")
@doc(
    summary="Ask the member for proof that the ticket was paid",
    body=ProofRequestIn,
    response=AdminClaimOut,
)
def request_proof(claim_id: str):
    data = ProofRequestIn().load(json_body(optional=True))
    claim = service.request_proof(db.session, claim_id, data["message"], data["due_by"])
    db.session.commit()
    return claim_json(claim, utcnow(), with_member=True)
