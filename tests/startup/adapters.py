"""Adapters named by import path in tests/startup/test_providers.py (as an operator would)."""

from __future__ import annotations

from shield.subscriptions.billing import ChargeResult


class LedgerBank:
    """A bank adapter: remembers the transfers it was asked for, keyed by withdrawal id."""

    def __init__(self):
        self.transfers: dict[str, int] = {}

    def start_transfer(self, withdrawal) -> str:
        self.transfers.setdefault(withdrawal.id, withdrawal.amount_cents)
        return f"ledger_{withdrawal.id}"

    def transfer_status(self, ref, started_at, now):
        return "processing", None


class ConfiguredBilling:
    """A billing adapter built from the app's configuration."""

    def __init__(self, account: str):
        self.account = account

    @classmethod
    def from_config(cls, config):
        return cls(account=config.get("TEST_BILLING_ACCOUNT", "none"))

    def charge(self, subscription, amount_cents: int) -> ChargeResult:
        return ChargeResult(ok=False, reason=f"declined by {self.account}")


class HalfABank:
    def start_transfer(self, withdrawal) -> str:
        return "x"


class NeedsCredentials:
    def __init__(self):
        raise KeyError("BANK_API_KEY")

    def start_transfer(self, withdrawal) -> str:  # pragma: no cover
        return "x"

    def transfer_status(self, ref, started_at, now):  # pragma: no cover
        return "processing", None


NOT_A_CLASS = 42
