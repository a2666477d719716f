# ruff: noqa: S603, S607 (the benchmark runs local tools: wrk, servers, ps)
"""`python -m bench --scale`: every cost at 1,000,000 members beside 10,000, in one run.

Two databases of our own (`shield_scale_<n>`, created afresh, dropped at the end unless
--keep-db): the same seed shape (bench/db.py: subscriptions, wallets, ledger, 0-8 claims
each, 20 members with 50) plus a week of history (bench/scale_seed.py: one device each, 10
outbox events per member over 7 days, the push-worthy ones with a sent delivery). Each gets
its own granian (the recommended server, 2 workers x 4 threads, version cache on, body
cache off as in `make bench`). Every case runs on both in alternating slices, so a burst of
the other engineers' load falls on both; the figure is the ratio 1M / 10k.

- 304 polls of claims, wallet and subscription: a working set of --working-set members
  (200,000; every member of the small database) polling at random with the ETags their
  first GET returned; version cache hit rate = hits / (hits + loads) over the slices;
- the 200 claims list (20 members with 50 claims), and the event feed
  (`/events?after=<the middle seq kept>`, half of the member's week);
- the write path (bench/scale_writes.py): claim submissions and admin approvals over HTTP,
  3 + 3 client threads, with the push dispatcher sending to a stand-in FCM;
- retention: `prune_events` removing the oldest kept day (1/7 of the events) while the
  write path runs; its duration, the writes' p99 meanwhile, the longest lock wait;
- each worker's RSS at the end, and its version cache counters.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from . import db as benchdb
from . import harvest, loadgen, servers
from . import scale_report as report
from . import scale_writes as writes
from .run import API, DEFAULT_PG, HARVESTS, RESULTS, SECRET, log, mint_tokens, server_env
from .scale_etags import first_polls
from .scale_seed import seed_all

PARTS = ("polls", "reads", "writes", "retention")
POLLED = ("claims", "wallet", "subscription")
FEED_MEMBERS = 2_000
# The retention watermark of a database seeded before it existed (as its migration fills it).
WATERMARK = (
    "INSERT INTO event_retention (id, pruned_through) SELECT 1, COALESCE("
    "(SELECT min(seq) - 1 FROM outbox_events), (SELECT value FROM event_sequence WHERE id = 1), 0)"
    " ON CONFLICT (id) DO NOTHING"
)


@dataclass
class ScalePlan:
    members: int
    small: int
    working_set: int
    events_per_member: int
    slice_s: float
    slices: int
    warmup_s: float
    write_s: float
    retention_limit: float
    pg_url: str
    keep_db: bool
    reuse_db: bool
    record: bool
    seed_only: bool
    parts: tuple[str, ...]
    argv: list[str] = field(default_factory=list)


def parse(argv: list[str]) -> ScalePlan:
    p = argparse.ArgumentParser(prog="python -m bench --scale", description=__doc__)
    p.add_argument("--members", type=int, default=1_000_000)
    p.add_argument("--small", type=int, default=10_000, help="members of the reference db")
    p.add_argument("--working-set", type=int, default=200_000, help="distinct members polling")
    p.add_argument("--events-per-member", type=int, default=10, help="over the 7 days")
    p.add_argument("--slice", type=float, default=3.0, help="seconds per measured slice")
    p.add_argument("--slices", type=int, default=4, help="slices per case and database")
    p.add_argument("--warmup", type=float, default=15.0, help="seconds of warm-up per case")
    p.add_argument("--write-seconds", type=float, default=10.0, help="per write slice")
    p.add_argument(
        "--retention-limit",
        type=float,
        default=600.0,
        help="stop the retention job after this many seconds (and report how far it got)",
    )
    p.add_argument("--pg-url", default=DEFAULT_PG)
    p.add_argument("--keep-db", action="store_true", help="leave both databases")
    p.add_argument(
        "--reuse-db",
        action="store_true",
        help="use databases a --keep-db run left (retention then removes the next day)",
    )
    p.add_argument("--record", action="store_true", help="also write bench/SCALE.md")
    p.add_argument(
        "--seed-only",
        action="store_true",
        help="seed (or check) the large database, keep it and stop: a later --reuse-db run",
    )
    p.add_argument("--parts", default=",".join(PARTS))
    a = p.parse_args(argv)
    return ScalePlan(
        members=a.members,
        small=a.small,
        working_set=a.working_set,
        events_per_member=a.events_per_member,
        slice_s=a.slice,
        slices=a.slices,
        warmup_s=a.warmup,
        write_s=a.write_seconds,
        retention_limit=a.retention_limit,
        pg_url=a.pg_url,
        keep_db=a.keep_db,
        reuse_db=a.reuse_db,
        record=a.record,
        seed_only=a.seed_only,
        parts=tuple(x for x in a.parts.split(",") if x in PARTS),
        argv=argv,
    )


def _label(n: int) -> str:
    return f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n // 1000}k"


class Side:
    """One database under test, its server and its members' requests."""

    def __init__(self, plan: ScalePlan, members: int, work: Path):
        self.plan = plan
        self.members = members
        self.label = _label(members)
        self.name = f"shield_scale_{self.label}"
        self.url = ""
        self.work = work / self.label
        self.work.mkdir(parents=True, exist_ok=True)
        self.targets: dict[str, Path] = {}
        self.seed_info: dict = {}
        self.srv = None

    # -- data -------------------------------------------------------------------------------
    def prepare(self) -> None:
        plan = self.plan
        url = benchdb.make_url(plan.pg_url).set(drivername="postgresql+psycopg", database=self.name)
        self.url = url.render_as_string(hide_password=False)
        if plan.reuse_db and self._present():
            log(f"{self.label}: reusing database {self.name}")
            benchdb.create_schema(self.url)  # tables added since it was seeded
            with psycopg.connect(benchdb.admin_dsn(self.url)) as conn:
                conn.execute(WATERMARK)
            self.seed_info = {"reused": True}
        else:
            benchdb.create_database(plan.pg_url, self.name)
            benchdb.create_schema(self.url)
            started = time.perf_counter()
            seeded, history = seed_all(
                self.url, self.members, self.members * plan.events_per_member
            )
            self.seed_info = {**seeded.counts, **history}
            self.seed_info["seconds"] = round(time.perf_counter() - started, 1)
            log(f"{self.label}: seeded {self.seed_info}")
        with psycopg.connect(benchdb.admin_dsn(self.url)) as conn:
            lo, hi, n = conn.execute(
                "SELECT min(seq), max(seq), count(*) FROM outbox_events"
            ).fetchone()
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        self.seed_info.update(events_kept=n, database_mb=round(size / 2**20))
        self.feed_after = (lo + hi) // 2
        ids = [f"h{i:04d}" for i in range(20)] + [f"m{i:06d}" for i in range(self.members - 20)]
        self.heavy = ids[:20]
        plain = ids[20:]
        rng = random.Random(7)
        self.working = rng.sample(plain, min(plan.working_set, len(plain)))
        self.feed_members = self.working[:FEED_MEMBERS]
        self.admin = "scale-admin"
        self.tokens = mint_tokens(self.working + self.heavy)
        self.admin_token = _admin_token(self.admin)

    def _present(self) -> bool:
        try:
            with psycopg.connect(benchdb.admin_dsn(self.url)) as conn:
                n = conn.execute("SELECT count(*) FROM members WHERE id LIKE 'm%'").fetchone()[0]
            return n == self.members - 20
        except psycopg.OperationalError:
            return False

    # -- server and requests ----------------------------------------------------------------
    def start(self) -> None:
        self.srv = servers.start("granian", server_env(self.url, "auto"), self.work, self.label)
        log(f"{self.label}: granian on :{self.srv.port} (workers {self.srv.worker_pids()})")

    def harvest(self) -> float:
        """The working set's first polls (bench/scale_etags.py) and every case's requests."""
        started = time.perf_counter()
        etags = first_polls(self.url, self.working, datetime.now(UTC))
        for resource in POLLED:
            lines = [(HARVESTS[resource], self.tokens[m], etags[resource][m]) for m in self.working]
            path = self.work / f"{resource}_304.tsv"
            self.targets[f"{resource}_304"] = loadgen.write_targets(path, lines)
        seconds = round(time.perf_counter() - started, 1)
        log(f"{self.label}: first polls of {len(self.working):,} members in {seconds}s")
        heavy = [(HARVESTS["claims"], self.tokens[m], None) for m in self.heavy]
        self.targets["claims_200"] = loadgen.write_targets(self.work / "claims_200.tsv", heavy)
        feed = [
            (f"{API}/events?after={self.feed_after}", self.tokens[m], None)
            for m in self.feed_members
        ]
        self.targets["feed"] = loadgen.write_targets(self.work / "feed.tsv", feed)
        return seconds

    def check(self, key: str, expect: int, samples: int = 25) -> str | None:
        lines = self.targets[key].read_text().splitlines()
        for line in random.Random(key).sample(lines, min(samples, len(lines))):
            path, bearer, etag = line.split("\t")
            status, _ = harvest.get(self.srv.base, path, bearer, None if etag == "-" else etag)
            if status != expect:
                return f"{key} on {self.label}: expected {expect}, got {status}"
        return None

    def warm(self, key: str) -> dict:
        """Each worker meets every member of the case once (POST /bench/warm): {pid: info}.
        New connections land on either worker, so ask on fresh ones until both answered."""
        import http.client
        from concurrent.futures import ThreadPoolExecutor

        path = f"/bench/warm?targets={self.targets[key].resolve()}"

        def one(_):
            conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=1800)
            try:
                conn.request("POST", path)
                return json.loads(conn.getresponse().read())
            finally:
                conn.close()

        seen: dict[int, dict] = {}
        with ThreadPoolExecutor(4) as pool:
            for _ in range(10):
                for info in pool.map(one, range(4)):
                    seen[info["pid"]] = info
                if len(seen) >= servers.WORKERS:
                    break
        return seen

    def stats(self) -> dict:
        """Each worker's /bench/stats (new connections land on either worker) and RSS."""
        import urllib.request

        seen: dict[int, dict] = {}
        for _ in range(16):
            with urllib.request.urlopen(self.srv.base + "/bench/stats", timeout=10) as r:  # noqa: S310
                data = json.loads(r.read())
            seen[data["pid"]] = data
        for pid, data in seen.items():
            data["rss_mb"] = _rss_mb(pid)
        return seen

    def stop(self) -> None:
        if self.srv is not None:
            self.srv.stop()
            self.srv = None

    def drop(self) -> None:
        benchdb.drop_database(self.plan.pg_url, self.name)


