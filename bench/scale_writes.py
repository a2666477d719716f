# ruff: noqa: S603 (the benchmark starts its own Python processes)
"""The scale run's write path: claim submissions and admin approvals over HTTP, the push
dispatcher draining what they record, the retention job beside them, and lock waits.

- `WriteLoad`: `submitters` + `approvers` client threads in a closed loop against one
  server: POST /claims (a random working-set member, a new ticket) and POST
  /admin/claims/<id>/approve (an under_review claim of the seed, Idempotency-Key). The
  latency is the request's, commit included (the app commits before it answers).
- `Dispatcher`: the real push worker (`python -m bench.push dispatcher`, one process) on
  the run's stand-in FCM, so every approval's push is planned, leased and sent meanwhile.
- `LockWatch`: samples `pg_locks.waitstart` of the database's backends every 10 ms: the
  longest wait behind a lock of the retention job (its connections are named
  `RETENTION_APP`; `pg_blocking_pids`), and the longest of any kind (writes queue on the
  event sequence row, one commit at a time, whether retention runs or not).
- `retention()`: `jobs.retention.prune_events` in a process of its own, its clock set so
  that exactly the oldest day of events kept is past the retention.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from .db import admin_dsn

ROOT = Path(__file__).resolve().parent.parent
API = "/shield/v1"
RETENTION_APP = "shield-scale-retention"


def _quantile(values: list[float], q: int) -> float | None:
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


class WriteLoad:
    def __init__(self, base: str, members: list[str], tokens: dict, admin_token: str, claims):
        self.base = base
        self.members = members
        self.tokens = tokens
        self.admin_token = admin_token
        self.claims = list(claims)  # under_review claim ids, used once each
        self._claims_lock = threading.Lock()
        self._stop = threading.Event()
        self.samples: dict[str, list[tuple[float, float, int]]] = {"submit": [], "approve": []}
        self._threads: list[threading.Thread] = []

    def _conn(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.base)
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def _post(self, conn, path: str, token: str, body: dict, key: str | None = None):
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        if key:
            headers["Idempotency-Key"] = key
        started = time.perf_counter()
        conn.request("POST", path, body=json.dumps(body), headers=headers)
        response = conn.getresponse()
        response.read()
        return started, time.perf_counter() - started, response.status

    def _submitter(self, seed: int) -> None:
        rng = random.Random(seed)
        conn = self._conn()
        today = date.today().isoformat()
        while not self._stop.is_set():
            member = rng.choice(self.members)
            body = {
                "ticketNumber": f"S-{uuid.uuid4().hex[:16]}",
                "amount": 73.0,
                "city": "Oakland",
                "state": "CA",
                "violationType": "street_cleaning",
                "ticketDate": today,
            }
            self.samples["submit"].append(
                self._post(conn, f"{API}/claims", self.tokens[member], body)
            )

    def _approver(self) -> None:
        conn = self._conn()
        while not self._stop.is_set():
            with self._claims_lock:
                if not self.claims:
                    return
                claim = self.claims.pop()
            path = f"{API}/admin/claims/{claim}/approve"
            self.samples["approve"].append(
                self._post(conn, path, self.admin_token, {}, key=uuid.uuid4().hex)
            )

    def start(self, submitters: int = 3, approvers: int = 3) -> WriteLoad:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._submitter, args=(i,), daemon=True)
            for i in range(submitters)
        ] + [threading.Thread(target=self._approver, daemon=True) for _ in range(approvers)]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def mark(self) -> int:
        return len(self.samples["submit"]) + len(self.samples["approve"])

    def summary(self, since: float = 0.0, until: float | None = None) -> dict:
        """Per kind and overall: requests/s, p50/p99 ms, statuses, of requests started in
        [since, until)."""
        until = until or float("inf")
        out: dict = {}
        every: list[float] = []
        span = 0.0
        for kind, rows in self.samples.items():
            picked = [r for r in rows if since <= r[0] < until]
            if not picked:
                continue
            span = max(span, max(s + d for s, d, _ in picked) - min(s for s, _, _ in picked))
            lat = [d * 1000 for _, d, _ in picked]
            every += lat
            statuses: dict[int, int] = {}
            for _, _, st in picked:
                statuses[st] = statuses.get(st, 0) + 1
            out[kind] = {
                "n": len(picked),
                "statuses": statuses,
                "p50_ms": round(_quantile(lat, 50), 2),
                "p99_ms": round(_quantile(lat, 99), 2),
            }
        for kind in out:
            out[kind]["per_s"] = round(out[kind]["n"] / span, 1) if span else None
        if every:
            out["all"] = {
                "n": len(every),
                "p50_ms": round(_quantile(every, 50), 2),
                "p99_ms": round(_quantile(every, 99), 2),
                "max_ms": round(max(every), 1),
            }
        return out


def approvable_claims(db_url: str, limit: int) -> list[str]:
    with psycopg.connect(admin_dsn(db_url)) as conn:
        rows = conn.execute(
            "SELECT id FROM claims WHERE status = 'under_review' AND member_id LIKE 'm%%' "
            "ORDER BY md5(id) LIMIT %s",
            (limit,),
        ).fetchall()
    return [r[0] for r in rows]


class Dispatcher:
    """One push dispatcher process (the jobs process's loop) on the run's stand-in."""

    def __init__(self, db_url: str, secret: str, account: Path, endpoint: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.push", "dispatcher", db_url, secret, str(account)]
            + [endpoint],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.proc.kill()
            raise RuntimeError(f"push dispatcher did not start: {line!r}")
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def stop(self) -> str:
        try:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
            out, _ = self.proc.communicate(timeout=30)
        except (subprocess.TimeoutExpired, OSError):
            self.proc.kill()
            out, _ = self.proc.communicate()
        return (out or "").strip()


class LockWatch:
    """Lock waits of the database's backends other than the retention job's: the longest
    seen at all, and the longest behind a lock the retention job holds (the target)."""

    QUERY = """
        SELECT a.application_name, a.query,
               extract(epoch FROM clock_timestamp() - l.waitstart) * 1000,
               EXISTS (SELECT 1 FROM pg_stat_activity b
                       WHERE b.pid = ANY (pg_blocking_pids(l.pid)) AND b.application_name = %s)
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE NOT l.granted AND l.waitstart IS NOT NULL AND a.datname = %s
    """

    def __init__(self, pg_url: str, dbname: str, every: float = 0.01):
        self.pg_url, self.dbname, self.every = pg_url, dbname, every
        self.longest = {"any": (0.0, None), "retention": (0.0, None)}
        self.waits_seen = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> LockWatch:
        self._thread.start()
        return self

    def _run(self) -> None:
        with psycopg.connect(admin_dsn(self.pg_url), autocommit=True) as conn:
            while not self._stop.is_set():
                rows = conn.execute(self.QUERY, (RETENTION_APP, self.dbname)).fetchall()
                for app, query, waited, on_retention in rows:
                    if app == RETENTION_APP or waited is None:
                        continue
                    self.waits_seen += 1
                    for kind in ("any", "retention") if on_retention else ("any",):
                        if float(waited) > self.longest[kind][0]:
                            self.longest[kind] = (float(waited), (query or "")[:100])
                self.samples += 1
                self._stop.wait(self.every)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(timeout=10)
        return {
            "longest_wait_on_retention_ms": round(self.longest["retention"][0], 1),
            "on_retention_query": self.longest["retention"][1],
            "longest_wait_any_ms": round(self.longest["any"][0], 1),
            "any_query": self.longest["any"][1],
            "waiting_samples": self.waits_seen,
            "samples": self.samples,
        }


def retention(db_url: str, secret: str, limit: float) -> dict:
    """Run prune_events in its own process, for at most `limit` seconds; return its JSON
    line, or how far it got when stopped (each batch commits: a stop loses one batch)."""
    env = {**os.environ, "PGAPPNAME": RETENTION_APP}
    cmd = [sys.executable, "-m", "bench.scale_writes", "retention", db_url, secret]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = proc.communicate(timeout=limit + 120)  # + its counting before and after
        stopped = None
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        stopped = limit + 120
    lines = [x for x in out.splitlines() if x.startswith("{")]
    if stopped is not None:
        due = json.loads(lines[0]) if lines else {}
        left = _old_rows(db_url, due.get("cutoff"))
        done = (due.get("events_due") or 0) - left
        return {
            "problem": f"stopped after {stopped:.0f} s: {done:,} of "
            f"{due.get('events_due')} events removed",
            "seconds": None,
            "stopped_after_s": stopped,
            "events_due": due.get("events_due"),
            "deliveries_due": due.get("deliveries_due"),
            "events_removed": done,
        }
    if proc.returncode or len(lines) < 2:
        return {"problem": (err or out).strip()[-400:]}
    return {**json.loads(lines[0]), **json.loads(lines[-1])}


def _old_rows(db_url: str, cutoff: str | None) -> int:
    if cutoff is None:
        return 0
    with psycopg.connect(admin_dsn(db_url)) as conn:
        q = "SELECT count(*) FROM outbox_events WHERE created_at < %s"
        return conn.execute(q, (cutoff,)).fetchone()[0]


def _child_retention(db_url: str, secret: str) -> int:
    from datetime import timedelta

    from sqlalchemy import func, select

    from app import create_app
    from jobs.retention import event_retention, prune_events
    from models import OutboxEvent, PushDelivery, db

    app = create_app(
        SQLALCHEMY_DATABASE_URI=db_url,
        SHIELD_JWT_SECRET=secret,
        SHIELD_SCHEDULER="off",
        SHIELD_WS_ENABLED=False,
        SHIELD_PUSH_WORKER="off",
    )
    with app.app_context():
        oldest = db.session.execute(select(func.min(OutboxEvent.created_at))).scalar()
        # The clock at which exactly the oldest kept day is past the retention.
        now = oldest + event_retention() + timedelta(days=1)
        cutoff = now - event_retention()
        old = select(OutboxEvent.id).where(OutboxEvent.created_at < cutoff)

        def count() -> tuple[int, int]:
            events = db.session.execute(select(func.count()).select_from(old.subquery()))
            deliveries = db.session.execute(
                select(func.count()).where(PushDelivery.event_id.in_(old))
            )
            found = events.scalar(), deliveries.scalar()
            db.session.rollback()
            return found

        before = count()
        line = {"cutoff": cutoff.isoformat(), "events_due": before[0], "deliveries_due": before[1]}
        print(json.dumps(line), flush=True)
        started = time.perf_counter()
        removed = prune_events(now)
        seconds = time.perf_counter() - started
        after = count()
        db.session.remove()
    print(
        json.dumps(
            {
                "seconds": round(seconds, 2),
                "rows_removed": removed,
                "left_behind": after,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    sys.exit({"retention": _child_retention}[mode](*rest))
