"""The push and socket rows of issue 5 (bench/push.py, bench/sockets.py).

A case is a function `(plan, log) -> list of row dicts` (case, server, value, reference,
ratio, target, met, note); it starts what it needs and measures its reference in the same
run. `plan.extra` carries the run's database URL, secret, work directory, seeded members
and server environment. A case that fails prints its rows with the reason, not a figure.
"""

from __future__ import annotations

import time
import traceback

PUSH_ROWS = [
    (
        "push dispatch, SHIELD_PUSH_PROCESSES=2 x 64 threads vs bare pyfcm loop 2 x 64 "
        "(20 ms stand-in)",
        ">= 0.7x and >= 1,000/s",
    ),
    ("bare pyfcm send loop, 2 processes x 64 threads (reference)", None),
    ("push dispatch, 1 process x 64 threads (default) vs bare pyfcm loop 1 x 64", None),
    ("bare pyfcm send loop, 1 process x 64 threads (reference)", None),
    ("commit -> FCM request latency p50 (worker in another process)", "<= 250 ms"),
]
SOCKET_ROWS = [
    ("commit -> socket frame latency p99 (gevent, 1,000 idle sockets)", "<= 50 ms"),
    ("idle sockets: server RSS per connection (gevent, no compression)", "<= 40 KB at >= 15,000"),
    ("bare Flask-Sock app, same server and clients (reference; ratio = addon / bare)", None),
]


def _ms(r: dict) -> str:
    return (
        f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms "
        f"(max {r['max_ms']:.0f}, n {r['events']})"
    )


def push_case(plan, log) -> list[dict]:
    from .push import DELAY, PROCESSES, PushBench

    x = plan.extra
    rounds, n = (1, 1500) if plan.quick else (2, 4000)
    trials = 30 if plan.quick else 200
    pb = PushBench(x["db_url"], x["secret"], x["members"], x["work"], log)
    # The target row first; both sides get the same layout. The default 1-process layout is
    # information only: full runs measure it, quick runs (< 2 min) leave it out.
    layouts = (PROCESSES,) if plan.quick else (PROCESSES, 1)
    try:
        conc, batch = pb.settings.concurrency, pb.settings.batch_size
        runs = {p: ([], []) for p in layouts}
        notes = []
        for r in range(rounds):
            for processes in layouts:
                pb.processes = processes
                pairs = pb.devices(n)
                seconds = pb.commit_events([m for m, _ in pairs])
                log(
                    f"push round {r + 1}, {processes} process(es): {n} events committed "
                    f"through the write path in {seconds:.1f}s"
                )
                b = pb.bare(pairs)
                d = pb.dispatch(pairs)
                log(
                    f"push round {r + 1}, {processes} process(es): bare pyfcm {b['rps']}/s, "
                    f"dispatcher {d['rps']}/s ({d['process']}; attempts {d['attempts']})"
                )
                notes += [res["problem"] for res in (b, d) if res["problem"]]
                runs[processes][0].append(b)
                runs[processes][1].append(d)
        lat = pb.latency(trials)
        log(f"push latency: {lat}")
    finally:
        pb.close()
    rows = []
    for i, processes in enumerate(layouts):
        bare, disp = runs[processes]
        setting = (
            f"{n * rounds:,} pushes, {DELAY * 1000:.0f} ms stand-in, {processes} process(es) "
            f"x {conc} threads each side, batch {batch}"
        )
        rows += _throughput_rows(PUSH_ROWS[2 * i : 2 * i + 2], bare, disp, notes, setting)
    rows.append(_latency_row(lat))
    return rows


def _throughput_rows(titles, bare: list, disp: list, notes: list, setting: str) -> list[dict]:
    """The dispatcher row (ratio to the bare loop) and the bare loop's row, for one layout."""
    (case, target), (bare_case, _) = titles
    bare_rps = sum(b["pushes"] for b in bare) / sum(b["seconds"] for b in bare)
    disp_rps = sum(d["pushes"] for d in disp) / sum(d["seconds"] for d in disp)
    ratio = round(disp_rps / bare_rps, 2)
    return [
        {
            "case": case,
            "server": "jobs worker",
            "value": round(disp_rps),
            "reference": "bare pyfcm loop",
            "ratio": ratio,
            "target": target,
            "met": None if notes or not target else (ratio >= 0.7 and disp_rps >= 1000),
            "note": "; ".join(notes) or None,
            "detail": {"rounds": disp, "setting": setting},
        },
        {
            "case": bare_case,
            "server": "pyfcm",
            "value": round(bare_rps),
            "reference": None,
            "ratio": None,
            "target": None,
            "met": None,
            "note": None,
            "detail": {"rounds": bare, "setting": setting},
        },
    ]


def _latency_row(lat: dict) -> dict:
    case, target = PUSH_ROWS[-1]
    if lat.get("problem") and "p50_ms" not in lat:
        return {
            "case": case,
            "server": "jobs worker",
            "value": None,
            "target": target,
            "note": lat["problem"],
        }
    return {
        "case": case,
        "server": "jobs worker",
        "value": _ms(lat),
        "reference": None,
        "ratio": None,
        "target": target,
        "met": None if lat["problem"] else lat["p50_ms"] <= 250,
        "note": lat["problem"],
        "detail": lat,
    }