def _admin_token(member: str) -> str:
    import jwt

    now = datetime.now(UTC)
    claims = {"sub": member, "iat": now, "exp": now + timedelta(hours=6), "role": "admin"}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _cache_delta(before: dict, after: dict) -> dict:
    """Version cache hits and loads (misses) between two stats, summed over workers."""
    out = {"hits": 0, "loads": 0, "stale_reads": 0}
    for pid, data in after.items():
        old = before.get(pid, {}).get("versions", {})
        for k in out:
            out[k] += data["versions"].get(k, 0) - old.get(k, 0)
    total = out["hits"] + out["loads"]
    out["hit_rate"] = round(out["hits"] / total, 4) if total else None
    return out


def alternate(sides: list[Side], key: str, plan: ScalePlan) -> dict[str, loadgen.WrkResult]:
    """The case on each side in turn, `slices` times: {label: combined result}."""
    runs: dict[str, list] = {s.label: [] for s in sides}
    for _ in range(plan.slices):
        for side in sides:
            runs[side.label].append(
                loadgen.run(side.srv.base, side.targets[key], duration=plan.slice_s)
            )
    return {label: loadgen.combine(r) for label, r in runs.items()}


def read_cases(sides: list[Side], plan: ScalePlan, keys: list[tuple[str, int]], out: dict):
    for key, expect in keys:
        problems = [p for s in sides if (p := s.check(key, expect))]
        if problems:
            out[key] = {"invalid": problems}
            log(f"{key}: {problems} - no figure")
            continue
        warmed = {s.label: s.warm(key) for s in sides}
        log(f"{key}: warmed {warmed}")
        before = {s.label: s.stats() for s in sides}
        for side in sides:  # then polls at random, as measured
            loadgen.run(side.srv.base, side.targets[key], duration=plan.warmup_s)
        mid = {s.label: s.stats() for s in sides}
        results = alternate(sides, key, plan)
        after = {s.label: s.stats() for s in sides}
        out[key] = {
            s.label: {
                **results[s.label].as_dict(),
                "cache_warmup": _cache_delta(before[s.label], mid[s.label]),
                "cache": _cache_delta(mid[s.label], after[s.label]),
            }
            for s in sides
        }
        log(
            f"{key}: "
            + "; ".join(f"{k} {v['rps']:,.0f}/s {v['cache']}" for k, v in out[key].items())
        )


