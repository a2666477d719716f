"""`python -m jobs`: the scheduler as its own process (production).

    python -m jobs                 run every job on its interval until SIGTERM/SIGINT
    python -m jobs --once          run every job one time, then exit (1 if any failed)
    python -m jobs --list          show the job ids, intervals and functions
    python -m jobs --job ID ...    limit any of the above to some jobs (repeatable)

Configuration comes from the environment, as for the web app (DATABASE_URL, ...).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress

from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from models import db

from . import Job, select_jobs
from .scheduler import build_scheduler, run_job

log = logging.getLogger("jobs")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m jobs", description="Run Shield's scheduled jobs."
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="run each job one time and exit")
    mode.add_argument("--list", action="store_true", help="list the jobs and exit")
    parser.add_argument(
        "--job",
        action="append",
        metavar="ID",
        help="only this job (repeatable; see --list for ids)",
    )
    args = parser.parse_args(argv)
    try:
        args.jobs = select_jobs(args.job)
    except KeyError as exc:
        parser.error(f"unknown job id: {exc.args[0]}")
    return args


def list_jobs(jobs: list[Job]) -> None:
    for job in jobs:
        try:
            job.resolve()
            state = "ok"
        except (ImportError, AttributeError):
            state = "MISSING"
        print(f"{job.id:36} every {job.seconds:>5} s  {job.func:55} {state}")


def run_once(app: Flask, jobs: list[Job]) -> int:
    """Run each job one time in order; return the process exit status."""
    failed = []
    for job in jobs:
        handled = run_job(app, job)
        print(f"{job.id}: {'FAILED' if handled is None else handled}")
        if handled is None:
            failed.append(job.id)
    if failed:
        log.error("jobs failed: %s", ", ".join(failed))
        return 1
    return 0


PUSH_JOB = "push.dispatch"


def start_push_worker(app: Flask) -> Callable[[], None] | None:
    """Start the wake-on-commit push loop beside the scheduler; return its stopper."""
    try:
        from shield.push import settings_for, shutdown, start_worker

        from .push import HelperProcesses
    except ImportError as exc:
        log.error("push worker not available: %s", exc)
        return None
    settings = settings_for(app)
    if settings.worker == "off":  # SHIELD_PUSH_WORKER=off: the 5 s job only
        return None
    start_worker(app)
    helpers = HelperProcesses(settings.processes - 1).start()  # SHIELD_PUSH_PROCESSES

    def stop() -> None:
        helpers.stop()
        shutdown(app)

    return stop


def run_forever(app: Flask, jobs: list[Job]) -> int:
    """Run the blocking scheduler until SIGTERM or SIGINT, then let running jobs finish."""
    scheduler = build_scheduler(app, jobs, BlockingScheduler)
    stop_push = start_push_worker(app) if any(j.id == PUSH_JOB for j in jobs) else None
    from . import http  # imports prometheus_client: after main() chose its directory

    stop_http = http.start(app, scheduler, jobs)  # SHIELD_JOBS_HTTP_PORT
    stopper: list[threading.Thread] = []

    def stop() -> None:
        deadline = time.monotonic() + 10
        while not scheduler.running and time.monotonic() < deadline:
            time.sleep(0.05)  # the signal came before start(): stop it once it has started
        with suppress(SchedulerNotRunningError):
            scheduler.shutdown()

    def handle(signum, frame) -> None:
        if stopper:
            return
        log.info(
            "%s received: letting running jobs finish, then exiting", signal.Signals(signum).name
        )
        # A second signal ends the process at once.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        # shutdown() takes the scheduler's locks: never from inside a signal handler,
        # which may have interrupted the very thread that holds them.
        thread = threading.Thread(target=stop, name="jobs-shutdown")
        stopper.append(thread)
        thread.start()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    log.info("scheduler started with %d jobs: %s", len(jobs), ", ".join(j.id for j in jobs))
    scheduler.start()  # blocks until shutdown
    for thread in stopper:
        thread.join()
    if stop_push is not None:
        stop_push()
    if stop_http is not None:
        stop_http()
    log.info("scheduler stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        list_jobs(args.jobs)
        return 0
    # Before anything imports prometheus_client: this process's metrics directory, shared
    # with the push helper processes it starts (shield/ops/multiproc.py).
    from shield.ops import multiproc

    multiproc.prepare(own=True)
    from app import create_app
    from shield.config import ConfigError

    # This process is the scheduler: never start a second one inside create_app().
    try:
        app = create_app(SHIELD_SCHEDULER="off")
    except ConfigError as exc:
        print(f"python -m jobs: cannot start: {exc}", file=sys.stderr)
        return 2
    try:
        return run_once(app, args.jobs) if args.once else run_forever(app, args.jobs)
    finally:
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
