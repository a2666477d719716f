"""The billing-provider port: how a renewal charges the member (a fake stands in for tests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from flask import current_app, has_app_context

from models import Subscription

EXTENSION_KEY = "shield.billing"


@dataclass(frozen=True)
class ChargeResult:
    ok: bool
    reason: str | None = None


class BillingProvider(Protocol):
    def charge(self, subscription: Subscription, amount_cents: int) -> ChargeResult:
        """Charge one billing period; a provider may derive an idempotency key from
        `subscription.id` and `subscription.next_renewal_at` (still the due date here)."""
        ...


class AlwaysSucceeds:
    """The default provider: every charge goes through."""

    def charge(self, subscription: Subscription, amount_cents: int) -> ChargeResult:
        return ChargeResult(ok=True)


def default_provider() -> BillingProvider:
    """The app's provider (`app.extensions["shield.billing"]`), else one that succeeds."""
    if has_app_context():
        provider = current_app.extensions.get(EXTENSION_KEY)
        if provider is not None:
            return provider
    return AlwaysSucceeds()
