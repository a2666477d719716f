# ruff: noqa: S603, S607 (the benchmark runs local tools: wrk, servers, ps, py-spy, git)
"""`python -m bench [--quick]`: start what the benchmark needs, run every case beside its
reference on the same server, print one table and write bench/results/latest.json.

What it starts: a PostgreSQL database of its own (created on --pg-url, seeded with
>= 10,000 members by COPY, dropped at the end), the app under gunicorn (gthread) and under
granian (WSGI), both 2 workers x 4 threads, and wrk (-t2 -c50) with a Lua script that sends
random members' requests (pre-minted tokens and the ETags they would hold).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from . import cpu, extra, harvest, loadgen, profile, report, servers
from . import db as benchdb

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SECRET = "bench-secret-0123456789abcdef0123456789"  # noqa: S105 (the bench's own tokens)
DEFAULT_PG = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

API = "/shield/v1"


PARTS = ("http", "push", "socket", "socketio", "metrics")


@dataclass
class Case:
    key: str
    title: str
    path: str
    expect: int  # the status every request must get
    members: str = "polled"  # polled | heavy | none
    etag_from: str | None = None  # the harvest whose ETags the requests carry
    quick: bool = True  # measured by --quick too (else only in the full run)


CASES = [
    Case("hello", "hello-world JSON (reference)", "/bench/hello", 200, members="none"),
    Case("claims_304", "304 claims poll (auth)", f"{API}/claims", 304, etag_from="claims"),
    Case(
        "naive_304",
        "naive hash-the-body 304 claims",
        f"{API}/bench/naive-claims",
        304,
        etag_from="naive",
    ),
    Case(
        "naive_stored_304",
        "naive hash-the-body 304 over the stored renderings",
        f"{API}/bench/naive-stored-claims",
        304,
        etag_from="naive_stored",
        quick=False,
    ),
    Case("claims_200", "200 claims list (50 claims)", f"{API}/claims", 200, members="heavy"),
    Case(
        "db_ping",
        "hello-world + one PostgreSQL read",
        "/bench/db-ping",
        200,
        members="none",
        quick=False,
    ),
    Case("wallet_304", "304 wallet poll (auth)", f"{API}/wallet", 304, etag_from="wallet"),
    Case(
        "subscription_304",
        "304 subscription poll (auth)",
        f"{API}/subscription",
        304,
        etag_from="subscription",
    ),
]
HARVESTS = {
    "claims": f"{API}/claims",
    "naive": f"{API}/bench/naive-claims",
    "naive_stored": f"{API}/bench/naive-stored-claims",
    "wallet": f"{API}/wallet",
    "subscription": f"{API}/subscription",
}
NOCACHE_CASES = ("hello", "claims_304", "claims_200")
BODYCACHE_CASES = ("hello", "claims_200")


@dataclass
class Plan:
    quick: bool
    duration: float
    warmup: float
    members: int
    polled: int
    servers: list[str]
    staleness_trials: int
    profile: bool
    record: bool
    pg_url: str
    keep_db: bool = False
    parts: tuple[str, ...] = PARTS
    extra: dict = field(default_factory=dict)


def parse(argv) -> Plan:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="shorter runs (make bench-quick, < 2 min)")
    p.add_argument("--duration", type=float, help="seconds per measured case (10; quick 3)")
    p.add_argument("--members", type=int, default=10_000, help="members seeded (>= 10,000)")
    p.add_argument("--polled", type=int, help="members whose ETags are collected (all; quick 500)")
    p.add_argument("--servers", default="gunicorn,granian")
    p.add_argument(
        "--profile",
        action="store_true",
        help="after measuring, record py-spy profiles of each case (one worker)",
    )
    p.add_argument("--record", action="store_true", help="also write bench/RESULTS.md")
    p.add_argument("--pg-url", default=DEFAULT_PG, help="PostgreSQL server to create a db on")
    p.add_argument("--keep-db", action="store_true", help="do not drop the database")
    p.add_argument(
        "--parts",
        default=",".join(PARTS),
        help="which parts to run: http (polling cases), push, socket, socketio, metrics "
        "(default: all)",
    )
    a = p.parse_args(argv)
    return Plan(
        quick=a.quick,
        duration=a.duration or (2.0 if a.quick else 10.0),
        warmup=1.0 if a.quick else 2.0,
        members=max(a.members, 1000),
        polled=a.polled or (500 if a.quick else a.members),
        servers=[s for s in a.servers.split(",") if s],
        staleness_trials=15 if a.quick else 50,
        profile=a.profile,
        record=a.record,
        pg_url=a.pg_url,
        keep_db=a.keep_db,
        parts=tuple(x for x in a.parts.split(",") if x in PARTS),
    )


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def mint_tokens(members: list[str]) -> dict[str, str]:
    import jwt

    now = datetime.now(UTC)
    exp = now + timedelta(hours=6)
    return {
        m: jwt.encode(
            {"sub": m, "iat": now, "exp": exp, "role": "member"}, SECRET, algorithm="HS256"
        )
        for m in members
    }


def server_env(db_url: str, cache: str, body_cache: bool = False) -> dict:
    """The servers' environment. The body cache is off unless asked for: the 200 figures
    are then bodies built on every request (a changed version always misses the cache)."""
    env = {
        "DATABASE_URL": db_url,
        "SHIELD_JWT_SECRET": SECRET,
        "SHIELD_ENV": "production",
        # Named explicitly (each server logs the warning): the bench moves no money.
        "SHIELD_BANK_PROVIDER": "simulated",
        "SHIELD_BILLING_PROVIDER": "simulated",
        "SHIELD_SCHEDULER": "off",
        "SHIELD_WS_ENABLED": "0",
        "SHIELD_VERSION_CACHE": cache,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if not body_cache:
        env["SHIELD_BODY_CACHE_BYTES"] = "0"
    return env


class Bench:
    def __init__(self, plan: Plan):
        self.plan = plan
        self.targets: dict[str, Path] = {}
        self.unavailable: dict[str, str] = {}
        self.results: dict = {"servers": {}}
        self.work = RESULTS / "work"
        self.work.mkdir(parents=True, exist_ok=True)

    # --- data ----------------------------------------------------------------------------

    def prepare(self, db_url: str) -> None:
        plan = self.plan
        benchdb.create_schema(db_url)
        seeded = benchdb.seed(db_url, plan.members)
        log(f"seeded {seeded.counts} in {seeded.seconds:.1f}s")
        self.seeded = seeded
        rng = random.Random(7)
        plain = [m for m in seeded.members if m not in seeded.heavy]
        rng.shuffle(plain)
        self.stale_members = plain[:60]  # kept out of the load: the staleness probe bumps them
        self.polled = plain[60 : 60 + plan.polled]
        self.tokens = mint_tokens(self.polled + seeded.heavy + self.stale_members)
        self.results["seed"] = {
            **seeded.counts,
            "seconds": round(seeded.seconds, 2),
            "polled_members": len(self.polled),
        }

    def harvest(self, base: str) -> None:
        """Each polled member's first GET of each resource: the ETags wrk will send."""
        tokens = {m: self.tokens[m] for m in self.polled}
        self.etags: dict[str, dict] = {}
        skipped = {c.etag_from for c in CASES if self.plan.quick and not c.quick}
        for name, path in HARVESTS.items():
            if name in skipped:
                continue
            started = time.perf_counter()
            got = harvest.etags(base, path, tokens)
            statuses = {s for s, _ in got.values()}
            if statuses != {200}:
                codes = sorted(statuses)
                self.unavailable[name] = f"GET {path} answered {codes}"
                if 404 in statuses or 405 in statuses:
                    self.unavailable[name] = f"not available yet (GET {path} -> {codes})"
                log(f"harvest {name}: {self.unavailable[name]}")
                continue
            self.etags[name] = {m: e for m, (_, e) in got.items()}
            log(f"harvest {name}: {len(got)} ETags in {time.perf_counter() - started:.1f}s")

    def write_targets(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        for case in CASES:
            if self.plan.quick and not case.quick:
                continue
            if case.members == "none":
                lines = [(case.path, None, None)]
            elif case.members == "heavy":
                lines = [(case.path, self.tokens[m], None) for m in self.seeded.heavy]
            else:
                if case.etag_from in self.unavailable:
                    continue
                etags = self.etags[case.etag_from]
                lines = [(case.path, self.tokens[m], etags[m]) for m in self.polled]
            self.targets[case.key] = loadgen.write_targets(self.work / f"{case.key}.tsv", lines)

    def check(self, base: str, case: Case, samples: int = 25) -> str | None:
        """A sample of the case's requests must get the expected status, else no figure."""
        lines = self.targets[case.key].read_text().splitlines()
        rng = random.Random(case.key)
        for line in rng.sample(lines, min(samples, len(lines))):
            path, bearer, etag = line.split("\t")
            status, _ = harvest.get(
                base, path, None if bearer == "-" else bearer, None if etag == "-" else etag
            )
            if status != case.expect:
                return f"expected {case.expect}, got {status}"
        return None

    # --- servers -------------------------------------------------------------------------

    def run_server(
        self,
        server: str,
        db_url: str,
        *,
        cache: str,
        label: str,
        cases: tuple[str, ...] | None = None,
        staleness: bool = False,
        body_cache: bool = False,
    ) -> None:
        plan = self.plan
        srv = servers.start(server, server_env(db_url, cache, body_cache), self.work, label=label)
        out: dict = {"server": server, "cache": cache, "body_cache": body_cache, "cases": {}}
        self.results["servers"][label] = out
        try:
            log(f"{label} up on :{srv.port} (workers {srv.worker_pids()})")
            if not hasattr(self, "etags"):
                self.harvest(srv.base)
                self.write_targets()
            selected = [
                c
                for c in CASES
                if (cases is None or c.key in cases) and (c.quick or not plan.quick)
            ]
            runnable = []
            for case in selected:
                if case.key not in self.targets:
                    out["cases"][case.key] = {
                        "unavailable": self.unavailable.get(case.etag_from, "not available yet")
                    }
                    continue
                problem = self.check(srv.base, case)
                if problem:
                    out["cases"][case.key] = {"invalid": problem}
                    log(f"{label} {case.key}: {problem} - no figure")
                    continue
                runnable.append(case)
            # Warm every path first: steady state is what production sees, where each member
            # polls every 30 s, so each worker has verified each token and loaded each
            # member's versions once. Random picks need ~3 requests per member per worker
            # to reach (nearly) all of them: at ~2,500 req/s cold, members * 2 * 3 / 2500 s.
            for case in runnable:
                seconds = plan.warmup
                if case.key == "claims_304":
                    seconds = max(seconds, len(self.polled) * servers.WORKERS * 3 / 2500)
                loadgen.run(srv.base, self.targets[case.key], duration=seconds)
            hello_runs = []
            for case in runnable:
                if case.key == "hello":
                    continue
                # Each case right after its own hello-world run on the same server: the
                # machine is shared and noisy, so a ratio compares neighbours in time.
                hello, result = self.pair(srv, case)
                hello_runs.append(hello.rps)
                out["cases"][case.key] = {**result.as_dict(), "hello_rps": round(hello.rps, 1)}
                if self.cpu_usage:  # CPU us per request of the case and of its hello-world
                    out["cases"][case.key]["cpu"] = self.cpu_usage[case.key]
                    out["cases"][case.key]["hello_cpu"] = self.cpu_usage["hello"]
                log(
                    f"{label} {case.key}: {result.rps:,.0f} req/s beside hello "
                    f"{hello.rps:,.0f} (p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
                    f"errors {result.errors})"
                )
            if hello_runs:
                out["hello_runs"] = [round(x, 1) for x in hello_runs]
                out["reference_rps"] = round(statistics.mean(hello_runs), 1)
                out["cases"]["hello"] = {"rps": out["reference_rps"]}
            if staleness:
                out["staleness"] = self.staleness(srv, db_url)
            out["worker_stats"] = self.worker_stats(srv)
            if plan.profile:
                out["profiles"] = profile.profile_cases(
                    srv,
                    {c.key: self.targets[c.key] for c in runnable},
                    duration=min(plan.duration, 6.0),
                    work=self.work / label,
                )
        finally:
            srv.stop()

    def pair(self, srv, case: Case):
        """The case and hello-world in alternating slices, so that bursts of other load on
        this shared machine fall on both; return (hello, case) summed over the slices."""
        slices = 2 if self.plan.quick else 5
        seconds = max(1.0, self.plan.duration / slices)
        runs = {"hello": [], case.key: []}
        usage = {"hello": cpu.Usage(), case.key: cpu.Usage()}
        meter = cpu.Meter([srv.proc.pid, *srv.worker_pids()])
        for _ in range(slices):
            for key in ("hello", case.key):
                meter.start()
                run = loadgen.run(srv.base, self.targets[key], duration=seconds)
                usage[key].add(meter.stop(run.requests))
                runs[key].append(run)
        self.cpu_usage = {k: u.per_request() for k, u in usage.items()} if meter.available() else {}
        return loadgen.combine(runs["hello"]), loadgen.combine(runs[case.key])

    def worker_stats(self, srv) -> list:
        """Each worker's cache counters (new connections land on either worker)."""
        import urllib.request

        seen = {}
        for _ in range(12):
            with urllib.request.urlopen(srv.base + "/bench/stats", timeout=5) as r:  # noqa: S310
                data = json.loads(r.read())
            seen[data["pid"]] = data
        return list(seen.values())

    # --- staleness under load ------------------------------------------------------------

    def staleness(self, srv, db_url: str) -> dict:
        """Commit a bump through the real write path in this process (another process than
        the server's), then poll with the old ETag until a 200: how long does a 304 lag?"""
        from app import create_app
        from models import db
        from shield.events import bump
        from shield.versions import DEFAULT_MAX_STALENESS

        bound = float(os.environ.get("SHIELD_VERSION_CACHE_MAX_STALENESS", DEFAULT_MAX_STALENESS))
        app = create_app(
            SQLALCHEMY_DATABASE_URI=db_url,
            SHIELD_JWT_SECRET=SECRET,
            SHIELD_VERSION_CACHE="off",
            SHIELD_SCHEDULER="off",
        )
        path = HARVESTS["claims"]
        lags, violations, polls = [], 0, 0
        load = threading.Thread(
            target=loadgen.run,
            args=(srv.base, self.targets["claims_304"]),
            kwargs={"duration": self.plan.duration + 2},
            daemon=True,
        )
        load.start()
        time.sleep(0.5)
        members = self.stale_members[: self.plan.staleness_trials]
        with app.app_context():
            for member in members:
                token = self.tokens[member]
                _, etag = harvest.get(srv.base, path, token)
                if harvest.get(srv.base, path, token, etag)[0] != 304:
                    continue
                bump(db.session, member, "claims")
                db.session.commit()
                committed = time.monotonic()
                while True:
                    started = time.monotonic()
                    status, _ = harvest.get(srv.base, path, token, etag)
                    polls += 1
                    if status == 304 and started > committed + bound:
                        violations += 1
                    if status == 200:
                        lags.append(started - committed)
                        break
                    if started > committed + 10 * bound:
                        break
            db.session.remove()
            db.engine.dispose()
        load.join()
        lags.sort()
        result = {
            "trials": len(lags),
            "bound_s": bound,
            "violations": violations,
            "polls": polls,
            "p50_ms": round(1000 * lags[len(lags) // 2], 2) if lags else None,
            "p99_ms": round(1000 * lags[min(len(lags) - 1, int(len(lags) * 0.99))], 2)
            if lags
            else None,
            "max_ms": round(1000 * lags[-1], 2) if lags else None,
        }
        log(f"staleness under load: {result}")
        return result


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--scale" in argv:  # the 10,000 -> 1,000,000 members run (bench/scale.py)
        from . import scale

        return scale.main([a for a in argv if a != "--scale"])
    plan = parse(argv)
    started = time.monotonic()
    RESULTS.mkdir(parents=True, exist_ok=True)
    loadgen.ensure_wrk()
    bench = Bench(plan)
    bench.results["meta"] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if plan.quick else "full",
        "duration_s": plan.duration,
        "wrk": "-t2 -c50",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "server_settings": {s: " ".join(servers.command(s, 0)[1:]) for s in plan.servers},
        "git": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=HERE.parent,
            check=False,
        ).stdout.strip(),
    }
    name, db_url = benchdb.create_database(plan.pg_url)
    log(f"database {name}")
    try:
        bench.prepare(db_url)
        http = "http" in plan.parts
        for i, server in enumerate(plan.servers if http else []):
            bench.run_server(server, db_url, cache="auto", label=server, staleness=(i == 0))
        if http and "gunicorn" in plan.servers:
            bench.run_server(
                "gunicorn",
                db_url,
                cache="auto",
                label="gunicorn-bodycache",
                cases=BODYCACHE_CASES,
                body_cache=True,
            )
            if not plan.quick:  # the "before" figures (no target), full runs only
                bench.run_server(
                    "gunicorn", db_url, cache="off", label="gunicorn-nocache", cases=NOCACHE_CASES
                )
        plan.extra.update(
            db_url=db_url,
            secret=SECRET,
            work=bench.work,
            members=[m for m in bench.seeded.members if m not in bench.seeded.heavy],
            env=server_env(db_url, "auto"),
        )
        bench.results["extra"] = extra.run(plan, log)
    finally:
        if plan.keep_db:
            log(f"kept database {name}")
        else:
            benchdb.drop_database(plan.pg_url, name)
    bench.results["meta"]["seconds"] = round(time.monotonic() - started, 1)
    rows = report.rows(bench.results)
    bench.results["rows"] = rows
    text = report.table(rows)
    print()
    print(text)
    print(report.staleness_line(bench.results))
    bench.results["capacity"] = report.capacity(bench.results)
    print("\n" + report.capacity_lines(bench.results))
    cpu_text = report.cpu_lines(bench.results)
    if cpu_text:
        print("\n" + cpu_text)
    out = RESULTS / "latest.json"
    out.write_text(json.dumps(bench.results, indent=2, default=str))
    print(f"\nwrote {out.relative_to(HERE.parent)} ({bench.results['meta']['seconds']} s)")
    if plan.record:
        md = HERE / "RESULTS.md"
        md.write_text(report.markdown(bench.results))
        print(f"wrote {md.relative_to(HERE.parent)}")
    return 0
