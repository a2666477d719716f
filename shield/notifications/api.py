"""Member notification routes: the polled inbox, marking read, and the push preferences."""

from __future__ import annotations

from flask import g

from models import db
from shield.api import member_blueprint
from shield.openapi import doc, query_int
from shield.polling import conditional_get
from shield.requests import int_arg, json_body

from . import service
from .schemas import EmptyIn, InboxOut, PreferencesIn, PreferencesOut, ReadAllOut, ReadOut

bp = member_blueprint("notifications", __name__)


@bp.get("/notifications")
@doc(
    summary="My notification inbox with unreadCount (ETag-aware)",
    response=InboxOut,
    polled=True,
    query=[query_int("limit", service.DEFAULT_LIMIT, minimum=1, maximum=service.MAX_LIMIT)],
)
def list_notifications():
    member_id = g.principal.id
    limit = int_arg("limit", service.DEFAULT_LIMIT, minimum=1, maximum=service.MAX_LIMIT)

    def build(now):
        entries = service.list_notifications(db.session, member_id, limit)
        body = {
            "notifications": entries,
            "unread_count": service.unread_count(db.session, member_id),
        }
        return InboxOut().dump(body), None

    return conditional_get("notifications", f"notifications:{limit}", build)


@bp.post("/notifications/<notification_id>/read")
@doc(summary="Mark one notification read", response=ReadOut)
def mark_read(notification_id: str):
    EmptyIn().load(json_body(optional=True))
    member_id = g.principal.id
    entry = service.mark_read(db.session, member_id, notification_id)
    db.session.commit()
    return ReadOut().dump(
        {"notification": entry, "unread_count": service.unread_count(db.session, member_id)}
    )


@bp.post("/notifications/read-all")
@doc(summary="Mark every notification read", response=ReadAllOut)
def mark_all_read():
    EmptyIn().load(json_body(optional=True))
    member_id = g.principal.id
    updated = service.mark_all_read(db.session, member_id)
    db.session.commit()
    return ReadAllOut().dump(
        {"updated": updated, "unread_count": service.unread_count(db.session, member_id)}
    )


@bp.get("/notifications/preferences")
@doc(
    summary="My push preferences: the global switch and every kind with enabled and locked",
    response=PreferencesOut,
)
def get_preferences():
    return PreferencesOut().dump(service.preferences(db.session, g.principal.id))


@bp.put("/notifications/preferences")
@doc(
    summary="Turn push off or on for non-critical events, globally (pushEnabled) or per kind "
    "(kinds: claim_under_review, withdrawal_failed, subscription_past_due); critical kinds "
    "are locked on (422 naming them), unknown kinds a 422; answers like GET",
    body=PreferencesIn,
    response=PreferencesOut,
)
def set_preferences():
    data = PreferencesIn().load(json_body())
    body = service.set_preferences(
        db.session, g.principal, data.get("push_enabled"), data.get("kinds")
    )
    db.session.commit()
    return PreferencesOut().dump(body)
