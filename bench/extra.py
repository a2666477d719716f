"""The push and socket rows of issue 5 (bench/push.py, bench/sockets.py) and the Socket.IO
rows of issue 12 (bench/socketio_case.py).

A case is a function `(plan, log) -> list of row dicts` (case, server, value, reference,
ratio, target, met, note); it starts what it needs and measures its reference in the same
run. `plan.extra` carries the run's database URL, secret, work directory, seeded members
and server environment. A case that fails prints its rows with the reason, not a figure.
"""

from __future__ import annotations

import time
import traceback

from . import latency
from .socket_case import SOCKET_ROWS, socket_case
from .socketio_case import ROWS as SOCKETIO_ROWS
from .socketio_case import socketio_case

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
        "value": latency.describe(lat),
        "reference": None,
        "ratio": None,
        "target": target,
        "met": None if lat["problem"] else lat["p50_ms"] <= 250,
        "note": lat["problem"],
        "detail": lat,
    }


def metrics_case(plan, log) -> list[dict]:
    from .metrics_cost import metrics_case as measure

    return measure(plan, log)


CASES: list = [push_case, socket_case, socketio_case, metrics_case]
TITLES = {
    push_case: PUSH_ROWS,
    socket_case: SOCKET_ROWS,
    socketio_case: SOCKETIO_ROWS,
    metrics_case: [("304 claims poll, metrics on vs off", ">= 0.95x")],
}


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
            titles = TITLES[case]
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
