"""Helpers for the subscription tests: outbox reads, a paid claim, a billing fake."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from models import OutboxEvent, Subscription, db
from shield.subscriptions.billing import ChargeResult
from tests.factories import claim_body

_keys = itertools.count(1)


def outbox(member_id: str | None = None, name: str | None = None) -> list[OutboxEvent]:
    """Outbox rows in commit order, optionally for one member and one event name."""
    query = select(OutboxEvent).order_by(OutboxEvent.seq)
    if member_id is not None:
        query = query.where(OutboxEvent.member_id == member_id)
    if name is not None:
        query = query.where(OutboxEvent.name == name)
    return list(db.session.execute(query).scalars())


def payloads(member_id: str, name: str) -> list[dict]:
    return [row.payload for row in outbox(member_id, name)]


def subscription_of(member_id: str) -> Subscription:
    db.session.expire_all()
    return db.session.execute(
        select(Subscription).where(Subscription.member_id == member_id)
    ).scalar_one()


class FakeBilling:
    """Records every charge; answers with `ok` (and `reason` when failing)."""

    def __init__(self, ok: bool = True, reason: str | None = None):
        self.ok, self.reason = ok, reason
        self.charges: list[tuple[str, int]] = []

    def charge(self, subscription, amount_cents):
        self.charges.append((subscription.id, amount_cents))
        return ChargeResult(ok=self.ok, reason=None if self.ok else self.reason)


@pytest.fixture
def pay_claim(client, auth):
    """File a claim as `member` and have an admin approve and pay it (real API calls)."""

    def run(member: str, amount: float = 65) -> dict:
        r = client.post("/shield/v1/claims", json=claim_body(amount=amount), headers=auth(member))
        assert r.status_code == 201, r.json
        claim_id = r.json["claimId"]
        admin = auth("root", admin=True)
        for action in ("approve", "pay"):
            r = client.post(
                f"/shield/v1/admin/claims/{claim_id}/{action}",
                headers={**admin, "Idempotency-Key": f"sub-test-{next(_keys)}"},
            )
            assert r.status_code == 200, r.json
        assert r.json["status"] == "paid"
        return r.json

    return run
