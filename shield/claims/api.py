"""Member claim routes: list, detail, submit, upload proof of payment."""

from __future__ import annotations

from flask import g

from models import db, utcnow
from shield.api import member_blueprint
from shield.openapi import doc
from shield.polling import conditional_get
from shield.requests import json_body

from . import service
from .schemas import ClaimIn, ClaimListOut, ClaimOut, ProofUploadIn
from .serialize import claim_json

bp = member_blueprint("claims", __name__)


@bp.get("/claims")
@doc(summary="List my claims (ETag-aware; poll every 30 s)", response=ClaimListOut, polled=True)
def list_claims():
    member_id = g.principal.id

    def build(now):
        return service.list_json(db.session, member_id, now)

    return conditional_get("claims", "claims", build)


@bp.get("/claims/<claim_id>")
@doc(summary="One of my claims (ETag-aware)", response=ClaimOut, polled=True)
def get_claim(claim_id: str):
    member_id = g.principal.id

    def build(now):
        claim = service.get_member_claim(db.session, member_id, claim_id)
        return claim_json(claim, now), service.next_clock_change(db.session, member_id, now)

    return conditional_get("claims", f"claim:{claim_id}", build, always_exists=False)


@bp.post("/claims")
@doc(summary="Submit a claim for a ticket", body=ClaimIn, response=ClaimOut, status=201)
def submit_claim():
    data = ClaimIn().load(json_body())
    claim = service.submit_claim(db.session, g.principal, data)
    db.session.commit()
    return claim_json(claim, utcnow()), 201


@bp.post("/claims/<claim_id>/proof")
@doc(summary="Send the requested proof of payment", body=ProofUploadIn, response=ClaimOut)
def upload_proof(claim_id: str):
    data = ProofUploadIn().load(json_body())
    claim = service.upload_proof(db.session, g.principal.id, claim_id, data["document_url"])
    db.session.commit()
    return claim_json(claim, utcnow())
