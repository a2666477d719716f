"""The bank transfer behind a withdrawal: a small provider interface and the simulated default.

A provider must treat the withdrawal id as the idempotency key of the transfer: the job
calls `start_transfer` inside the transaction that moves the withdrawal to `processing`,
so a crash before that commit makes the next run call it again for the same withdrawal.
Only the last four digits of the account ever reach this module.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from flask import Flask, current_app

from models import Withdrawal
from shield.rules import WITHDRAWAL_SETTLE_DELAY

# What `transfer_status` reports.
IN_TRANSIT = "processing"
SETTLED = "completed"
FAILED = "failed"

EXTENSION_KEY = "shield.bank"


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


def bank_for(app: Flask | None = None) -> BankProvider:
    """Return the app's bank provider: `app.extensions['shield.bank']`, else the simulated one."""
    app = app or current_app
    bank = app.extensions.get(EXTENSION_KEY)
    if bank is None:
        bank = app.extensions.setdefault(EXTENSION_KEY, SimulatedBank())
    return bank
