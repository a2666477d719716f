"""The bank transfer behind a withdrawal: the provider interface and the simulated one.

SHIELD_BANK_PROVIDER picks the provider (`simulated` or `package.module:Class`; unset is
`simulated` in development and test and refuses to start in production). The contract an
adapter must keep (the withdrawal id is the idempotency key; raise, never answer `failed`,
when the outcome is unknown) is in docs/providers.md. Only the last four digits of the
account ever reach this module.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from flask import Flask, current_app

from models import Withdrawal
from shield import providers
from shield.rules import WITHDRAWAL_SETTLE_DELAY

# What `transfer_status` reports.
IN_TRANSIT = "processing"
SETTLED = "completed"
FAILED = "failed"

EXTENSION_KEY = "shield.bank"
SETTING = "SHIELD_BANK_PROVIDER"
METHODS = ("start_transfer", "transfer_status")


class BankProvider(Protocol):
    def start_transfer(self, withdrawal: Withdrawal) -> str:
        """Start the transfer of `withdrawal` and return the provider's reference."""
        ...

    def transfer_status(
        self, ref: str, started_at: datetime, now: datetime
    ) -> tuple[str, str | None]:
        """Return (processing|completed|failed, failure reason or None) for a transfer."""
        ...


class SimulatedBank:
    """Settles every transfer `delay` after it started; `fail_reason` makes them all fail."""

    def __init__(self, delay: timedelta = WITHDRAWAL_SETTLE_DELAY, fail_reason: str | None = None):
        self.delay = delay
        self.fail_reason = fail_reason

    def start_transfer(self, withdrawal: Withdrawal) -> str:
        return f"sim_{withdrawal.id}"

    def transfer_status(
        self, ref: str, started_at: datetime, now: datetime
    ) -> tuple[str, str | None]:
        if now < started_at + self.delay:
            return IN_TRANSIT, None
        if self.fail_reason:
            return FAILED, self.fail_reason
        return SETTLED, None


BUILTINS = {providers.SIMULATED: SimulatedBank}
SIMULATED_EFFECT = "every withdrawal is marked completed after a delay WITHOUT MOVING ANY MONEY"


def install(app: Flask) -> BankProvider:
    """Build the provider SHIELD_BANK_PROVIDER names and keep it on the app."""
    return providers.install(app, EXTENSION_KEY, SETTING, BUILTINS, METHODS, SIMULATED_EFFECT)


def bank_for(app: Flask | None = None) -> BankProvider:
    """Return the app's bank provider (`app.extensions['shield.bank']`, set at start)."""
    app = app or current_app
    bank = app.extensions.get(EXTENSION_KEY)
    return bank if bank is not None else install(app)
