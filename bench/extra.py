"""The push and socket rows of issue 5.

They need the push dispatcher (shield/push, jobs/push.py) and the socket addon
(shield/realtime), which are being built; until a case below is written against their
finished API it reports "not available yet" instead of a figure. To add one: write a
function returning a row dict (case, server, value, reference, ratio, target, met, note)
and list it in CASES.
"""

from __future__ import annotations

NOT_YET = "not available yet"

PENDING = [
    ("push dispatch throughput vs bare pyfcm loop (20 ms stand-in)", ">= 0.7x and >= 1,000/s"),
    ("bare pyfcm send loop, same concurrency (reference)", None),
    ("commit -> FCM request latency p50", "<= 250 ms"),
    ("commit -> socket frame latency p99", "<= 50 ms"),
    ("idle sockets: RSS per connection at 1,000 / 10,000", "<= 40 KB, >= 15,000"),
]

CASES: list = []  # functions (plan, log) -> row dict, added as the pieces land


def run(plan, log) -> list[dict]:
    rows = [case(plan, log) for case in CASES]
    done = {r["case"] for r in rows}
    for case, target in PENDING:
        if case not in done:
            rows.append({"case": case, "server": "-", "value": None, "target": target,
                         "note": NOT_YET})
    return rows
