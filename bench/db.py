"""The benchmark's own PostgreSQL database: created, seeded with bulk COPY, dropped."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import psycopg
from sqlalchemy.engine import make_url

from shield.claims.serialize import render
from shield.rules import DENIAL_CODES, PLANS
from shield.subscriptions.coverage import add_years, period_bounds

CITIES = [
    ("San Francisco", "CA"),
    ("Oakland", "CA"),
    ("Los Angeles", "CA"),
    ("Seattle", "WA"),
    ("Chicago", "IL"),
    ("New York", "NY"),
    ("Boston", "MA"),
    ("Austin", "TX"),
]
VIOLATIONS = [
    "street_cleaning",
    "expired_meter",
    "no_parking",
    "red_zone",
    "permit_required",
    "double_parking",
]
HEAVY_CLAIMS = 50


# Parents first: the order rows are copied in.
COLUMNS = {
    "members": "id, email, role, push_enabled, created_at",
    "resource_versions": "member_id, claims, wallet, subscription, notifications, events",
    "wallets": "member_id, balance_cents, last_seq, updated_at",
    "subscriptions": "id, member_id, plan_id, billing_period, status, started_at, "
    "next_renewal_at, restriction_expiry_sent, failed_charges, created_at, "
    "updated_at",
    "coverage_periods": "id, subscription_id, member_id, period_start, period_end, "
    "used_cents, tickets_used",
    "claims": "id, member_id, ticket_number, amount_cents, city, state, violation_type, "
    "ticket_date, status, estimated_payout_cents, submitted_at, updated_at, "
    "reviewed_at, approved_at, paid_at, denied_at, payout_cents, deductible_cents, "
    "copay_cents, denial_code, decision_notes, appeal_deadline, rendered",
    "payouts": "id, claim_id, member_id, amount_cents, status, initiated_at, completed_at, "
    "transaction_id",
    "wallet_transactions": "id, member_id, seq, type, amount_cents, balance_after_cents, "
    "payout_id, claim_id, description, created_at",
}


@dataclass
class Seeded:
    members: list[str]
    heavy: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def admin_dsn(pg_url: str) -> str:
    return make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(pg_url: str, name: str | None = None) -> tuple[str, str]:
    """Create a database of our own (a named one afresh); return (its name, its URL)."""
    name = name or f"shield_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn(pg_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(pg_url).set(drivername="postgresql+psycopg", database=name)
    return name, url.render_as_string(hide_password=False)


def drop_database(pg_url: str, name: str) -> None:
    with psycopg.connect(admin_dsn(pg_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_schema(db_url: str) -> None:
    from app import create_app
    from models import db

    app = create_app(
        SQLALCHEMY_DATABASE_URI=db_url,
        SHIELD_JWT_SECRET="x" * 32,
        SHIELD_SCHEDULER="off",
        SHIELD_WS_ENABLED=False,
    )
    with app.app_context():
        db.create_all()
        db.engine.dispose()


def _claim_count(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.20:
        return 0
    if roll < 0.45:
        return 1
    if roll < 0.65:
        return 2
    if roll < 0.80:
        return 3
    return rng.randint(4, 8)


def seed(
    db_url: str,
    members: int,
    heavy: int = 20,
    rng_seed: int = 5,
    chunk: int = 20_000,
    conn: psycopg.Connection | None = None,
) -> Seeded:
    """Members with a subscription, a coverage period, a wallet and realistic claims.

    Most members have 0-8 claims in every state; `heavy` members have 50 (the 200-list case).
    Versions start at 1 with no valid_until: the first 200 of a clocked resource stores it.
    Rows are built and copied `chunk` members at a time (a million members fit in memory).
    Given `conn` (tables truncated in its open transaction), rows are copied FREEZE and the
    caller commits; else in a connection of its own, then analysed.
    """
    started = time.perf_counter()
    rng = random.Random(rng_seed)
    now = datetime.now(UTC).replace(microsecond=0)
    ids = [f"h{i:04d}" for i in range(heavy)] + [f"m{i:06d}" for i in range(members - heavy)]
    counts = dict.fromkeys(COLUMNS, 0)
    own = conn is None
    conn = conn or psycopg.connect(admin_dsn(db_url))
    option = "" if own else " WITH (FREEZE)"
    try:
        for i in range(0, len(ids), chunk):
            rows = _member_rows(ids[i : i + chunk], rng, now)
            for table in COLUMNS:  # parents first
                sql = f"COPY {table} ({COLUMNS[table]}) FROM STDIN{option}"
                with conn.cursor().copy(sql) as copy:
                    for row in rows[table]:
                        copy.write_row(row)
                counts[table] += len(rows[table])
        if own:
            conn.commit()
            conn.execute("ANALYZE")
    finally:
        if own:
            conn.close()
    return Seeded(
        members=ids, heavy=ids[:heavy], counts=counts, seconds=time.perf_counter() - started
    )


def _member_rows(ids: list[str], rng: random.Random, now: datetime) -> dict[str, list[tuple]]:
    rows: dict[str, list[tuple]] = {k: [] for k in COLUMNS}
    appealable = [c for c, d in DENIAL_CODES.items() if d.appealable]
    final = [c for c, d in DENIAL_CODES.items() if not d.appealable]
    for member_id in ids:
        plan = PLANS[rng.choice(["basic", "basic", "pro", "professional"])]
        billing = rng.choice(["monthly", "annual"])
        started_at = now - timedelta(days=rng.randint(40, 700), seconds=rng.randint(0, 86399))
        start, end = period_bounds(started_at, now)
        sub_id = f"sub_{uuid.uuid4().hex}"
        rows["members"].append((member_id, f"{member_id}@example.com", "member", True, started_at))
        rows["resource_versions"].append((member_id, 1, 1, 1, 1, 1))
        renewal = (
            start + timedelta(days=30 * (1 + (now - start).days // 30))
            if billing == "monthly"
            else add_years(start, 1)
        )
        rows["subscriptions"].append(
            (
                sub_id,
                member_id,
                plan.id,
                billing,
                "active",
                started_at,
                renewal,
                True,
                0,
                started_at,
                now,
            )
        )
        n = HEAVY_CLAIMS if member_id.startswith("h") else _claim_count(rng)
        balance = 0
        seq = 0  # the wallet's statement order (models.wallet)
        used = 0
        for k in range(n):
            submitted = now - timedelta(days=rng.randint(0, 330), minutes=rng.randint(0, 1439))
            amount = rng.choice([4500, 6500, 7300, 9500, 11000, 12100, 25000])
            city, state = rng.choice(CITIES)
            status = rng.choices(
                ["submitted", "under_review", "approved", "paid", "denied"], [25, 15, 10, 35, 15]
            )[0]
            payout = max(0, amount - plan.deductible_cents)
            claim_id = f"clm_{uuid.uuid4().hex}"
            reviewed = submitted + timedelta(hours=rng.randint(1, 48))
            decided = reviewed + timedelta(hours=rng.randint(1, 48))
            if decided > now:
                decided = now
            row = dict(
                id=claim_id,
                member_id=member_id,
                ticket_number=f"T-{member_id}-{k:03d}",
                amount_cents=amount,
                city=city,
                state=state,
                violation_type=rng.choice(VIOLATIONS),
                ticket_date=(submitted - timedelta(days=rng.randint(0, 20))).date(),
                status=status,
                estimated_payout_cents=payout,
                submitted_at=submitted,
                updated_at=submitted,
                reviewed_at=None,
                approved_at=None,
                paid_at=None,
                denied_at=None,
                payout_cents=None,
                deductible_cents=None,
                copay_cents=None,
                denial_code=None,
                decision_notes=None,
                appeal_deadline=None,
            )
            if status != "submitted":
                row.update(reviewed_at=reviewed, updated_at=reviewed)
            if status in ("approved", "paid"):
                row.update(
                    approved_at=decided,
                    updated_at=decided,
                    payout_cents=payout,
                    deductible_cents=min(amount, plan.deductible_cents),
                    copay_cents=amount - payout,
                )
                pay_id = f"pay_{uuid.uuid4().hex}"
                paid = status == "paid"
                txn_id = f"txn_{uuid.uuid4().hex}" if paid else None
                rows["payouts"].append(
                    (
                        pay_id,
                        claim_id,
                        member_id,
                        payout,
                        "completed" if paid else "pending",
                        decided,
                        decided + timedelta(minutes=1) if paid else None,
                        txn_id,
                    )
                )
                if paid:
                    row.update(paid_at=decided + timedelta(minutes=1))
                    balance += payout
                    seq += 1
                    used += payout
                    rows["wallet_transactions"].append(
                        (
                            txn_id,
                            member_id,
                            seq,
                            "payout",
                            payout,
                            balance,
                            pay_id,
                            claim_id,
                            f"Payout for ticket {row['ticket_number']}",
                            decided + timedelta(minutes=1),
                        )
                    )
            if status == "denied":
                code = rng.choice(appealable if rng.random() < 0.6 else final)
                row.update(
                    denied_at=decided,
                    updated_at=decided,
                    denial_code=code,
                    decision_notes="Reviewed by the bench seeder.",
                    appeal_deadline=decided + timedelta(days=30)
                    if DENIAL_CODES[code].appealable
                    else None,
                )
            row["rendered"] = render(
                SimpleNamespace(
                    **row, proof_requested_at=None, proof_due_by=None, proof_uploaded_at=None
                )
            )
            rows["claims"].append(tuple(row.values()))
        rows["wallets"].append((member_id, balance, seq, now))
        rows["coverage_periods"].append(
            (
                f"cov_{uuid.uuid4().hex}",
                sub_id,
                member_id,
                start,
                end,
                min(used, plan.annual_cap_cents),
                0,
            )
        )
    return rows
