"""Admin route: a claim's event history (every event that names it) and its proof document.

The console shows these beside the claim; each event's push deliveries are one more call to
`GET /admin/events/<id>/deliveries`.
"""

from __future__ import annotations

from marshmallow import Schema, fields
from sqlalchemy import or_, select

from models import Claim, OutboxEvent, db
from models.outbox import AUDIENCE_ADMIN
from shield.api import admin_blueprint
from shield.errors import ApiError
from shield.events import message
from shield.events.schemas import EventMessageOut
from shield.fields import Timestamp
from shield.openapi import doc

bp = admin_blueprint("admin_claim_history", __name__)

# The newest events looked at for one claim (its member's and the admin ones).
SCAN_LIMIT = 2000


class HistoryEventOut(EventMessageOut):
    push_state = fields.String(data_key="pushState")
    created_at = Timestamp(data_key="createdAt")


class ClaimHistoryOut(Schema):
    claim_id = fields.String(data_key="claimId", required=True)
    user_id = fields.String(data_key="userId", required=True)
    document_url = fields.String(
        data_key="documentUrl",
        allow_none=True,
        metadata={"description": "the proof of payment the member uploaded, if any"},
    )
    events = fields.List(fields.Nested(HistoryEventOut), required=True)


def claim_events(session, claim: Claim) -> list[OutboxEvent]:
    """Events whose data names the claim, oldest first."""
    rows = session.execute(
        select(OutboxEvent)
        .where(
            or_(OutboxEvent.member_id == claim.member_id, OutboxEvent.audience == AUDIENCE_ADMIN)
        )
        .order_by(OutboxEvent.seq.desc())
        .limit(SCAN_LIMIT)
    ).scalars()
    named = [e for e in rows if (e.payload.get("data") or {}).get("claimId") == claim.id]
    return list(reversed(named))


@bp.get("/claims/<claim_id>/history")
@doc(
    summary="A claim's events, oldest first (member and admin events naming it), with its "
    "proof document link",
    response=ClaimHistoryOut,
)
def history(claim_id: str):
    claim = db.session.get(Claim, claim_id)
    if claim is None:
        raise ApiError("No such claim.", code="NOT_FOUND", status=404)
    events = [
        {**message(e.payload, e.id, e.seq), "push_state": e.push_state, "created_at": e.created_at}
        for e in claim_events(db.session, claim)
    ]
    return ClaimHistoryOut().dump(
        {
            "claim_id": claim.id,
            "user_id": claim.member_id,
            "document_url": claim.proof_document_url,
            "events": events,
        }
    )
