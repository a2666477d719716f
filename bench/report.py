"""One table of figures (each beside its reference), the JSON rows and RESULTS.md."""

from __future__ import annotations

TITLES = {
    "hello": "hello-world JSON (reference)",
    "claims_304": "304 claims poll (auth)",
    "naive_304": "naive hash-the-body 304 (ORM load + serialise + hash)",
    "naive_stored_304": "info: naive hash-the-body 304 over the stored renderings",
    "db_ping": "info: hello-world + one PostgreSQL read (floor of a 200)",
    "claims_200": "200 claims list (50 claims), body built every request",
    "wallet_304": "304 wallet poll (auth)",
    "subscription_304": "304 subscription poll (auth)",
}
NOCACHE_TITLES = {
    "claims_304": "304 claims poll (auth), versions read from the DB",
    "claims_200": "200 claims list (50 claims), built, versions from the DB",
}
BODYCACHE_TITLES = {
    "claims_200": "info: 200 claims list, same version from the body cache",
}
# (case, reference case, target ratio or None); "hello" = the hello-world run just before it
COMPARISONS = [
    ("claims_304", "hello", 0.70),
    ("claims_304", "naive_304", 5.0),
    ("naive_304", "hello", None),
    ("claims_304", "naive_stored_304", None),
    ("naive_stored_304", "hello", None),
    ("claims_200", "hello", 0.25),
    ("db_ping", "hello", None),
    ("wallet_304", "hello", None),
    ("subscription_304", "hello", None),
]


def _row(case, server, rps=None, reference=None, ratio=None, target=None, note=None):
    numeric = isinstance(target, int | float) and isinstance(ratio, int | float)
    met = ratio >= target if numeric else None  # extra rows bring their own `met`
    return {
        "case": case,
        "server": server,
        "rps": rps,
        "reference": reference,
        "ratio": ratio,
        "target": target,
        "met": met,
        "note": note,
    }


def _figure(cases: dict, key: str):
    entry = cases.get(key) or {"unavailable": "not measured"}
    if "rps" in entry:
        return entry["rps"], None
    return None, entry.get("unavailable") or entry.get("invalid")


def rows(results: dict) -> list[dict]:
    out = []
    for label, srv in results["servers"].items():
        cases = srv["cases"]
        hello = srv.get("reference_rps")
        nocache = label.endswith("-nocache")
        bodycache = bool(srv.get("body_cache"))
        informational = nocache or bodycache  # "before" and extra figures: no target
        titles = NOCACHE_TITLES if nocache else BODYCACHE_TITLES if bodycache else {}
        out.append(_row(TITLES["hello"], label, hello))
        for key, ref, target in COMPARISONS:
            if key not in cases or (ref != "hello" and ref not in cases):
                continue
            title = titles.get(key) or TITLES[key]
            rps, problem = _figure(cases, key)
            if ref == "hello":
                ref_rps = (cases.get(key) or {}).get("hello_rps") or hello
            else:
                ref_rps = _figure(cases, ref)[0]
                # Case vs case: each as a share of the hello-world run beside it, so a burst
                # of other load during one of them does not move the ratio.
                ref_hello = (cases.get(ref) or {}).get("hello_rps")
                case_hello = (cases.get(key) or {}).get("hello_rps")
                if ref_rps and ref_hello and case_hello:
                    ref_rps = ref_rps * case_hello / ref_hello
            if rps is None:
                out.append(
                    _row(
                        title,
                        label,
                        note=problem,
                        target=target,
                        reference=TITLES[ref] if ref != "hello" else "hello",
                    )
                )
                continue
            ratio = round(rps / ref_rps, 2) if ref_rps else None
            out.append(
                _row(
                    title,
                    label,
                    rps,
                    "hello" if ref == "hello" else TITLES[ref],
                    ratio,
                    None if informational else target,
                )
            )
    for item in results.get("extra", []):
        out.append(
            _row(
                item["case"],
                item.get("server", "-"),
                item.get("value"),
                item.get("reference"),
                item.get("ratio"),
                item.get("target"),
                item.get("note"),
            )
        )
        if item.get("met") is not None:
            out[-1]["met"] = item["met"]
    return out


