"""Admin subscription routes: create a member's subscription, change its status or plan."""

from __future__ import annotations

from models import db, utcnow
from models.member import Member
from shield.api import admin_blueprint
from shield.errors import NotFound
from shield.openapi import doc
from shield.requests import json_body

from . import service
from .schemas import AdminSubscriptionOut, CreateSubscriptionIn, PlanIn, StatusIn

bp = admin_blueprint("admin_subscriptions", __name__)

MAX_MEMBER_ID = Member.id.type.length


def _member_id(member_id: str) -> str:
    if not member_id or len(member_id) > MAX_MEMBER_ID:
        raise NotFound("No such member.")
    return member_id


def _dump(subscription, now):
    state, _ = service.subscription_state(db.session, subscription, now)
    return AdminSubscriptionOut().dump(state)


@bp.post("/members/<member_id>/subscription")
@doc(
    summary="Start a member's subscription",
    body=CreateSubscriptionIn,
    response=AdminSubscriptionOut,
    status=201,
)
def create(member_id: str):
    member_id = _member_id(member_id)
    data = CreateSubscriptionIn().load(json_body())
    now = utcnow()
    subscription = service.start_subscription(
        db.session, member_id, data["plan_id"], data["billing_period"], now=now
    )
    db.session.commit()
    return _dump(subscription, now), 201


@bp.get("/members/<member_id>/subscription")
@doc(summary="A member's subscription", response=AdminSubscriptionOut)
def show(member_id: str):
    subscription = service.require_subscription(db.session, _member_id(member_id))
    return _dump(subscription, utcnow())


@bp.post("/members/<member_id>/subscription/status")
@doc(summary="Change a subscription's status", body=StatusIn, response=AdminSubscriptionOut)
def change_status(member_id: str):
    member_id = _member_id(member_id)
    data = StatusIn().load(json_body())
    now = utcnow()
    subscription = service.change_status(
        db.session, member_id, data["status"], data["reason"], now=now
    )
    db.session.commit()
    return _dump(subscription, now)


@bp.post("/members/<member_id>/subscription/plan")
@doc(
    summary="Move a member to another plan (limits apply at once)",
    body=PlanIn,
    response=AdminSubscriptionOut,
)
def change_plan(member_id: str):
    member_id = _member_id(member_id)
    data = PlanIn().load(json_body())
    now = utcnow()
    subscription = service.change_plan(db.session, member_id, data["plan_id"], now=now)
    db.session.commit()
    return _dump(subscription, now)