def socket_case(plan, log) -> list[dict]:
    from .run import mint_tokens
    from .sockets import SocketBench

    x = plan.extra
    members = x["members"]
    tokens = mint_tokens(members)
    env = {**x["env"], "SHIELD_WS_ENABLED": "1"}
    levels = [1000] if plan.quick else [1000, 10_000, 15_000]
    trials = 40 if plan.quick else 200
    ref = _idle_levels(
        SocketBench(
            x["db_url"], x["secret"], env, tokens, x["work"], log, app="bench.echo_app:app"
        ),
        levels,
        plan,
        log,
        "echo",
    )
    sb = SocketBench(x["db_url"], x["secret"], env, tokens, x["work"], log)
    rows: list[dict] = []
    try:
        # The baseline: both workers have served sockets (hub loops, LISTEN connection and
        # pools started), held open through the run and not counted.
        warm, failed, _ = sb.hold(40, 2)
        base_n = sb.held
        base = sb.settle(1.5 if plan.quick else 3.0)
        log(
            f"sockets: baseline RSS {base / 1024:.1f} MB with {warm} warm-up sockets "
            f"(failed {failed})"
        )
        per: dict[int, float] = {}
        lat = None
        problems = []
        for level in levels:
            want = level - (sb.held - base_n)
            processes = max(2, -(-want // 4000))
            opened, failed, seconds = sb.hold(want, processes)
            if failed:
                problems.append(f"{failed} of {want} sockets failed to open at {level:,}")
            rss = sb.settle(1.5 if plan.quick else 5.0)
            n = sb.held - base_n
            per[n] = round((rss - base) / n, 1)
            log(
                f"sockets: {n:,} idle (+{opened:,} in {seconds:.1f}s, failed {failed}): "
                f"RSS {rss / 1024:.1f} MB -> {per[n]} KB each"
            )
            if lat is None:
                lat = sb.latency(members[:20], trials)
                log(f"socket latency: {lat}")
    finally:
        sb.close()
    if lat.get("problem") and "p50_ms" not in lat:
        rows.append(
            {
                "case": SOCKET_ROWS[0][0],
                "server": "gunicorn gevent",
                "value": None,
                "target": SOCKET_ROWS[0][1],
                "note": lat["problem"],
            }
        )
    else:
        rows.append(
            {
                "case": SOCKET_ROWS[0][0],
                "server": "gunicorn gevent",
                "value": _ms(lat),
                "target": SOCKET_ROWS[0][1],
                "met": None if lat["problem"] else lat["p99_ms"] <= 50,
                "note": lat["problem"],
                "detail": lat,
            }
        )
    value = "; ".join(f"{kb:.1f} KB at {n:,}" for n, kb in per.items())
    top = max(per) if per else 0
    met = None
    if not plan.quick and per:
        met = top >= 15_000 and per[top] <= 40 and not problems
    if problems:
        value += " (" + "; ".join(problems) + ")"
    if plan.quick:
        value += " (quick: 1,000 only)"
    rows.append(
        {
            "case": SOCKET_ROWS[1][0],
            "server": "gunicorn gevent",
            "value": value,
            "reference": "idle baseline",
            "target": SOCKET_ROWS[1][1],
            "met": met,
            "detail": {"baseline_kb": base, "per_socket_kb": per, "problems": problems},
        }
    )
    ref_top = max(ref) if ref else None
    rows.append(
        {
            "case": SOCKET_ROWS[2][0],
            "server": "gunicorn gevent",
            "value": "; ".join(f"{kb:.1f} KB at {n:,}" for n, kb in ref.items()),
            "reference": None,
            "ratio": round(per[top] / ref[ref_top], 2) if ref_top and top else None,
            "target": None,
            "met": None,
            "detail": {"per_socket_kb": ref},
        }
    )
    return rows


def _idle_levels(sb, levels, plan, log, label) -> dict[int, float]:
    """KB of worker RSS per idle socket above the warm baseline, at each level."""
    per: dict[int, float] = {}
    try:
        sb.hold(40, 2)
        base_n = sb.held
        base = sb.settle(1.5 if plan.quick else 3.0)
        for level in levels:
            want = level - (sb.held - base_n)
            opened, failed, seconds = sb.hold(want, max(2, -(-want // 4000)))
            rss = sb.settle(1.5 if plan.quick else 5.0)
            n = sb.held - base_n
            per[n] = round((rss - base) / n, 1)
            log(f"{label} sockets: {n:,} idle (failed {failed}): {per[n]} KB each")
    finally:
        sb.close()
    return per


CASES: list = [push_case, socket_case]


def run(plan, log) -> list[dict]:
    rows: list[dict] = []
    for case in CASES:
        if case.__name__.removesuffix("_case") not in plan.parts:
            continue
        started = time.monotonic()
        try:
            rows += case(plan, log)
        except Exception as exc:  # one broken case must not hide the others' figures
            log(f"{case.__name__} failed: {exc!r}\n{traceback.format_exc()}")
            titles = PUSH_ROWS if case is push_case else SOCKET_ROWS
            rows += [
                {
                    "case": title,
                    "server": "-",
                    "value": None,
                    "target": target,
                    "note": f"failed: {exc!r}"[:120],
                }
                for title, target in titles
            ]
        log(f"{case.__name__}: {time.monotonic() - started:.1f}s")
    return rows
