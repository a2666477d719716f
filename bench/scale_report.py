"""The scale run's table: each figure at the small and the large database, the ratio, the
issue's target (issue 14) and whether it is met."""

from __future__ import annotations

RSS_BUDGET_MB = 300


def _get(d: dict, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _row(case, small, large, *, ratio=None, target=None, met=None, unit="", note=""):
    return {
        "case": case,
        "small": small,
        "large": large,
        "ratio": ratio,
        "target": target,
        "met": met,
        "unit": unit,
        "note": note,
    }


def _ratio(a, b):
    return round(b / a, 2) if a and b is not None else None


def rows(results: dict, labels: list[str]) -> list[dict]:
    s, b = labels
    cases = results.get("cases", {})
    ws = results["meta"]["working_set"]
    out = []
    for key, title in (
        ("claims_304", "304 claims poll"),
        ("wallet_304", "304 wallet poll"),
        ("subscription_304", "304 subscription poll"),
    ):
        c = cases.get(key)
        if c is None:
            continue
        if "invalid" in c:
            out.append(_row(title, None, None, note="; ".join(c["invalid"])))
            continue
        r = _ratio(c[s]["rps"], c[b]["rps"])
        out.append(
            _row(
                f"{title} ({min(ws, results['meta']['members'])} members polling at random)",
                c[s]["rps"],
                c[b]["rps"],
                ratio=r,
                target=">= 0.9x",
                met=r is not None and r >= 0.9,
                unit="req/s",
            )
        )
        out.append(
            _row(
                f"  version cache hit rate while measuring {title.split()[1]} (warm-up)",
                c[s]["cache"]["hit_rate"],
                c[b]["cache"]["hit_rate"],
                note=f"warm-up {_get(c, s, 'cache_warmup', 'hit_rate')} / "
                f"{_get(c, b, 'cache_warmup', 'hit_rate')}",
            )
        )
    for key, title in (
        ("claims_200", "200 claims list (50 claims)"),
        ("feed", "event feed ?after="),
    ):
        c = cases.get(key)
        if c is None:
            continue
        if "invalid" in c:
            out.append(_row(title, None, None, note="; ".join(c["invalid"])))
            continue
        r = _ratio(c[s]["rps"], c[b]["rps"])
        out.append(
            _row(
                title,
                c[s]["rps"],
                c[b]["rps"],
                ratio=r,
                target=">= 0.8x",
                met=r is not None and r >= 0.8,
                unit="req/s",
                note=f"p99 {c[s]['p99_ms']} / {c[b]['p99_ms']} ms",
            )
        )
    w = cases.get("writes")
    if w:
        for kind, title in (("submit", "claim submissions"), ("approve", "admin approvals")):
            out.append(
                _row(
                    f"{title} per second (3 client threads each, both at once)",
                    _get(w, s, kind, "per_s"),
                    _get(w, b, kind, "per_s"),
                    ratio=_ratio(_get(w, s, kind, "per_s"), _get(w, b, kind, "per_s")),
                    unit="/s",
                    note=f"statuses {_get(w, s, kind, 'statuses')} / "
                    f"{_get(w, b, kind, 'statuses')}",
                )
            )
        out.append(
            _row(
                "write request (commit) latency p50",
                _get(w, s, "all", "p50_ms"),
                _get(w, b, "all", "p50_ms"),
                ratio=_ratio(_get(w, s, "all", "p50_ms"), _get(w, b, "all", "p50_ms")),
                unit="ms",
            )
        )
        r = _ratio(_get(w, s, "all", "p99_ms"), _get(w, b, "all", "p99_ms"))
        out.append(
            _row(
                "write request (commit) latency p99, push dispatcher running",
                _get(w, s, "all", "p99_ms"),
                _get(w, b, "all", "p99_ms"),
                ratio=r,
                target="<= 2x",
                met=r is not None and r <= 2,
                unit="ms",
            )
        )
    ret = cases.get("retention")
    if ret:
        base = _get(w, s, "all", "p99_ms") if w else None
        for label in (s, b):
            job = ret[label]["job"]
            if "problem" in job:
                out.append(_row(f"retention on {label}", None, None, note=job["problem"]))
        secs = (_get(ret, s, "job", "seconds"), _get(ret, b, "job", "seconds"))
        stopped = _get(ret, b, "job", "stopped_after_s")
        out.append(
            _row(
                "retention of the oldest day: seconds",
                secs[0],
                secs[1],
                ratio=_ratio(*secs),
                target="< 300 s",
                met=secs[1] is not None and secs[1] < 300 and not stopped,
                unit="s",
                note=f"events {_get(ret, s, 'job', 'events_due')} / "
                f"{_get(ret, b, 'job', 'events_due')}, deliveries "
                f"{_get(ret, s, 'job', 'deliveries_due')} / "
                f"{_get(ret, b, 'job', 'deliveries_due')}",
            )
        )
        during = (_get(ret, s, "writes", "all", "p99_ms"), _get(ret, b, "writes", "all", "p99_ms"))
        r = _ratio(base, during[1])
        out.append(
            _row(
                "write latency p99 while retention runs (ratio: against the 10k write p99)",
                during[0],
                during[1],
                ratio=r,
                target="<= 2x",
                met=r is not None and r <= 2,
                unit="ms",
            )
        )
        key = "longest_wait_on_retention_ms"
        waits = (_get(ret, s, "locks", key), _get(ret, b, "locks", key))
        out.append(
            _row(
                "longest wait behind a lock of the retention job (10 ms sampling)",
                waits[0],
                waits[1],
                target="<= 100 ms",
                met=waits[1] is not None and waits[1] <= 100,
                unit="ms",
                note=str(_get(ret, b, "locks", "on_retention_query") or ""),
            )
        )
        key = "longest_wait_any_ms"
        out.append(
            _row(
                "  info: longest lock wait of any kind meanwhile",
                _get(ret, s, "locks", key),
                _get(ret, b, "locks", key),
                unit="ms",
                note=str(_get(ret, b, "locks", "any_query") or ""),
            )
        )
    workers = results.get("workers")
    if workers:
        rss = [max((w.get("rss_mb") or 0) for w in workers[x].values()) for x in (s, b)]
        entries = [
            max(w["versions"].get("entries", 0) for w in workers[x].values()) for x in (s, b)
        ]
        out.append(
            _row(
                "largest web worker RSS at the end",
                rss[0],
                rss[1],
                ratio=_ratio(*rss),
                target=f"<= {RSS_BUDGET_MB} MB",
                met=rss[1] <= RSS_BUDGET_MB,
                unit="MB",
                note=f"version cache entries {entries[0]} / {entries[1]}; tokens "
                f"{_tokens(workers[s])} / {_tokens(workers[b])}",
            )
        )
    return out


def _tokens(workers: dict) -> int:
    return max((w.get("tokens") or {}).get("entries", 0) for w in workers.values())


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.4f}" if v < 1 else f"{v:,.1f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def table(rs: list[dict], labels=("small", "large")) -> str:
    small, large = labels
    header = ("case", small, large, f"{large}/{small}", "target", "met?", "note")
    lines = [" | ".join(header)]
    for r in rs:
        met = "" if r["met"] is None else ("yes" if r["met"] else "NO")
        ratio = f"{r['ratio']}x" if r["ratio"] is not None else ""
        lines.append(
            " | ".join(
                [
                    r["case"],
                    f"{_fmt(r['small'])} {r['unit']}".strip(),
                    f"{_fmt(r['large'])} {r['unit']}".strip(),
                    ratio,
                    r["target"] or "",
                    met,
                    r["note"],
                ]
            )
        )
    return "\n".join(lines)


def markdown(results: dict, rs: list[dict]) -> str:
    meta = results["meta"]
    labels = (f"{meta['small'] // 1000}k", f"{meta['members'] // 1000}k")
    lines = table(rs, labels).splitlines()
    head = f"| {lines[0]} |\n" + "|---" * 7 + "|"
    body = lines[1:]
    seed = results.get("seed", {})
    return (
        "# Scale run (issue 14)\n\n"
        f"`{meta['command']}`, started {meta['started']}, {meta['seconds']} s; "
        f"{meta['members']:,} members beside {meta['small']:,}, working set "
        f"{meta['working_set']:,}; server `granian {meta['server']}`. The machine (2 cores) "
        "was shared with other engineers running tests.\n\n"
        + head
        + "\n"
        + "\n".join(f"| {line} |" for line in body)
        + "\n\nSeed: "
        + "; ".join(f"{k}: {v}" for k, v in seed.items())
        + "\n"
    )
