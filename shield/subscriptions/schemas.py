"""Input and output schemas of the subscription API (camelCase, the spec's field names)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from models.subscription import BILLING_PERIODS, STATUSES
from shield.fields import Money, Timestamp
from shield.patterns import Pattern
from shield.rules import PLANS

PLAN_IDS = sorted(PLANS)
REASON = validate.Length(min=1, max=200)


def _key(name: str, field_class=fields.String, **kwargs):
    """A field reading key `name` of a dict already in wire format, under the same name."""
    return field_class(data_key=name, attribute=name, **kwargs)


def _number(name: str):
    """Dollars already converted by the coverage code, passed through unchanged."""
    return _key(name, fields.Raw, metadata={"type": "number"})


class CoverageOut(Schema):
    """Exactly the `coverage` object of `coverage_updated`."""

    plan_id = _key("planId")
    annual_cap = _number("annualCap")
    used_amount = _number("usedAmount")
    remaining_amount = _number("remainingAmount")
    tickets_used = _key("ticketsUsed", fields.Integer)
    max_tickets = _key("maxTickets", fields.Integer)
    period_start = _key("periodStart", metadata={"format": "date-time"})
    period_end = _key("periodEnd", metadata={"format": "date-time"})


class CancellationOut(Schema):
    can_cancel = _key("canCancel", fields.Boolean)
    restriction_end_date = _key(
        "restrictionEndDate", allow_none=True, metadata={"format": "date-time"}
    )
    days_remaining = _key("daysRemaining", fields.Integer, allow_none=True)


class SubscriptionOut(Schema):
    id = fields.String(data_key="subscriptionId")
    plan_id = fields.String(data_key="planId", validate=validate.OneOf(PLAN_IDS))
    status = fields.String(validate=validate.OneOf(STATUSES))
    billing_period = fields.String(
        data_key="billingPeriod", validate=validate.OneOf(BILLING_PERIODS)
    )
    price_cents = Money(data_key="price")
    started_at = Timestamp(data_key="startedAt")
    renewed_at = Timestamp(data_key="renewedAt", allow_none=True)
    next_renewal_at = Timestamp(data_key="nextRenewalDate")
    cancelled_at = Timestamp(data_key="cancelledAt", allow_none=True)
    coverage = fields.Nested(CoverageOut)
    cancellation = fields.Nested(CancellationOut)


class AdminSubscriptionOut(SubscriptionOut):
    member_id = fields.String(data_key="userId")


class CancelIn(Schema):
    reason = fields.String(load_default=None, allow_none=True, validate=REASON)


class CreateSubscriptionIn(Schema):
    plan_id = fields.String(data_key="planId", required=True, validate=validate.OneOf(PLAN_IDS))
    billing_period = fields.String(
        data_key="billingPeriod", required=True, validate=validate.OneOf(BILLING_PERIODS)
    )


class StatusIn(Schema):
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    reason = fields.String(
        load_default=None,
        allow_none=True,
        validate=[REASON, Pattern(r"^[a-z0-9_]+$", error="Use a snake_case code.")],
    )


class PlanIn(Schema):
    plan_id = fields.String(data_key="planId", required=True, validate=validate.OneOf(PLAN_IDS))
