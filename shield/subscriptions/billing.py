"""The billing-provider port: how a renewal charges the member.

SHIELD_BILLING_PROVIDER picks the provider (`simulated` or `package.module:Class`; unset is
`simulated` in development and test and refuses to start in production). The contract an
adapter must keep is in docs/providers.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from flask import Flask, current_app

from models import Subscription
from shield import providers

EXTENSION_KEY = "shield.billing"
SETTING = "SHIELD_BILLING_PROVIDER"
METHODS = ("charge",)


@dataclass(frozen=True)
class ChargeResult:
    ok: bool
    reason: str | None = None


class BillingProvider(Protocol):
    def charge(self, subscription: Subscription, amount_cents: int) -> ChargeResult:
        """Charge one billing period; a provider may derive an idempotency key from
        `subscription.id` and `subscription.next_renewal_at` (still the due date here)."""
        ...


class SimulatedBilling:
    """The simulation: every charge "goes through" and nobody is charged."""

    def charge(self, subscription: Subscription, amount_cents: int) -> ChargeResult:
        return ChargeResult(ok=True)


BUILTINS = {providers.SIMULATED: SimulatedBilling}
SIMULATED_EFFECT = "every renewal succeeds WITHOUT CHARGING ANYONE"


def install(app: Flask) -> BillingProvider:
    """Build the provider SHIELD_BILLING_PROVIDER names and keep it on the app."""
    return providers.install(app, EXTENSION_KEY, SETTING, BUILTINS, METHODS, SIMULATED_EFFECT)


def default_provider() -> BillingProvider:
    """The app's provider (`app.extensions["shield.billing"]`, set at start)."""
    provider = current_app.extensions.get(EXTENSION_KEY)
    return provider if provider is not None else install(current_app)
