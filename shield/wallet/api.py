"""Member wallet routes: balance and ledger (polled with ETags), and withdrawals."""

from __future__ import annotations

from flask import g, request

from models import db
from shield.api import member_blueprint
from shield.idempotency import idempotent
from shield.openapi import doc, query_int, query_string
from shield.polling import conditional_get
from shield.requests import int_arg, json_body

from . import ledger, withdrawals
from .schemas import TransactionPageOut, WalletOut, WithdrawalIn, WithdrawalOut
from .view import wallet_view

bp = member_blueprint("wallet", __name__)

MAX_PAGE = 100


@bp.get("/wallet")
@doc(
    summary="Balance, the 10 newest transactions and recent withdrawals",
    response=WalletOut,
    polled=True,
)
def get_wallet():
    member_id = g.principal.id

    def build(now):
        return WalletOut().dump(wallet_view(db.session, member_id)), None

    return conditional_get("wallet", "wallet", build)


@bp.get("/wallet/transactions")
@doc(
    summary="The ledger, newest first; pass nextCursor as `before` for the next page",
    response=TransactionPageOut,
    polled=True,
    query=[
        query_int("limit", 20, minimum=1, maximum=MAX_PAGE),
        query_string("before", "The nextCursor of the previous page"),
    ],
)
def list_transactions():
    member_id = g.principal.id
    limit = int_arg("limit", 20, minimum=1, maximum=MAX_PAGE)
    before = request.args.get("before") or None

    def build(now):
        page, cursor = ledger.list_transactions(db.session, member_id, limit, before)
        body = {"transactions": page, "count": len(page), "limit": limit, "next_cursor": cursor}
        return TransactionPageOut().dump(body), None

    return conditional_get("wallet", f"transactions:{limit}:{before or ''}", build)


@bp.get("/wallet/withdrawals/<withdrawal_id>")
@doc(summary="One of your withdrawals", response=WithdrawalOut, polled=True)
def get_withdrawal(withdrawal_id: str):
    member_id = g.principal.id

    def build(now):
        withdrawal = withdrawals.get_member_withdrawal(db.session, member_id, withdrawal_id)
        return WithdrawalOut().dump(withdrawal), None

    return conditional_get("wallet", f"withdrawal:{withdrawal_id}", build)


@bp.post("/wallet/withdrawals")
@doc(
    summary="Withdraw to the bank account ending in bankAccountLastFour",
    body=WithdrawalIn,
    response=WithdrawalOut,
    status=201,
    idempotent=True,
)
@idempotent
def create_withdrawal():
    data = WithdrawalIn().load(json_body())
    withdrawal = withdrawals.request_withdrawal(
        db.session, g.principal.id, data["amount_cents"], data["bank_last_four"]
    )
    return WithdrawalOut().dump(withdrawal), 201
