# ruff: noqa: S310 (the benchmark reads its own local servers)
"""What counting requests for /metrics costs the 304 polls: the same claims-304 load against
two servers of one kind started side by side, one with the metrics on (the default) and one
with SHIELD_METRICS=off, in alternating slices (on, off, off, on, ...) so that other load on
this shared machine falls on both. Ratio = on / off; the target is >= 0.95x (within 5 %).
Run alone with `python -m bench --parts metrics` (or `--quick --parts metrics`).
"""

from __future__ import annotations

import random
import time
import urllib.request

from shield.ops.meter import FLUSH_SECONDS

from . import cpu, harvest, loadgen, servers
from .run import API, mint_tokens

TITLE = "304 claims poll, metrics on vs SHIELD_METRICS=off (same run, alternating slices)"
TARGET = ">= 0.95x"
PATH = f"{API}/claims"


def _http_304_total(base: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(base + "/metrics", timeout=30) as r:
        text = r.read().decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "shield_http_requests_total" and s.labels.get("status") == "304"
    )


def _warm(srv, targets, members: int) -> None:
    """Until each worker has most likely seen each member (token verified, versions cached):
    random picks, about 4 requests per member per worker; counted, not timed, since this
    shared machine's speed varies tenfold."""
    sent, deadline = 0, time.monotonic() + 90
    while sent < members * servers.WORKERS * 4 and time.monotonic() < deadline:
        sent += loadgen.run(srv.base, targets, duration=2).requests


def _one_server(kind: str, plan, log, targets, tokens) -> dict:
    x = plan.extra
    on = servers.start(kind, x["env"], x["work"], label=f"{kind}-metrics-on")
    try:
        off = servers.start(
            kind, {**x["env"], "SHIELD_METRICS": "off"}, x["work"], label=f"{kind}-metrics-off"
        )
    except Exception:
        on.stop()
        raise
    try:
        if targets[0] is None:
            got = harvest.etags(on.base, PATH, tokens)
            lines = [(PATH, tokens[m], etag) for m, (status, etag) in got.items() if status == 200]
            targets[0] = loadgen.write_targets(x["work"] / "metrics_cost.tsv", lines)
        sample = random.Random(3).sample(targets[0].read_text().splitlines(), 10)
        for srv in (on, off):
            for line in sample:
                path, bearer, etag = line.split("\t")
                status, _ = harvest.get(srv.base, path, bearer, etag)
                if status != 304:
                    return {"problem": f"{srv.label}: expected 304, got {status}"}
        for srv in (on, off):
            _warm(srv, targets[0], len(tokens))
        slices = 6 if plan.quick else 10
        seconds = max(1.0, (plan.duration * 2) / slices)
        runs = {"on": [], "off": []}
        # CPU per request of each server's processes: less swayed by other load than req/s.
        meters = {
            n: cpu.Meter([s.proc.pid, *s.worker_pids()]) for n, s in (("on", on), ("off", off))
        }
        usage = {"on": cpu.Usage(), "off": cpu.Usage()}
        counted_before = _http_304_total(on.base)
        for i in range(slices):
            order = (("on", on), ("off", off)) if i % 2 == 0 else (("off", off), ("on", on))
            for name, srv in order:
                meters[name].start()
                run = loadgen.run(srv.base, targets[0], duration=seconds)
                usage[name].add(meters[name].stop(run.requests))
                runs[name].append(run)
        time.sleep(2 * FLUSH_SECONDS)  # the other worker's last counts reach the files
        counted = _http_304_total(on.base) - counted_before
        on_run, off_run = loadgen.combine(runs["on"]), loadgen.combine(runs["off"])
        cpu_us = {n: u.per_request()["server_us"] for n, u in usage.items()}
        log(
            f"{kind} metrics on {on_run.rps:,.0f} req/s vs off {off_run.rps:,.0f} req/s "
            f"({on_run.rps / off_run.rps:.3f}x); server CPU {cpu_us['on']} vs {cpu_us['off']} "
            f"us/request; 304s counted {counted:,.0f} of {on_run.requests:,} sent to the "
            "metrics-on server"
        )
        return {
            "on": on_run.as_dict(),
            "off": off_run.as_dict(),
            "counted_304": counted,
            "server_cpu_us": cpu_us,
            "slice_rps": {n: [round(r.rps) for r in rs] for n, rs in runs.items()},
            "slices": slices,
            "slice_s": seconds,
        }
    finally:
        on.stop()
        off.stop()


