"""A dispatcher process for the multi-process tests: `python -m tests.push.runner ...`.

Runs `jobs.push.run_forever` on the given database, sending through the given FCM
stand-in, until SIGTERM; then prints `processed <n>` (deliveries it handled). With
`--wait` it prints `ready` and starts only when a line arrives on stdin, so several
runners can be started at the same moment.
"""

from __future__ import annotations

import argparse
import sys

from app import create_app
from jobs.push import run_forever


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_uri")
    parser.add_argument("service_account")
    parser.add_argument("endpoint")
    parser.add_argument("--lease", type=float, default=None, help="default: the settings'")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--wait", action="store_true", help="start on a line on stdin")
    args = parser.parse_args(argv)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": args.database_uri,
            "SHIELD_JWT_SECRET": "runner-secret-0123456789abcdef0123456789",
            "SHIELD_SCHEDULER": "off",
            "SHIELD_WS_ENABLED": False,
            "SHIELD_SOCKETIO_ENABLED": False,
            "SHIELD_PUSH_WORKER": "off",
            "SHIELD_FCM_SERVICE_ACCOUNT": args.service_account,
            "SHIELD_FCM_ENDPOINT": args.endpoint,
            **({"SHIELD_PUSH_LEASE_SECONDS": args.lease} if args.lease else {}),
            "SHIELD_PUSH_BATCH": args.batch,
            "SHIELD_PUSH_CONCURRENCY": args.concurrency,
            "SHIELD_PUSH_POLL_SECONDS": 0.2,
        }
    )
    print("ready", flush=True)
    if args.wait:
        sys.stdin.readline()
    processed = run_forever(app)
    print(f"processed {processed}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
