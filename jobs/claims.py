"""Claim alerts for admins: reviews waiting > 48 h, overdue proof of payment, fraud signals.

Each alert is one `admin_action_required` event per claim, ever: the claim's
`*_alerted_at` column is set by a compare-and-set UPDATE in the same transaction as the
event, so of two processes racing on a claim exactly one emits it. The marks are written
with a bulk UPDATE on purpose: they are admin bookkeeping, and going through the ORM would
bump the member's `claims` version and turn their next poll's 304 into a 200.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, aliased

from models import Claim, db, utcnow
from models import claim as claim_status
from shield.events import record
from shield.rules import FRAUD_MAX_CLAIMS_IN_WINDOW, FRAUD_WINDOW, REVIEW_ALERT_AFTER
from shield.wire import dollars, iso

EVENT = "admin_action_required"
BATCH = 50
MAX_PER_RUN = 1000
# Claims submitted longer ago than this are not examined for fraud again (the job runs
# every few minutes, so each claim is examined many times while it is recent).
FRAUD_SCAN_LOOKBACK = timedelta(days=30)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

Build = Callable[[Claim], dict]


def _number(value: float) -> int | float:
    return int(value) if value == int(value) else round(value, 2)


def _alert(
    conditions: list[ColumnElement[bool]],
    mark: InstrumentedAttribute,
    build: Build,
    now: datetime,
) -> int:
    """Claim un-alerted claims matching `conditions` in batches, mark each, emit its event."""
    conditions = [*conditions, mark.is_(None)]
    emitted = seen = 0
    while seen < MAX_PER_RUN:
        batch = list(
            db.session.execute(
                select(Claim)
                .where(*conditions)
                .order_by(Claim.submitted_at, Claim.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if not batch:
            db.session.rollback()
            break
        for claim in batch:
            marked = db.session.execute(
                update(Claim)
                .where(Claim.id == claim.id, *conditions)
                .values({mark.key: now})
                .execution_options(synchronize_session=False)
            ).rowcount
            if marked == 1:  # 0: another process alerted it first
                record(db.session, EVENT, build(claim), member_id=None, now=now)
                emitted += 1
        db.session.commit()
        seen += len(batch)
        if len(batch) < BATCH:
            break
    return emitted


def alert_stale_reviews(now: datetime | None = None) -> int:
    """Alert admins once about each claim left in `submitted` longer than 48 h."""
    now = now or utcnow()

    def build(claim: Claim) -> dict:
        hours = int((now - claim.submitted_at) / HOUR)
        return {
            "type": "claim_review",
            "priority": "medium",
            "claimId": claim.id,
            "userId": claim.member_id,
            "message": f"Claim for ticket {claim.ticket_number} has been waiting for review "
            f"for {hours} hours.",
            "metadata": {
                "ticketNumber": claim.ticket_number,
                "amount": dollars(claim.amount_cents),
                "submittedAt": iso(claim.submitted_at),
                "waitingHours": hours,
            },
        }

    return _alert(
        [Claim.status == claim_status.SUBMITTED, Claim.submitted_at < now - REVIEW_ALERT_AFTER],
        Claim.review_alerted_at,
        build,
        now,
    )


def alert_overdue_proofs(now: datetime | None = None) -> int:
    """Alert admins once when a requested proof of payment is past its due date."""
    now = now or utcnow()

    def build(claim: Claim) -> dict:
        return {
            "type": "proof_overdue",
            "priority": "high",
            "claimId": claim.id,
            "userId": claim.member_id,
            "message": f"Proof of payment for ticket {claim.ticket_number} was due "
            f"{iso(claim.proof_due_by)} and has not been uploaded.",
            "metadata": {
                "ticketNumber": claim.ticket_number,
                "payoutAmount": dollars(claim.payout_cents),
                "requestedAt": iso(claim.proof_requested_at),
                "dueBy": iso(claim.proof_due_by),
            },
        }

    return _alert(
        [
            Claim.status == claim_status.PAID,
            Claim.proof_due_by.is_not(None),
            Claim.proof_due_by < now,
            Claim.proof_uploaded_at.is_(None),
        ],
        Claim.proof_overdue_alerted_at,
        build,
        now,
    )


def _duplicate_signals(now: datetime, since: datetime) -> dict[str, list[dict]]:
    """Recent un-alerted claims whose ticket number another member has also claimed."""
    other = aliased(Claim)
    rows = db.session.execute(
        select(Claim.id, other.id, other.member_id)
        .join(
            other,
            and_(other.ticket_number == Claim.ticket_number, other.member_id != Claim.member_id),
        )
        .where(
            Claim.fraud_alerted_at.is_(None),
            Claim.submitted_at >= since,
            Claim.submitted_at <= now,
            other.submitted_at <= now,
        )
        .order_by(Claim.id, other.submitted_at, other.id)
    ).all()
    found: dict[str, list[dict]] = {}
    for claim_id, other_id, other_member in rows:
        found.setdefault(claim_id, []).append({"claimId": other_id, "userId": other_member})
    return found


def _burst_signals(now: datetime, since: datetime) -> dict[str, list[str]]:
    """Recent un-alerted claims that are beyond the Nth from their member in the window."""
    start = since - FRAUD_WINDOW
    busy = (
        select(Claim.member_id)
        .where(Claim.submitted_at > start, Claim.submitted_at <= now)
        .group_by(Claim.member_id)
        .having(func.count() > FRAUD_MAX_CLAIMS_IN_WINDOW)
    )
    rows = db.session.execute(
        select(Claim.id, Claim.member_id, Claim.submitted_at, Claim.fraud_alerted_at)
        .where(Claim.member_id.in_(busy), Claim.submitted_at > start, Claim.submitted_at <= now)
        .order_by(Claim.member_id, Claim.submitted_at, Claim.id)
    ).all()
    found: dict[str, list[str]] = {}
    first = 0
    for i, (claim_id, member_id, submitted_at, alerted_at) in enumerate(rows):
        if i and rows[i - 1][1] != member_id:
            first = i
        # The window of `claim` is (submitted_at - FRAUD_WINDOW, submitted_at].
        while rows[first][2] <= submitted_at - FRAUD_WINDOW:
            first += 1
        window = [r[0] for r in rows[first : i + 1]]
        over = len(window) > FRAUD_MAX_CLAIMS_IN_WINDOW
        if over and alerted_at is None and submitted_at >= since:
            found[claim_id] = window
    return found


def detect_fraud(now: datetime | None = None) -> int:
    """Alert admins once per claim: ticket number shared across members, or too many claims."""
    now = now or utcnow()
    since = now - FRAUD_SCAN_LOOKBACK
    duplicates = _duplicate_signals(now, since)
    bursts = _burst_signals(now, since)
    db.session.rollback()  # end the read; _alert locks what it emits for
    flagged = set(duplicates) | set(bursts)
    if not flagged:
        return 0
    window_days = _number(FRAUD_WINDOW / DAY)

    def build(claim: Claim) -> dict:
        signals, reasons = [], []
        metadata: dict = {"ticketNumber": claim.ticket_number}
        if claim.id in duplicates:
            others = duplicates[claim.id]
            signals.append("duplicate_ticket_number")
            reasons.append(
                f"the same ticket number is claimed by {len(others)} other "
                f"member(s) ({', '.join(sorted({o['userId'] for o in others}))})"
            )
            metadata["duplicateClaims"] = others
        if claim.id in bursts:
            window = bursts[claim.id]
            signals.append("claim_burst")
            reasons.append(
                f"the member filed {len(window)} claims within {window_days} days "
                f"(more than {FRAUD_MAX_CLAIMS_IN_WINDOW})"
            )
            metadata.update(
                {
                    "claimsInWindow": len(window),
                    "windowDays": window_days,
                    "maxClaimsInWindow": FRAUD_MAX_CLAIMS_IN_WINDOW,
                    "windowClaimIds": window,
                }
            )
        metadata["signals"] = signals
        return {
            "type": "fraud_alert",
            "priority": "high",
            "claimId": claim.id,
            "userId": claim.member_id,
            "message": f"Possible fraud on the claim for ticket {claim.ticket_number}: "
            + "; ".join(reasons)
            + ".",
            "metadata": metadata,
        }

    return _alert([Claim.id.in_(sorted(flagged))], Claim.fraud_alerted_at, build, now)