def _fmt_rps(v) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if isinstance(v, int | float) else str(v)


def _cells(r: dict) -> list[str]:
    target = (
        "-"
        if r["target"] is None
        else (f">= {r['target']:g}x" if isinstance(r["target"], int | float) else str(r["target"]))
    )
    met = "-" if r["met"] is None else ("yes" if r["met"] else "NO")
    if r["rps"] is None and r["note"]:
        return [r["case"], r["server"], r["note"], "", "", target, met]
    ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
    return [r["case"], r["server"], _fmt_rps(r["rps"]), r["reference"] or "-", ratio, target, met]


HEAD = ["case", "server", "req/s (or figure)", "vs", "ratio", "target", "met?"]


def table(rows_: list[dict]) -> str:
    data = [HEAD] + [_cells(r) for r in rows_]
    widths = [max(len(row[i]) for row in data if len(row) > i) for i in range(len(HEAD))]
    lines = []
    for n, row in enumerate(data):
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cpu_lines(results: dict) -> str:
    """Where each case's CPU goes, beside its hello-world (bench/cpu.py)."""
    head = ["server", "case", "req/s", "server us/req (kernel)", "PostgreSQL us/req", "wrk us/req"]
    data = [head]
    for label, srv in results["servers"].items():
        for key, case in srv["cases"].items():
            for name, rps, use in (
                ("hello-world beside it", case.get("hello_rps"), case.get("hello_cpu")),
                (key, case.get("rps"), case.get("cpu")),
            ):
                if not use:
                    continue
                data.append(
                    [
                        label,
                        name,
                        _fmt_rps(rps),
                        f"{use['server_us']:,.0f} ({use['server_system_us']:,.0f})",
                        f"{use['postgres_us']:,.0f}",
                        f"{use['wrk_us']:,.0f}",
                    ]
                )
    if len(data) == 1:
        return ""
    widths = [max(len(row[i]) for row in data) for i in range(len(head))]
    lines = ["CPU per request by process (user + kernel; all PostgreSQL processes; wrk itself):"]
    for n, row in enumerate(data):
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def staleness_line(results: dict) -> str:
    for label, srv in results["servers"].items():
        s = srv.get("staleness")
        if s:
            return (
                f"\n304 lag behind a commit in another process, under the claims-304 load on "
                f"{label}: p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms, max {s['max_ms']} ms "
                f"over {s['trials']} commits; bound {s['bound_s']} s; 304s served past the "
                f"bound: {s['violations']} of {s['polls']} polls"
            )
    return ""


def markdown(results: dict) -> str:
    meta = results["meta"]
    lines = [
        "# Benchmark results (one full run of `make bench`)",
        "",
        f"Run {meta['started']} at commit {meta['git']}, {meta['cpus']} CPUs, Python "
        f"{meta['python']}, {meta['mode']} mode, {meta['duration_s']:g} s per case, wrk "
        f"{meta['wrk']} on the same machine, {meta['seconds']} s in all. Ratios are from this "
        "one run; each figure was measured beside its reference on the same server.",
        "",
        "```",
        table(results["rows"]),
        "```",
        staleness_line(results).strip(),
        "",
        "```",
        capacity_lines(results),
        "```",
        "",
        "```",
        cpu_lines(results),
        "```",
        "",
        *_extra_details(results),
        "Seeded: " + ", ".join(f"{k} {v}" for k, v in results.get("seed", {}).items()),
        "",
        "Server settings:",
        "",
    ]
    for name, cmd in meta["server_settings"].items():
        lines.append(f"- {name}: `{cmd}`")
    for label, srv in results["servers"].items():
        profiles = srv.get("profiles")
        if not profiles:
            continue
        lines += ["", f"## Where the time goes ({label}, py-spy, one worker)", ""]
        lines.append(
            "Samples taken while the worker held the GIL (`py-spy --gil`), so the "
            "shares are of the worker's Python CPU time."
        )
        lines.append("")
        for case, prof in profiles.items():
            lines.append(f"**{case}** ({prof['samples']} samples)")
            lines.append("")
            lines.append(
                "- by library of the running frame: "
                + ", ".join(
                    f"{name} {share:.0%}" for name, share in prof["groups"] if share >= 0.01
                )
            )
            lines.append(
                "- app steps (inclusive): "
                + ", ".join(f"{name} {share:.0%}" for name, share in prof["inclusive"])
            )
            lines.append("")
    return "\n".join(lines) + "\n"


