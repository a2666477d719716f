"""The Socket.IO rows of issue 12: idle Socket.IO clients' memory against the plain
socket's, and commit -> event latency, on the same server (`bench/sockets.py`).

One server layout for both sides (gunicorn gevent, 2 workers, SHIELD_WS_ENABLED=1 and
SHIELD_SOCKETIO_ENABLED=1, compression off), a fresh server for each side: the plain side
holds `bench.ws_clients` WebSockets on `/shield/ws`, the Socket.IO side `bench.sio_clients`
Engine.IO 4 / Socket.IO 5 clients on `/socket.io/`, namespace `/shield/ws`. Per socket =
(worker RSS - warm baseline) / sockets, at each level. Latency: 1,000 idle Socket.IO clients
held, 20 more read `claim_under_review` events committed by this process (the server learns
of them by PostgreSQL NOTIFY), clock from before `commit()` to the event read here; the
plain side is timed the same way, so a loaded machine shows on both.
"""

from __future__ import annotations

ROWS = [
    ("Socket.IO: commit -> event latency p99 (gevent, 1,000 idle Socket.IO clients)", "<= 50 ms"),
    (
        "Socket.IO: idle clients, server RSS per connection (ratio = Socket.IO / plain socket)",
        "<= 1.25x at >= 10,000",
    ),
    ("plain socket addon, same server layout, levels and latency trials (reference)", None),
]


def socketio_case(plan, log) -> list[dict]:
    from . import latency
    from .run import mint_tokens
    from .socket_case import _idle_levels
    from .sockets import SocketBench

    x = plan.extra
    members = x["members"]
    tokens = mint_tokens(members)
    env = {
        **x["env"],
        "SHIELD_WS_ENABLED": "1",
        "SHIELD_SOCKETIO_ENABLED": "1",
        # A client process answers pings only once all its sockets are open; on a busy
        # machine that takes over a minute, and the default 60 s would drop the first ones.
        "SHIELD_WS_IDLE_TIMEOUT": "300",
    }
    levels = [1000] if plan.quick else [1000, 10_000]
    trials = 40 if plan.quick else 200

    def bench(clients: str) -> SocketBench:
        return SocketBench(x["db_url"], x["secret"], env, tokens, x["work"], log, clients=clients)

    measured: dict = {}

    def measure_latency(label: str):
        def measure(sb) -> None:
            measured[label] = sb.latency(members[:20], trials)
            log(f"{label} latency: {measured[label]}")

        return measure

    plain = _idle_levels(
        bench("bench.ws_clients"), levels, plan, log, "plain", measure_latency("plain")
    )
    sio = _idle_levels(
        bench("bench.sio_clients"), levels, plan, log, "socket.io", measure_latency("socket.io")
    )
    lat, plain_lat = measured["socket.io"], measured["plain"]
    top = max(sio)
    ratio = round(sio[top] / plain[max(plain)], 2)
    note = "quick: 1,000 only" if plan.quick else None
    return [
        {
            "case": ROWS[0][0],
            "server": "gunicorn gevent",
            "value": latency.describe(lat) if "p50_ms" in lat else None,
            "target": ROWS[0][1],
            "met": None if lat["problem"] else lat["p99_ms"] <= 50,
            "note": lat["problem"],
            "detail": lat,
        },
        {
            "case": ROWS[1][0],
            "server": "gunicorn gevent",
            "value": "; ".join(f"{kb:.1f} KB at {n:,}" for n, kb in sio.items()),
            "reference": "plain socket, same levels",
            "ratio": ratio,
            "target": ROWS[1][1],
            "met": None if plan.quick else top >= 10_000 and ratio <= 1.25,
            "note": note,
            "detail": {"per_socket_kb": sio},
        },
        {
            "case": ROWS[2][0],
            "server": "gunicorn gevent",
            "value": "; ".join(f"{kb:.1f} KB at {n:,}" for n, kb in plain.items())
            + (f"; latency {latency.describe(plain_lat)}" if "p50_ms" in plain_lat else ""),
            "target": None,
            "met": None,
            "detail": {"per_socket_kb": plain, "latency": plain_lat},
        },
    ]
