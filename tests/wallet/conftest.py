"""Wallet fixtures: money reaches a wallet the real way (subscription, claim, approve, pay)."""

from __future__ import annotations

import pytest

from models import db
from shield.subscriptions.service import get_subscription
from tests.factories import claim_body, subscribe

from .helpers import WITHDRAWALS, key


@pytest.fixture
def admin(auth):
    return auth("root", admin=True)


@pytest.fixture
def fund(app, client, auth, admin):
    """fund("alice", 120, 30): one paid claim per amount (professional plan: no deductible)."""

    def pay(member: str, *amounts: float) -> list[str]:
        with app.app_context():
            if get_subscription(db.session, member) is None:
                subscribe(member, "professional")
        claim_ids = []
        for amount in amounts:
            r = client.post(
                "/shield/v1/claims", json=claim_body(amount=amount), headers=auth(member)
            )
            assert r.status_code == 201, r.json
            claim_id = r.json["claimId"]
            for step in ("approve", "pay"):
                r = client.post(
                    f"/shield/v1/admin/claims/{claim_id}/{step}",
                    headers={**admin, "Idempotency-Key": key()},
                )
                assert r.status_code == 200, r.json
            claim_ids.append(claim_id)
        return claim_ids

    return pay


@pytest.fixture
def withdraw(client, auth):
    """withdraw("alice", 20) -> the response of POST /wallet/withdrawals."""

    def post(member: str, amount, last_four: str = "6789", idem: str | None = None):
        return client.post(
            WITHDRAWALS,
            json={"amount": amount, "bankAccountLastFour": last_four},
            headers=auth(member, **{"Idempotency-Key": idem or key()}),
        )

    return post