def fast_path_micro(db_url: str, secret: str, member: str) -> dict:
    """The fast path's own Python time per 304 in this process, counting on and off
    (min of many repeats, alternating): the cost with the machine's other load taken out."""
    import timeit

    from app import create_app
    from models import db
    from shield import versions

    app = create_app(
        SQLALCHEMY_DATABASE_URI=db_url,
        SHIELD_JWT_SECRET=secret,
        SHIELD_VERSION_CACHE="notify",
        SHIELD_SCHEDULER="off",
    )
    token = mint_tokens([member])[member]
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    try:
        with app.app_context():
            versions.version_store().wait_ready(5)
        etag = client.get(PATH, headers=auth).headers["ETag"]
        fast = app.wsgi_app
        environ = {
            "PATH_INFO": PATH,
            "REQUEST_METHOD": "GET",
            "QUERY_STRING": "",
            "HTTP_AUTHORIZATION": auth["Authorization"],
            "HTTP_IF_NONE_MATCH": etag,
        }
        deadline = time.monotonic() + 10
        while fast.answered == 0 and time.monotonic() < deadline:  # the versions' NOTIFY
            client.get(PATH, headers={**auth, "If-None-Match": etag})
            time.sleep(0.05)
        counting, best = fast.count, {"on": [], "off": []}
        before = fast.answered
        for _ in range(10):
            for name in ("on", "off"):
                fast.count = counting if name == "on" else None
                runs = timeit.repeat(
                    lambda: fast(environ, lambda s, h: None), number=5000, repeat=5
                )
                best[name].append(min(runs) / 5000 * 1e6)
        fast.count = counting
        if fast.answered - before < 500_000:
            return {"problem": "the fast path did not answer every call"}
        return {"on_us": round(min(best["on"]), 2), "off_us": round(min(best["off"]), 2)}
    finally:
        versions.stop(app)
        with app.app_context():
            db.engine.dispose()


def metrics_case(plan, log) -> list[dict]:
    x = plan.extra
    members = x["members"][: 500 if plan.quick else 1000]
    tokens = mint_tokens(members)
    targets = [None]
    rows = []
    for kind in plan.servers:
        result = _one_server(kind, plan, log, targets, tokens)
        if "problem" in result:
            rows.append(
                {
                    "case": TITLE,
                    "server": kind,
                    "value": None,
                    "target": TARGET,
                    "note": result["problem"],
                }
            )
            continue
        ratio = round(result["on"]["rps"] / result["off"]["rps"], 3)
        # Every 304 sent while measuring must be in the scrape (the counting is not skipped).
        complete = result["counted_304"] >= result["on"]["requests"]
        rows.append(
            {
                "case": TITLE,
                "server": kind,
                "value": round(result["on"]["rps"]),
                "reference": f"SHIELD_METRICS=off: {result['off']['rps']:,.0f} req/s",
                "ratio": ratio,
                "target": TARGET,
                "met": ratio >= 0.95 and complete,
                "note": (
                    f"server CPU {result['server_cpu_us']['on']} vs "
                    f"{result['server_cpu_us']['off']} us/request"
                    + ("" if complete else "; the scrape missed some 304s")
                ),
                "detail": result,
            }
        )
    micro = fast_path_micro(x["db_url"], x["secret"], members[0])
    log(f"fast path in-process, counting on vs off: {micro}")
    if "problem" not in micro:
        rows.append(
            {
                "case": "fast-path 304, Python time per request in-process (min of repeats)",
                "server": "in-process",
                "value": f"{micro['on_us']} us counting on",
                "reference": f"{micro['off_us']} us off",
                "ratio": round(micro["off_us"] / micro["on_us"], 3),
                "target": None,
                "met": None,
                "note": f"+{micro['on_us'] - micro['off_us']:.2f} us per 304",
                "detail": micro,
            }
        )
    return rows