def _extra_details(results: dict) -> list[str]:
    """One line per push / socket row: how it was measured."""
    lines = []
    for item in results.get("extra", []):
        d = item.get("detail") or {}
        if "setting" in d:
            rps = ", ".join(f"{r['rps']}/s" for r in d.get("rounds", []))
            lines.append(f"- {item['case']}: {d['setting']}; rounds {rps}")
        elif "per_socket_kb" in d:
            base = f", idle baseline {d['baseline_kb']:,} KB" if "baseline_kb" in d else ""
            lines.append(f"- {item['case']}: KB per socket by count {d['per_socket_kb']}{base}")
    return (["Push and socket cases:", "", *lines, ""]) if lines else []


# Poll intervals of the app (architecture.md): claims 30 s, wallet 60 s, subscription on mount
# with a 5-minute stale time (at most one per 300 s while foregrounded).
INTERVALS = {"claims_304": 30.0, "wallet_304": 60.0, "subscription_304": 300.0}
CHANGED = 0.02  # share of polls that find a change and get a freshly built 200


def capacity(results: dict) -> list[dict]:
    """Foregrounded members one machine keeps polling, from this run's figures:

    per member  r = 1/30 + 1/60 + 1/300 = 0.0533 req/s
    machine     R = 1 / sum(w_i / rps_i)   (w_i = each request kind's share of the mix;
                                            a share CHANGED of them are built 200s)
    members     N = R / r                  (at saturation; halve it for 50% headroom)
    """
    per_member = sum(1 / s for s in INTERVALS.values())
    out = []
    for label, srv in results["servers"].items():
        if srv.get("cache") == "off" or srv.get("body_cache"):
            continue
        # A poll that finds a change gets a 200 built on this server (body cache off).
        built = (srv["cases"].get("claims_200") or {}).get("rps")
        rates = {k: (srv["cases"].get(k) or {}).get("rps") for k in INTERVALS}
        if not all(rates.values()):
            continue
        weights = {k: (1 / INTERVALS[k]) / per_member for k in INTERVALS}
        for changed in (0.0, CHANGED):
            if changed and not built:
                continue
            cost = sum((1 - changed) * weights[k] / rates[k] for k in INTERVALS)
            if changed:
                cost += changed / built
            machine = 1 / cost
            out.append(
                {
                    "server": label,
                    "changed_share": changed,
                    "mix_rps": round(machine),
                    "per_member_rps": round(per_member, 4),
                    "members": int(machine / per_member),
                }
            )
    return out


def capacity_lines(results: dict) -> str:
    lines = [
        "Capacity (foregrounded members per 2-core machine, saturation; halve for 50% "
        "headroom): N = R / (1/30 + 1/60 + 1/300), R = 1 / sum(share_i / rps_i)"
    ]
    for c in capacity(results):
        lines.append(
            f"  {c['server']}: R = {c['mix_rps']:,} req/s with {c['changed_share']:.0%} "
            f"of polls finding a change -> N = {c['members']:,} members"
        )
    return "\n".join(lines)
