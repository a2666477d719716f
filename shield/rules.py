"""Business defaults from domain.md, in one place: plans, denial codes, windows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Plan:
    id: str
    monthly_cents: int
    annual_cents: int
    annual_cap_cents: int
    max_tickets: int
    deductible_cents: int

    def price_cents(self, billing_period: str) -> int:
        return self.annual_cents if billing_period == "annual" else self.monthly_cents


PLANS: dict[str, Plan] = {
    "basic": Plan("basic", 999, 9900, 25000, 3, 1500),
    "pro": Plan("pro", 1999, 19900, 60000, 6, 1000),
    "professional": Plan("professional", 3999, 39900, 150000, 15, 0),
}


@dataclass(frozen=True)
class DenialCode:
    code: str
    reason: str
    appealable: bool


DENIAL_CODES: dict[str, DenialCode] = {
    d.code: d
    for d in (
        DenialCode("D001", "Ticket issued before coverage started", False),
        DenialCode("D002", "Subscription not active on the ticket date", False),
        DenialCode("D003", "Violation type not covered", False),
        DenialCode("D004", "Duplicate claim for the same ticket", False),
        DenialCode("D005", "Ticket photo missing or illegible", True),
        DenialCode("D006", "Ticket details do not match the photo", True),
        DenialCode("D007", "Claim filed after the filing window", True),
        DenialCode("D008", "Annual coverage cap reached", False),
        DenialCode("D009", "Ticket limit for the period reached", False),
        DenialCode("D010", "Claim flagged by fraud review", True),
        DenialCode("D011", "Vehicle not on the member's account", True),
        DenialCode("D012", "Other (see decision notes)", True),
    )
}

CAP_REACHED = "D008"
TICKET_LIMIT_REACHED = "D009"

APPEAL_WINDOW = timedelta(days=30)
CANCELLATION_RESTRICTION = timedelta(days=90)
PROOF_DUE_AFTER = timedelta(days=14)
REVIEW_ALERT_AFTER = timedelta(hours=48)
FRAUD_WINDOW = timedelta(days=7)
FRAUD_MAX_CLAIMS_IN_WINDOW = 3
COVERAGE_PERIOD_YEARS = 1
# A payout is completed by the payout job this long after approval (estimatedCompletionAt).
PAYOUT_COMPLETION_DELAY = timedelta(minutes=1)
# A withdrawal's bank transfer is expected to settle after this long.
WITHDRAWAL_SETTLE_DELAY = timedelta(minutes=2)


@dataclass(frozen=True)
class PayoutSplit:
    payout_cents: int
    deductible_cents: int
    copay_cents: int


def payout_split(amount_cents: int, deductible_cents: int, remaining_cap_cents: int) -> PayoutSplit:
    """Apply domain.md's payout formula; amount == payout + co-pay always holds."""
    payout = max(0, min(amount_cents - deductible_cents, remaining_cap_cents))
    return PayoutSplit(
        payout_cents=payout,
        deductible_cents=min(deductible_cents, amount_cents),
        copay_cents=amount_cents - payout,
    )
