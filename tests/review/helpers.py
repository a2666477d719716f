"""Build real state through the API: a paid claim, a withdrawal, inbox entries, a device."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from models import Wallet, WalletTransaction, db
from shield.subscriptions.service import get_subscription
from tests.factories import claim_body, subscribe

API = "/shield/v1"


def key() -> str:
    return uuid.uuid4().hex


def paid_claim(app, client, auth, member: str, amount: float = 100) -> str:
    """Subscribe (professional: no deductible), submit, approve and pay; return the claim id."""
    with app.app_context():
        if get_subscription(db.session, member) is None:
            subscribe(member, "professional")
        db.session.remove()
    admin = auth("root", admin=True)
    r = client.post(f"{API}/claims", json=claim_body(amount=amount), headers=auth(member))
    assert r.status_code == 201, r.json
    claim_id = r.json["claimId"]
    r = client.post(
        f"{API}/admin/claims/{claim_id}/approve", headers={**admin, "Idempotency-Key": key()}
    )
    assert r.status_code == 200, r.json
    r = client.post(
        f"{API}/admin/claims/{claim_id}/pay", headers={**admin, "Idempotency-Key": key()}
    )
    assert r.status_code == 200, r.json
    return claim_id


def money(member_id: str) -> tuple[int, int]:
    """(balance, ledger sum) straight from the tables (inside an app context)."""
    balance = db.session.execute(
        select(Wallet.balance_cents).where(Wallet.member_id == member_id)
    ).scalar_one_or_none()
    ledger = db.session.execute(
        select(func.coalesce(func.sum(WalletTransaction.amount_cents), 0)).where(
            WalletTransaction.member_id == member_id
        )
    ).scalar_one()
    return balance, ledger
