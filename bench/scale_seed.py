"""The scale run's history: devices, seven days of outbox events and their push deliveries.

`bench.db.seed` gives the members (subscriptions, wallets, ledger, 0-8 claims each); this
adds what a week of traffic leaves behind, by COPY in text format (rows formatted here in
blocks, so a million members and ten million events take minutes, not hours):

- one Android device per member (FCM-token-sized, active, seen today);
- `events` outbox events, seq 1..events, spread evenly over `days` days up to now, each a
  random member's, names in the mix below; the push-worthy ones (catalog rule) are
  `planned` and have one `sent` delivery to the member's device, the others `none`;
- the event sequence row at the top seq.

`seed_all` copies members and history into tables stripped of their indexes and
constraints, which are then built again exactly as the schema had them
(`pg_get_indexdef`/`pg_get_constraintdef`; foreign keys checked in bulk, not row by row),
and vacuums and analyses the database, as autovacuum would have done to week-old tables.
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta

import psycopg

from shield.events.catalog import EVENTS
from shield.wire import iso

from .db import COLUMNS, Seeded, admin_dsn, seed

# name -> share of the events (what a week of claim traffic looks like, roughly)
MIX = {
    "claim_submitted": 18,
    "claim_under_review": 15,
    "claim_approved": 10,
    "claim_denied": 4,
    "claim_paid": 9,
    "payout_initiated": 9,
    "payout_completed": 9,
    "notification_received": 16,
    "coverage_updated": 8,
    "subscription_renewed": 2,
}
HISTORY_TABLES = ("devices", "outbox_events", "push_deliveries")
BLOCK = 50_000


def _template(name: str) -> str:
    """The payload's JSON with {claim}, {ticket} and {ts} holes (COPY-escaped)."""
    data = {
        "claimId": "@claim@",
        "ticketNumber": "@ticket@",
        "previousStatus": "submitted",
        "newStatus": name.removeprefix("claim_"),
        "payoutAmount": 50,
        "deductibleApplied": 15,
        "memberCoPay": 15,
    }
    text = json.dumps({"event": name, "timestamp": "@ts@", "data": data}, separators=(",", ":"))
    text = text.replace("\\", "\\\\").replace("{", "{{").replace("}", "}}")
    return (
        text.replace("@claim@", "{claim}").replace("@ticket@", "{ticket}").replace("@ts@", "{ts}")
    )


def _pg_ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S+00")


class _Stamps:
    """Timestamps by whole second, formatted once (about 16 events share each second)."""

    def __init__(self, start: datetime):
        self.start = start
        self._pg: dict[int, str] = {}
        self._iso: dict[int, str] = {}

    def pg(self, second: int) -> str:
        s = self._pg.get(second)
        if s is None:
            s = self._pg[second] = _pg_ts(self.start + timedelta(seconds=second))
        return s

    def iso(self, second: int) -> str:
        s = self._iso.get(second)
        if s is None:
            s = self._iso[second] = iso(self.start + timedelta(seconds=second))
        return s


