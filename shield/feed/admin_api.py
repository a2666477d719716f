"""Admin routes: what happened to the pushes of an event, and the latest pushes overall."""

from __future__ import annotations

from flask import request

from models import db
from models.delivery import CANCELLED, FAILED, PENDING, SENT
from shield.api import admin_blueprint
from shield.errors import ApiError
from shield.openapi import doc, query_enum, query_int, query_string
from shield.requests import int_arg

from . import service
from .schemas import EventDeliveriesOut, RecentDeliveriesOut

bp = admin_blueprint("feed_admin_api", __name__)

STATUSES = (PENDING, SENT, FAILED, CANCELLED)


@bp.get("/events/<event_id>/deliveries")
@doc(
    summary="An event's push deliveries and every attempt (tokens masked)",
    response=EventDeliveriesOut,
)
def event_deliveries(event_id: str):
    event, ack, deliveries = service.event_deliveries(db.session, event_id)
    return EventDeliveriesOut().dump(
        {
            "event_id": event.id,
            "event": event.name,
            "seq": event.seq,
            "user_id": event.member_id,
            "push_state": event.push_state,
            "ack": None
            if ack is None
            else {
                "event_id": ack.event_id,
                "event": event.name,
                "via": ack.via,
                "acked_at": ack.acked_at,
            },
            "deliveries": deliveries,
        }
    )


@bp.get("/push/deliveries")
@doc(
    summary="The latest push deliveries, newest event first; ?userId= ?status= ?limit= "
    "(with the log backend: what would have been sent)",
    response=RecentDeliveriesOut,
    query=[
        query_string("userId", "Only this member's deliveries (empty: all)"),
        query_enum("status", STATUSES, "Only deliveries in this status (empty: all)"),
        query_int("limit", 50, minimum=1, maximum=500),
    ],
)
def recent_deliveries():
    limit = int_arg("limit", 50, minimum=1, maximum=500)
    member_id = request.args.get("userId") or None
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise ApiError(f"status must be one of {', '.join(STATUSES)}.", status=400)
    deliveries = service.recent_deliveries(
        db.session, member_id=member_id, status=status, limit=limit
    )
    return RecentDeliveriesOut().dump({"deliveries": deliveries, "count": len(deliveries)})
