"""The plain socket rows of issue 5: commit -> frame latency and idle sockets' memory
against a bare Flask-Sock app (bench/sockets.py, bench/echo_app.py)."""

from __future__ import annotations

from . import latency

SOCKET_ROWS = [
    ("commit -> socket frame latency p99 (gevent, 1,000 idle sockets)", "<= 50 ms"),
    ("idle sockets: server RSS per connection (gevent, no compression)", "<= 40 KB at >= 15,000"),
    ("bare Flask-Sock app, same server and clients (reference; ratio = addon / bare)", None),
]


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
                "value": latency.describe(lat),
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


def _idle_levels(sb, levels, plan, log, label, after_first=None) -> dict[int, float]:
    """KB of worker RSS per idle socket above the warm baseline, at each level
    (`after_first(sb)` runs once the first level is held)."""
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
            dropped = sb.held - sb.still_open()
            if dropped:
                raise RuntimeError(f"{label}: {dropped} of {sb.held} idle sockets were dropped")
            per[n] = round((rss - base) / n, 1)
            log(f"{label} sockets: {n:,} idle (failed {failed}): {per[n]} KB each")
            if after_first is not None and len(per) == 1:
                after_first(sb)
    finally:
        sb.close()
    return per
