"""Admin withdrawal routes: the queue, and completing or failing a withdrawal by hand."""

from __future__ import annotations

from flask import request

from models import Withdrawal, db
from shield.api import admin_blueprint
from shield.errors import ApiError, NotFound
from shield.idempotency import idempotent
from shield.openapi import doc, query_enum, query_int, query_string
from shield.requests import int_arg, json_body

from . import ledger, withdrawals
from .schemas import (
    AdminWithdrawalListOut,
    AdminWithdrawalOut,
    CompleteWithdrawalIn,
    FailWithdrawalIn,
    TransactionPageOut,
    WalletOut,
)
from .view import wallet_view

bp = admin_blueprint("admin_wallet", __name__)

MAX_PAGE = 100


@bp.get("/members/<member_id>/wallet")
@doc(summary="A member's balance, newest transactions and recent withdrawals", response=WalletOut)
def member_wallet(member_id: str):
    return WalletOut().dump(wallet_view(db.session, member_id))


@bp.get("/members/<member_id>/wallet/transactions")
@doc(
    summary="A member's wallet statement, newest first; pass nextCursor as `before`",
    response=TransactionPageOut,
)
def member_transactions(member_id: str):
    limit = int_arg("limit", 50, minimum=1, maximum=MAX_PAGE)
    before = request.args.get("before") or None
    page, cursor = ledger.list_transactions(db.session, member_id, limit, before)
    return TransactionPageOut().dump(
        {"transactions": page, "count": len(page), "limit": limit, "next_cursor": cursor}
    )


@bp.get("/withdrawals")
@doc(
    summary="Withdrawals by status (and userId), oldest first",
    response=AdminWithdrawalListOut,
    query=[
        query_enum("status", withdrawals.STATUSES, "Only withdrawals in this status (empty: all)"),
        query_string("userId", "Only this member's withdrawals (empty: all)"),
        query_int("limit", 50, minimum=1, maximum=200),
        query_int("offset", 0, minimum=0),
    ],
)
def list_withdrawals():
    status = request.args.get("status") or None
    if status is not None and status not in withdrawals.STATUSES:
        raise ApiError(f"status must be one of {', '.join(withdrawals.STATUSES)}.", status=400)
    limit = int_arg("limit", 50, minimum=1, maximum=200)
    offset = int_arg("offset", 0, minimum=0)
    rows = withdrawals.list_withdrawals(
        db.session, status, request.args.get("userId") or None, limit, offset
    )
    return AdminWithdrawalListOut().dump(
        {"withdrawals": rows, "count": len(rows), "limit": limit, "offset": offset}
    )


@bp.get("/withdrawals/<withdrawal_id>")
@doc(summary="Any withdrawal", response=AdminWithdrawalOut)
def get_withdrawal(withdrawal_id: str):
    withdrawal = db.session.get(Withdrawal, withdrawal_id)
    if withdrawal is None:
        raise NotFound("No such withdrawal.")
    return AdminWithdrawalOut().dump(withdrawal)


@bp.post("/withdrawals/<withdrawal_id>/complete")
@doc(
    summary="Mark a pending or processing withdrawal completed",
    body=CompleteWithdrawalIn,
    response=AdminWithdrawalOut,
    idempotent=True,
)
@idempotent
def complete(withdrawal_id: str):
    CompleteWithdrawalIn().load(json_body(optional=True))
    withdrawal = withdrawals.complete_withdrawal(db.session, withdrawal_id)
    return AdminWithdrawalOut().dump(withdrawal), 200


@bp.post("/withdrawals/<withdrawal_id>/fail")
@doc(
    summary="Fail a pending or processing withdrawal and refund the wallet",
    body=FailWithdrawalIn,
    response=AdminWithdrawalOut,
    idempotent=True,
)
@idempotent
def fail(withdrawal_id: str):
    data = FailWithdrawalIn().load(json_body())
    withdrawal = withdrawals.fail_withdrawal(db.session, withdrawal_id, data["reason"])
    return AdminWithdrawalOut().dump(withdrawal), 200