def _deferred_ddl(conn, tables) -> list[str]:
    """Drop the tables' indexes and constraints (and foreign keys into them); return the
    statements that build them again, in an order that works."""
    names = list(tables)
    cons = conn.execute(
        """
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype
        FROM pg_constraint c
        WHERE (c.conrelid::regclass::text = ANY(%(t)s) AND c.contype IN ('p', 'u', 'f'))
           OR (c.confrelid::regclass::text = ANY(%(t)s) AND c.contype = 'f')
        """,
        {"t": names},
    ).fetchall()
    idx = conn.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid::regclass::text = ANY(%(t)s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        """,
        {"t": names},
    ).fetchall()
    fks = sorted({(t, n, d) for t, n, d, kind in cons if kind == "f"})
    keys = sorted({(t, n, d) for t, n, d, kind in cons if kind != "f"}, key=lambda r: r[1][:2])
    for table, name, _ in fks:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for table, name, _ in keys:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in idx:
        conn.execute(f'DROP INDEX "{name}"')
    return (
        [f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}' for t, n, d in keys]
        + [d for _, d in idx]
        + [f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}' for t, n, d in fks]
    )


def seed_history(conn, members: list[str], events: int, days: int = 7, seed: int = 11) -> dict:
    """Devices, `events` outbox events over `days` days and their deliveries, copied FREEZE
    on `conn` (its transaction truncated the tables); return counts."""
    started = time.perf_counter()
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=days)
    span = days * 86400
    stamps = _Stamps(start)
    names = list(MIX)
    weights = [MIX[n] for n in names]
    templates = [_template(n) for n in names]
    pushes = [EVENTS[n].push({}) for n in names]
    critical = ["t" if EVENTS[n].critical else "f" for n in names]
    today = _pg_ts(now)
    counts = {"devices": len(members), "outbox_events": 0, "push_deliveries": 0}
    with conn.cursor().copy(
        "COPY devices (id, member_id, token, platform, active, created_at, last_seen_at) "
        "FROM STDIN WITH (FREEZE)"
    ) as copy:
        for i in range(0, len(members), BLOCK):
            copy.write(
                "".join(
                    f"dev_{m}\t{m}\tscale-fcm-{m}-{'x' * 100}\tandroid\tt\t{today}\t{today}\n"
                    for m in members[i : i + BLOCK]
                )
            )
    ev_copy = "COPY outbox_events (id, seq, member_id, audience, name, payload, push_state, "
    ev_copy += "created_at) FROM STDIN WITH (FREEZE)"
    dl_copy = "COPY push_deliveries (id, event_id, device_id, member_id, round, critical, "
    dl_copy += "status, attempts, next_attempt_at, sent_at, created_at) FROM STDIN WITH (FREEZE)"
    deliveries: list[str] = []
    with conn.cursor().copy(ev_copy) as copy:
        for first in range(1, events + 1, BLOCK):
            last = min(events, first + BLOCK - 1)
            who = rng.choices(members, k=last - first + 1)
            kinds = rng.choices(range(len(names)), weights, k=last - first + 1)
            lines = []
            for seq, m, k in zip(range(first, last + 1), who, kinds, strict=True):
                second = (seq - 1) * span // events
                at = stamps.pg(second)
                payload = templates[k].format(
                    claim=f"clm_{seq:032x}", ticket=f"T-{m}-{seq}", ts=stamps.iso(second)
                )
                state = "planned" if pushes[k] else "none"
                lines.append(
                    f"evt_{seq:032x}\t{seq}\t{m}\tmember\t{names[k]}\t{payload}\t{state}\t{at}\n"
                )
                if pushes[k]:
                    sent = stamps.pg(second + 1)
                    deliveries.append(
                        f"dlv_{seq:032x}\tevt_{seq:032x}\tdev_{m}\t{m}\t0\t{critical[k]}\t"
                        f"sent\t1\t{at}\t"
                        f"{sent}\t{at}\n"
                    )
            copy.write("".join(lines))
            counts["outbox_events"] += len(lines)
    with conn.cursor().copy(dl_copy) as copy:
        for i in range(0, len(deliveries), BLOCK):
            copy.write("".join(deliveries[i : i + BLOCK]))
    counts["push_deliveries"] = len(deliveries)
    del deliveries
    conn.execute(
        "INSERT INTO event_sequence (id, value) VALUES (1, %s) "
        "ON CONFLICT (id) DO UPDATE SET value = excluded.value",
        (events,),
    )
    conn.execute("INSERT INTO event_retention (id, pruned_through) VALUES (1, 0)")
    return {**counts, "history_seconds": round(time.perf_counter() - started, 1)}


def seed_all(db_url: str, members: int, events: int) -> tuple[Seeded, dict]:
    """The members (bench.db.seed) and their week of history in one transaction: tables
    truncated, stripped of indexes and constraints, copied FREEZE (no vacuum needed after:
    rows are born frozen and all-visible), then indexes and constraints built again."""
    tables = (*COLUMNS, *HISTORY_TABLES, "event_sequence", "event_retention")
    with psycopg.connect(admin_dsn(db_url)) as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
        rebuild = _deferred_ddl(conn, (*COLUMNS, *HISTORY_TABLES))
        seeded = seed(db_url, members, conn=conn)
        counts = seed_history(conn, seeded.members, events)
        started = time.perf_counter()
        for statement in rebuild:
            conn.execute(statement)
        conn.commit()
        conn.execute("ANALYZE")
        conn.commit()
    counts["index_seconds"] = round(time.perf_counter() - started, 1)
    return seeded, counts
