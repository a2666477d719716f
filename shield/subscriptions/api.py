"""Member subscription routes: the polled subscription and cancelling it."""

from __future__ import annotations

from flask import g

from models import db, utcnow
from shield.api import member_blueprint
from shield.openapi import doc
from shield.polling import conditional_get
from shield.requests import json_body

from . import service
from .schemas import CancelIn, SubscriptionOut

bp = member_blueprint("subscriptions", __name__)


@bp.get("/subscription")
@doc(
    summary="My subscription, coverage and cancellation state (ETag-aware)",
    response=SubscriptionOut,
    polled=True,
)
def get_subscription():
    member_id = g.principal.id

    def build(now):
        subscription = service.require_subscription(db.session, member_id)
        state, next_change = service.subscription_state(db.session, subscription, now)
        return SubscriptionOut().dump(state), next_change

    return conditional_get("subscription", "subscription", build)


@bp.post("/subscription/cancel")
@doc(
    summary="Cancel my subscription (not within 90 days of a payout)",
    body=CancelIn,
    response=SubscriptionOut,
)
def cancel():
    data = CancelIn().load(json_body(optional=True))
    now = utcnow()
    subscription = service.cancel(db.session, g.principal.id, data["reason"], now=now)
    db.session.commit()
    state, _ = service.subscription_state(db.session, subscription, now)
    return SubscriptionOut().dump(state)
