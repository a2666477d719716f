"""Which events reach whom and how: domain.md's table, the first place anyone looks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from models.outbox import AUDIENCE_ADMIN, AUDIENCE_MEMBER

Predicate = Callable[[dict], bool]


def _always(data: dict) -> bool:
    return True


def _never(data: dict) -> bool:
    return False


def _withdrawal_failed(data: dict) -> bool:
    return data.get("newStatus") == "failed"


def _past_due(data: dict) -> bool:
    return data.get("newStatus") == "past_due"


@dataclass(frozen=True)
class EventRule:
    audience: str = AUDIENCE_MEMBER
    push: Predicate = _never
    inbox: Predicate = _never
    # Critical events always push, whatever the member's push preference says.
    critical: bool = False
    ack_required: bool = False
    ack_optional: bool = False
    # Notification type used for the inbox entry and the push category.
    notification_type: str = "general"
    extra: dict = field(default_factory=dict)


EVENTS: dict[str, EventRule] = {
    "claim_submitted": EventRule(ack_optional=True),
    "claim_under_review": EventRule(push=_always, inbox=_always, notification_type="claim_update"),
    "claim_approved": EventRule(
        push=_always,
        inbox=_always,
        critical=True,
        ack_optional=True,
        notification_type="claim_update",
    ),
    "claim_denied": EventRule(
        push=_always,
        inbox=_always,
        critical=True,
        ack_optional=True,
        notification_type="claim_update",
    ),
    # One payment, one inbox entry: payout_completed's "Payment received" (domain.md,
    # "Paying": the change emits "a notification_received").
    "claim_paid": EventRule(
        push=_always,
        inbox=_never,
        critical=True,
        ack_required=True,
        notification_type="payout",
    ),
    "claim_status_changed": EventRule(),
    "payout_initiated": EventRule(),
    "payout_completed": EventRule(
        push=_always,
        inbox=_always,
        critical=True,
        ack_required=True,
        notification_type="payout",
    ),
    "withdrawal_status_changed": EventRule(
        push=_withdrawal_failed, inbox=_withdrawal_failed, notification_type="payout"
    ),
    "subscription_status_changed": EventRule(
        push=_past_due, inbox=_past_due, notification_type="general"
    ),
    "subscription_renewed": EventRule(),
    "coverage_updated": EventRule(),
    "cancellation_restriction_changed": EventRule(),
    "proof_of_payment_requested": EventRule(
        push=_always, inbox=_always, critical=True, notification_type="claim_update"
    ),
    "notification_received": EventRule(),
    "admin_claim_submitted": EventRule(audience=AUDIENCE_ADMIN),
    "admin_action_required": EventRule(audience=AUDIENCE_ADMIN),
}

ACK_REQUIRED = frozenset(name for name, rule in EVENTS.items() if rule.ack_required)
ACK_OPTIONAL = frozenset(name for name, rule in EVENTS.items() if rule.ack_optional)


def rule_for(name: str) -> EventRule:
    """Return the rule of a spec event; unknown names are a programming error."""
    try:
        return EVENTS[name]
    except KeyError:
        raise ValueError(f"unknown event {name!r}") from None
