"""Input and output schemas of the wallet API (camelCase, dollars on the wire)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from shield.fields import Money, Timestamp
from shield.patterns import Pattern

# $100,000: far above any balance the plans allow, and well inside the integer columns.
MAX_WITHDRAWAL_CENTS = 10_000_000
LAST_FOUR = Pattern(
    r"^[0-9]{4}$", error="Must be exactly the last four digits of the bank account."
)


class WithdrawalIn(Schema):
    """Only the last four digits are accepted; any other field (an account number) is refused."""

    amount_cents = Money(
        data_key="amount", required=True, minimum_cents=1, maximum_cents=MAX_WITHDRAWAL_CENTS
    )
    bank_last_four = fields.String(
        data_key="bankAccountLastFour", required=True, validate=LAST_FOUR
    )


class FailWithdrawalIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


class CompleteWithdrawalIn(Schema):
    """No fields: the body may be empty or `{}`."""


class TransactionOut(Schema):
    id = fields.String(data_key="transactionId")
    type = fields.String(validate=validate.OneOf(["payout", "withdrawal", "refund"]))
    amount_cents = Money(data_key="amount")  # signed: credits > 0, debits < 0
    balance_after_cents = Money(data_key="balanceAfter")
    claim_id = fields.String(data_key="claimId", allow_none=True)
    payout_id = fields.String(data_key="payoutId", allow_none=True)
    withdrawal_id = fields.String(data_key="withdrawalId", allow_none=True)
    description = fields.String()
    created_at = Timestamp(data_key="createdAt")


class WithdrawalOut(Schema):
    id = fields.String(data_key="withdrawalId")
    amount_cents = Money(data_key="amount")
    status = fields.String(
        validate=validate.OneOf(["pending", "processing", "completed", "failed"])
    )
    bank_last_four = fields.String(data_key="bankAccountLastFour")
    created_at = Timestamp(data_key="createdAt")
    processing_at = Timestamp(data_key="processingAt", allow_none=True)
    completed_at = Timestamp(data_key="completedAt", allow_none=True)
    failure_reason = fields.String(data_key="failureReason", allow_none=True)


class AdminWithdrawalOut(WithdrawalOut):
    member_id = fields.String(data_key="userId")
    transfer_ref = fields.String(data_key="transferRef", allow_none=True)


class WalletOut(Schema):
    balance_cents = Money(data_key="balance")
    pending_withdrawal_cents = Money(data_key="pendingWithdrawalAmount")
    recent_transactions = fields.List(fields.Nested(TransactionOut), data_key="recentTransactions")
    withdrawals = fields.List(fields.Nested(WithdrawalOut))


class TransactionPageOut(Schema):
    transactions = fields.List(fields.Nested(TransactionOut))
    count = fields.Integer()
    limit = fields.Integer()
    next_cursor = fields.String(data_key="nextCursor", allow_none=True)


class AdminWithdrawalListOut(Schema):
    withdrawals = fields.List(fields.Nested(AdminWithdrawalOut))
    count = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()
