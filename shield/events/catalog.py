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
    # The preference switch (shield/events/kinds.py) a pushing event falls under.
    kind: str | None = None
    # The data field naming the change an event is part of: an ack of one event of a
    # change acknowledges the others too (one payment: claim_paid and payout_completed).
    change_key: str | None = None
    extra: dict = field(default_factory=dict)


EVENTS: dict[str, EventRule] = {
    "claim_submitted": EventRule(ack_optional=True),
    "claim_under_review": EventRule(
        push=_always, inbox=_always, notification_type="claim_update", kind="claim_under_review"
    ),
    "claim_approved": EventRule(
        push=_always,
        inbox=_always,
        critical=True,
        ack_optional=True,
        notification_type="claim_update",
        kind="claim_approved",
    ),
    "claim_denied": EventRule(
        push=_always,
        inbox=_always,
        critical=True,
        ack_optional=True,
        notification_type="claim_update",
        kind="claim_denied",
    ),
    # One payment, one push and one inbox entry: payout_completed's "Payment received"
    # (domain.md, "One change, one push per device"). claim_paid still reaches the feed and
    # the socket, and its ack (like payout_completed's) stops the payment's re-pushes.
    "claim_paid": EventRule(
        ack_required=True,
        notification_type="payout",
        change_key="transactionId",
    ),
    "claim_status_changed": EventRule(),
    "payout_initiated": EventRule(),
    "payout_completed": EventRule(
        push=_always,
        inbox=_always,
        critical=True,
        ack_required=True,
        notification_type="payout",
        kind="payment_received",
        change_key="transactionId",
    ),
    "withdrawal_status_changed": EventRule(
        push=_withdrawal_failed,
        inbox=_withdrawal_failed,
        notification_type="payout",
        kind="withdrawal_failed",
    ),
    "subscription_status_changed": EventRule(
        push=_past_due, inbox=_past_due, notification_type="general", kind="subscription_past_due"
    ),
    "subscription_renewed": EventRule(),
    "coverage_updated": EventRule(),
    "cancellation_restriction_changed": EventRule(),
    "proof_of_payment_requested": EventRule(
        push=_always,
        inbox=_always,
        critical=True,
        notification_type="claim_update",
        kind="proof_of_payment_requested",
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
