"""Member routes of the event feed: catch up after a seq, and acknowledge critical events."""

from __future__ import annotations

import hashlib

from flask import g, jsonify

from models import db
from shield.api import member_blueprint
from shield.openapi import doc, query_int
from shield.polling import cache_headers, etag_matches, not_modified
from shield.requests import int_arg

from . import service
from .schemas import AckOut, FeedOut

bp = member_blueprint("feed_api", __name__)

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_SEQ = 2**62


def feed_etag(principal, after: int, limit: int, state: service.FeedState) -> str:
    """A validator that changes when anything the answer shows could change."""
    key = (
        f"{principal.id}|{int(principal.is_admin)}|{after}|{limit}|{state.max_visible}|"
        f"{state.oldest_kept}|{int(state.reset)}"
        # On a reset with nothing kept, lastSeq is the committed top: it must move the tag.
        f"|{state.top if state.reset and state.oldest_kept is None else ''}"
    )
    return '"' + hashlib.blake2s(key.encode(), digest_size=12).hexdigest() + '"'


@bp.get("/events")
@doc(
    summary="My events after a seq, in seq order (admins also get admin events); "
    "ETag-aware; reset=true means refetch claims, wallet and subscription",
    response=FeedOut,
    polled=True,
    query=[
        query_int("after", 0, minimum=0, maximum=MAX_SEQ, description="The last seq you hold"),
        query_int("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT),
    ],
)
def list_events():
    principal = g.principal
    after = int_arg("after", 0, minimum=0, maximum=MAX_SEQ)
    limit = int_arg("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    state = service.feed_state(db.session, principal, after)
    etag = feed_etag(principal, after, limit, state)
    if etag_matches(etag):  # nothing new: no event is loaded or serialised
        return not_modified(etag)
    page = service.feed_page(db.session, principal, state, limit)
    body = FeedOut().dump(
        {
            "events": [service.as_message(e) for e in page.events],
            "last_seq": page.last_seq,
            "has_more": page.has_more,
            "reset": page.reset,
        }
    )
    return cache_headers(jsonify(body), etag)


@bp.post("/events/<event_id>/ack")
@doc(
    summary="Acknowledge one of my events (claim_paid, payout_completed; optional for "
    "claim_submitted/approved/denied); idempotent; stops its re-push rounds",
    response=AckOut,
)
def ack(event_id: str):
    ack_row, _created = service.ack_event(db.session, g.principal, event_id, via="rest")
    event_name = service.event_name(db.session, event_id)
    db.session.commit()
    return AckOut().dump(
        {
            "event_id": ack_row.event_id,
            "event": event_name,
            "via": ack_row.via,
            "acked_at": ack_row.acked_at,
        }
    )
