"""Kinds of push notice a member can switch off, read from the catalog's `kind` column.

Each pushing event falls under one kind. Critical kinds (claim approved or denied, payment
received, proof of payment requested) are locked on: they push whatever the member chose.
"""

from __future__ import annotations

from dataclasses import dataclass

from .catalog import EVENTS

TITLES = {
    "claim_under_review": "Claim under review",
    "claim_approved": "Claim approved",
    "claim_denied": "Claim denied",
    "payment_received": "Payment received",
    "withdrawal_failed": "Withdrawal failed",
    "subscription_past_due": "Subscription past due",
    "proof_of_payment_requested": "Proof of payment requested",
}


@dataclass(frozen=True)
class Kind:
    id: str
    title: str
    locked: bool  # critical: always pushes, cannot be switched off


def _kinds() -> tuple[Kind, ...]:
    found: dict[str, Kind] = {}
    for name, rule in EVENTS.items():
        if rule.kind is None:
            continue
        kind = Kind(rule.kind, TITLES[rule.kind], rule.critical)
        if found.setdefault(rule.kind, kind) != kind:
            raise ValueError(f"events of kind {rule.kind} disagree on being critical ({name})")
    return tuple(found.values())


KINDS: tuple[Kind, ...] = _kinds()
BY_ID: dict[str, Kind] = {kind.id: kind for kind in KINDS}