def write_cases(sides: list[Side], plan: ScalePlan, out: dict) -> None:
    from .push import StandIn

    fcm = StandIn().start()
    account = fcm.write_service_account(sides[0].work.parent / "scale-service-account.json")
    dispatchers = {}
    try:
        for side in sides:
            dispatchers[side.label] = writes.Dispatcher(side.url, SECRET, account, fcm.url)
        loads = {
            s.label: writes.WriteLoad(
                s.srv.base,
                s.working,
                s.tokens,
                s.admin_token,
                writes.approvable_claims(s.url, 30_000),
            )
            for s in sides
        }
        if "writes" in plan.parts:
            windows = {s.label: [] for s in sides}
            for _ in range(2):
                for side in sides:
                    load = loads[side.label].start()
                    started = time.perf_counter()
                    time.sleep(plan.write_s)
                    load.stop()
                    windows[side.label].append((started, time.perf_counter()))
            out["writes"] = {s.label: _windowed(loads[s.label], windows[s.label]) for s in sides}
            log(f"writes: {out['writes']}")
        if "retention" in plan.parts:
            out["retention"] = {}
            for side in sides:
                watch = writes.LockWatch(plan.pg_url, side.name).start()
                load = loads[side.label].start()
                time.sleep(2)
                started = time.perf_counter()
                job = writes.retention(side.url, SECRET, plan.retention_limit)
                ended = time.perf_counter()
                if ended - started < plan.write_s:  # enough writes to take a p99 of
                    time.sleep(plan.write_s - (ended - started))
                load.stop()
                locks = watch.stop()
                during = loads[side.label].summary(started, max(ended, started + plan.write_s))
                out["retention"][side.label] = {"job": job, "writes": during, "locks": locks}
                log(f"retention {side.label}: {out['retention'][side.label]}")
    finally:
        for label, d in dispatchers.items():
            out.setdefault("dispatchers", {})[label] = d.stop()
        fcm.stop()
    out["pushes_received"] = len(fcm.received)


