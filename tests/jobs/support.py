"""Helpers for the job tests: a fixed clock, claims filed through the services, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from models import Claim, OutboxEvent, Payout, db
from shield.auth import Principal
from shield.claims import service as claims
from shield.events import message
from shield.payouts.service import pay_claim
from tests.factories import subscribe

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FAR = datetime(2100, 1, 1, tzinfo=UTC)
_tickets = iter(range(1, 10**9))


def member(member_id: str, *, at: datetime = T0 - timedelta(days=1), plan: str = "professional"):
    """Create a member with an active annual subscription started at `at`."""
    return subscribe(member_id, plan, "annual", now=at)


def file_claim(
    member_id: str, *, at: datetime, ticket: str | None = None, amount_cents: int = 6500
) -> Claim:
    """Submit a claim for `member_id` at time `at` (committed)."""
    principal = Principal(
        id=member_id, role="member", email=f"{member_id}@example.com", expires_at=FAR
    )
    data = {
        "ticket_number": ticket or f"JOB-{next(_tickets):06d}",
        "amount_cents": amount_cents,
        "city": "Oakland",
        "state": "CA",
        "violation_type": "street_cleaning",
        "ticket_date": at.date(),
    }
    claim = claims.submit_claim(db.session, principal, data, now=at)
    db.session.commit()
    return claim


def approve(claim_id: str, *, at: datetime) -> Payout:
    claims.approve(db.session, claim_id, now=at)
    db.session.commit()
    return db.session.execute(select(Payout).where(Payout.claim_id == claim_id)).scalar_one()


def pay(claim_id: str, *, at: datetime) -> None:
    pay_claim(db.session, claim_id, now=at)
    db.session.commit()


def events(name: str | None = None, *, after: int = 0) -> list[OutboxEvent]:
    query = select(OutboxEvent).where(OutboxEvent.seq > after).order_by(OutboxEvent.seq)
    if name:
        query = query.where(OutboxEvent.name == name)
    return list(db.session.execute(query).scalars())


def last_seq() -> int:
    rows = events()
    return rows[-1].seq if rows else 0


def as_message(event: OutboxEvent) -> dict:
    return message(event.payload, event.id, event.seq)


def run_concurrently(app, workers: int, job) -> list:
    """Start `job()` in `workers` threads at once (each in an app context); return results.

    Any exception raised in a worker is re-raised here, so a failing run fails the test.
    """
    import threading

    start = threading.Barrier(workers)
    results: list = []
    errors: list[BaseException] = []

    def worker():
        try:
            with app.app_context():
                start.wait()
                results.append(job())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if errors:
        raise errors[0]
    assert len(results) == workers, "a worker did not finish"
    return results
