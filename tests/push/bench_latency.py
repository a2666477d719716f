"""Benchmark: commit of a push-worthy event -> its FCM request arriving (target p50 <= 250 ms).

    python -m tests.push.bench_latency                       # SQLite, dispatcher in-process
    python -m tests.push.bench_latency --database-url postgresql+psycopg://postgres@127.0.0.1/x
    python -m tests.push.bench_latency --database-url ... --cross-process   # LISTEN/NOTIFY

pyfcm sends to the local FCM/OAuth stand-in (tests/fakes/fcm_server.py). Each event is
committed on its own; the clock starts just before `commit()` and stops when the stand-in
receives the request. With --cross-process the dispatcher is another process (the jobs
process shape), woken only by PostgreSQL NOTIFY. The database named by --database-url must
exist; its tables are created if missing and the benchmark's rows are left there.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app import create_app
from models import db
from shield import events
from shield.push import shutdown, start_worker
from tests.fakes.fcm_server import FakeFCM
from tests.push.helpers import device, event_data

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between commits")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--cross-process", action="store_true")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="shield-bench-"))
    uri = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    fcm = FakeFCM().start()
    account = fcm.write_service_account(tmp / "service-account.json")
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": uri,
            "SHIELD_JWT_SECRET": "bench-" + "x" * 32,
            "SHIELD_SCHEDULER": "off",
            "SHIELD_PUSH_WORKER": "off",
            "SHIELD_FCM_SERVICE_ACCOUNT": str(account),
            "SHIELD_FCM_ENDPOINT": fcm.url,
            "SHIELD_PUSH_POLL_SECONDS": 5,
        }
    )
    runner = None
    with app.app_context():
        db.create_all()
        member = f"bench-{int(time.time())}"
        device(member, f"tok-{member}-bench")
        if args.cross_process:
            runner = subprocess.Popen(
                [sys.executable, "-m", "tests.push.runner", uri, str(account), fcm.url],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            runner.stdout.readline()
            time.sleep(1.0)  # LISTEN in place
        else:
            start_worker(app)
        latencies = []
        for _ in range(args.events):
            before = len(fcm.sends())
            events.record(
                db.session, "claim_approved", event_data("claim_approved"), member_id=member
            )
            started = time.time()
            db.session.commit()
            deadline = time.monotonic() + 10
            while len(fcm.sends()) == before and time.monotonic() < deadline:
                time.sleep(0.0005)
            arrived = fcm.sends()[before:]
            if not arrived:
                print("a push did not arrive within 10 s", file=sys.stderr)
                return 1
            latencies.append((arrived[0].at - started) * 1000)
            time.sleep(args.gap)
    if runner is not None:
        runner.terminate()
        runner.communicate(timeout=20)
    shutdown(app)
    fcm.stop()
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    mode = "cross-process (LISTEN/NOTIFY)" if args.cross_process else "in-process (on_commit)"
    print(f"commit -> FCM request, {len(latencies)} events, {mode}, {uri.split(':', 1)[0]}:")
    print(
        f"  p50 {q[49]:.1f} ms   p90 {q[89]:.1f} ms   p99 {q[98]:.1f} ms   "
        f"max {latencies[-1]:.1f} ms   (target p50 <= 250 ms)"
    )
    return 0 if q[49] <= 250 else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
