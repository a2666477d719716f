"""APScheduler 3.x wiring: one runner for every job, in the web process or in its own.

Each job gets an explicit id, `coalesce=True` (missed runs collapse into one),
`max_instances=1` (a run never overlaps itself in one process) and a misfire grace time of
one interval: a run that starts later than that is dropped, because the next one is due
anyway. Overlap across processes is harmless: every job claims its rows in the database.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from models import db

from . import JOBS, Job

log = logging.getLogger("jobs")

# Let the process finish starting before the first round of runs.
FIRST_RUN_DELAY = timedelta(seconds=2)
MIN_MISFIRE_GRACE = 5  # seconds

_unimportable: set[str] = set()
# Monotonic time the scheduler last started a job run in this process (jobs/http.py's
# readiness: "the scheduler is running and dispatching").
last_dispatch: list[float] = []


def misfire_grace(job: Job) -> int:
    """Seconds a run may start late and still run (one interval, at least a few seconds)."""
    return max(job.seconds, MIN_MISFIRE_GRACE)


def run_job(app: Flask, job: Job, now: datetime | None = None) -> int | None:
    """Run one job once in an app context and log the outcome.

    Returns the number of items handled, or None when the job could not be imported or
    raised. Never raises an Exception: a failing job must not take the scheduler down.
    """
    started = time.monotonic()
    last_dispatch[:] = [started]
    handled = _run(app, job, now)
    elapsed = time.monotonic() - started
    from shield.ops import metrics

    metrics.job_finished(job.id, elapsed, ok=handled is not None)
    if handled is None:
        return None
    elapsed_ms = elapsed * 1000
    log.log(
        logging.INFO if handled else logging.DEBUG,
        "job %s handled %s item(s) in %.0f ms",
        job.id,
        handled,
        elapsed_ms,
    )
    return handled


def _run(app: Flask, job: Job, now: datetime | None) -> int | None:
    with app.app_context():
        try:
            fn = job.resolve()
        except (ImportError, AttributeError) as exc:
            # Log once per process, not every few seconds.
            if job.id not in _unimportable:
                _unimportable.add(job.id)
                log.error("job %s: cannot import %s: %s", job.id, job.func, exc)
            return None
        try:
            return fn(now=now)
        except Exception:
            log.exception("job %s failed", job.id)
            try:
                db.session.rollback()
            except Exception:  # the connection itself may be gone
                log.exception("job %s: rollback failed", job.id)
            return None


def build_scheduler(
    app: Flask,
    jobs: list[Job] | None = None,
    scheduler_cls: type[BaseScheduler] = BackgroundScheduler,
    *,
    first_run_delay: timedelta = FIRST_RUN_DELAY,
) -> BaseScheduler:
    """Return an unstarted scheduler with one interval job per entry of `jobs`."""
    jobs = JOBS if jobs is None else jobs
    # APScheduler logs INFO lines for every job added and two per run; run_job already logs
    # each outcome. Warnings (missed runs, skipped overlaps) still show; explicit config wins.
    quiet = logging.getLogger("apscheduler")
    if quiet.level == logging.NOTSET:
        quiet.setLevel(logging.WARNING)
    scheduler = scheduler_cls(
        timezone=UTC,
        # One thread per job: a slow job never delays the others.
        executors={"default": ThreadPoolExecutor(max_workers=max(1, len(jobs)))},
        job_defaults={"coalesce": True, "max_instances": 1},
    )
    first_run = datetime.now(UTC) + first_run_delay
    for job in jobs:
        scheduler.add_job(
            run_job,
            trigger=IntervalTrigger(seconds=job.seconds, timezone=UTC),
            args=(app, job),
            id=job.id,
            name=job.id,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=misfire_grace(job),
            next_run_time=first_run,
            replace_existing=True,
        )
    return scheduler


_lock = threading.Lock()
_in_process: tuple[int, BaseScheduler] | None = None


def start_in_process(app: Flask) -> BaseScheduler:
    """Start the background scheduler in this process, once (SHIELD_SCHEDULER=inprocess)."""
    global _in_process
    with _lock:
        # Keyed by pid: a forked child inherits the variable but not the scheduler's threads.
        if _in_process is not None and _in_process[0] == os.getpid() and _in_process[1].running:
            log.warning("the in-process scheduler is already running; not starting another")
            app.extensions["shield_scheduler"] = _in_process[1]
            return _in_process[1]
        scheduler = build_scheduler(app)
        scheduler.start()
        _in_process = (os.getpid(), scheduler)
    app.extensions["shield_scheduler"] = scheduler
    atexit.register(stop_in_process, wait=False)
    log.info("in-process scheduler started with %d jobs", len(scheduler.get_jobs()))
    return scheduler


def stop_in_process(wait: bool = True) -> None:
    """Stop the in-process scheduler if this process started one."""
    global _in_process
    with _lock:
        current, _in_process = _in_process, None
    if current is not None and current[0] == os.getpid() and current[1].running:
        current[1].shutdown(wait=wait)