def _windowed(load: writes.WriteLoad, windows) -> dict:
    merged = {"submit": [], "approve": []}
    for lo, hi in windows:
        for kind in merged:
            merged[kind] += [r for r in load.samples[kind] if lo <= r[0] < hi]
    copy = writes.WriteLoad.__new__(writes.WriteLoad)
    copy.samples = merged
    result = copy.summary()
    seconds = sum(hi - lo for lo, hi in windows)
    for kind in ("submit", "approve"):
        if kind in result:
            result[kind]["per_s"] = round(result[kind]["n"] / seconds, 1)
    return result


def main(argv: list[str]) -> int:
    plan = parse(argv)
    started = time.monotonic()
    loadgen.ensure_wrk()
    work = RESULTS / "scale"
    sides = [Side(plan, plan.small, work), Side(plan, plan.members, work)]
    results: dict = {
        "meta": {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python -m bench --scale " + " ".join(plan.argv),
            "members": plan.members,
            "small": plan.small,
            "working_set": plan.working_set,
            "server": " ".join(servers.command("granian", 0)[1:]),
        }
    }
    if plan.seed_only:
        sides[1].prepare()
        log(f"kept {sides[1].name}: {sides[1].seed_info}")
        return 0
    try:
        for side in sides:
            side.prepare()
        results["seed"] = {s.label: s.seed_info for s in sides}
        results["first_poll_seconds"] = {s.label: s.harvest() for s in sides}
        for side in sides:
            side.start()
        cases: dict = {}
        results["cases"] = cases
        if "polls" in plan.parts:
            read_cases(sides, plan, [(f"{r}_304", 304) for r in POLLED], cases)
        if "reads" in plan.parts:
            read_cases(sides, plan, [("claims_200", 200), ("feed", 200)], cases)
        if "writes" in plan.parts or "retention" in plan.parts:
            write_cases(sides, plan, cases)
        results["workers"] = {s.label: s.stats() for s in sides}
    finally:
        for side in sides:
            side.stop()
        if not plan.keep_db:
            for side in sides:
                side.drop()
            log("dropped " + ", ".join(s.name for s in sides))
        else:
            log("kept " + ", ".join(s.name for s in sides))
    results["meta"]["seconds"] = round(time.monotonic() - started, 1)
    rows = report.rows(results, [s.label for s in sides])
    results["rows"] = rows
    print()
    print(report.table(rows, [s.label for s in sides]))
    out = RESULTS / "scale.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwrote {out} ({results['meta']['seconds']} s)")
    if plan.record:
        md = Path(__file__).with_name("SCALE.md")
        md.write_text(report.markdown(results, rows))
        print(f"wrote {md}")
    return 0
