"""Human-readable titles and messages per event, shared by the inbox and push."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Text:
    title: str
    message: str
    route: str | None
    claim_id: str | None


def _money(value) -> str:
    return f"${value:,.2f}" if value is not None else ""


def describe(name: str, data: dict) -> Text:
    """Return what a person should read about an event."""
    claim_id = data.get("claimId")
    ticket = data.get("ticketNumber", "")
    claim_route = f"/claims/{claim_id}" if claim_id else None
    if name == "claim_under_review":
        return Text(
            "Claim under review", f"Ticket {ticket} is being reviewed.", claim_route, claim_id
        )
    if name == "claim_approved":
        return Text(
            "Claim approved",
            f"Ticket {ticket} was approved: {_money(data.get('payoutAmount'))} is on its way.",
            claim_route,
            claim_id,
        )
    if name == "claim_denied":
        return Text(
            "Claim denied",
            f"Ticket {ticket} was denied: {data.get('denialReason', '')}.",
            claim_route,
            claim_id,
        )
    if name == "claim_paid":
        return Text(
            "Claim paid",
            f"Ticket {ticket} was paid: {_money(data.get('payoutAmount'))} added to your wallet.",
            claim_route,
            claim_id,
        )
    if name == "payout_completed":
        return Text(
            "Payment received",
            f"{_money(data.get('amount'))} was added to your wallet.",
            "/wallet",
            claim_id,
        )
    if name == "withdrawal_status_changed":
        if data.get("newStatus") == "failed":
            return Text(
                "Withdrawal failed",
                f"Your withdrawal of {_money(data.get('amount'))} failed and was returned to "
                "your wallet.",
                "/wallet",
                None,
            )
        return Text(
            "Withdrawal completed",
            f"{_money(data.get('amount'))} was sent to your bank account "
            f"ending {data.get('bankAccountLastFour', '')}.",
            "/wallet",
            None,
        )
    if name == "subscription_status_changed":
        if data.get("newStatus") == "past_due":
            return Text(
                "Payment failed",
                "We could not renew your Shield subscription. Please update your payment method.",
                "/subscription",
                None,
            )
        return Text(
            "Subscription updated",
            f"Your subscription is now {data.get('newStatus', '')}.",
            "/subscription",
            None,
        )
    if name == "proof_of_payment_requested":
        return Text("Proof of payment needed", data.get("message", ""), claim_route, claim_id)
    return Text(name.replace("_", " ").capitalize(), "", claim_route, claim_id)
