"""Push dispatch jobs.

- `dispatch_push(now=None)`: one dispatcher pass (plan pending events, send what is due,
  retries and re-push rounds included). The scheduler runs it every 30 s inside an app
  context as a safety net; it is safe alongside the wake-able loop and in many processes.
- `run_forever(app)`: the low-latency loop on its own (blocks until SIGTERM/SIGINT);
  `python -m jobs` may instead call `shield.push.start_worker(app)` next to its scheduler.
- `HelperProcesses(count)`: with SHIELD_PUSH_PROCESSES=N, `python -m jobs` runs N-1 more
  dispatcher loops as `python -m jobs.push` processes (one CPython process sends about one
  core's worth of pushes); they claim work in the database, are restarted if they die, and
  stop when `python -m jobs` is gone.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime

from flask import Flask, current_app

from models import db
from shield.push import sender_for, settings_for, shutdown, start_worker
from shield.push.dispatcher import run_pass

log = logging.getLogger("jobs")
PARENT_ENV = "SHIELD_PUSH_PARENT_PID"  # set for helpers: the `python -m jobs` that runs them


def dispatch_push(now: datetime | None = None) -> int:
    """Run one dispatcher pass in the current app context; return deliveries handled."""
    app = current_app._get_current_object()
    return run_pass(db.session, sender_for(app), settings_for(app), now=now).processed


def run_forever(app: Flask, stop: threading.Event | None = None) -> int:
    """Run the wake-able dispatcher until `stop` is set or the process gets SIGTERM/SIGINT.

    Returns the number of deliveries it handled.
    """
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    worker = start_worker(app)
    try:
        stop.wait()
    finally:
        worker.stop()
        shutdown(app)
    return worker.processed


class HelperProcesses:
    """The N-1 extra dispatcher processes of SHIELD_PUSH_PROCESSES=N (`python -m jobs.push`).

    One that exits while we run is started again (after `restart_delay`); each helper stops
    by itself when this process is gone, even after a SIGKILL (it watches its parent).
    Work is claimed in the database under leases, so a helper's death loses nothing.
    """

    def __init__(self, count: int, restart_delay: float = 2.0) -> None:
        self.count = count
        self.restart_delay = restart_delay
        self.procs: list[subprocess.Popen] = []
        self.restarts = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    def _spawn(self) -> subprocess.Popen:
        env = {
            **os.environ,
            "SHIELD_PUSH_PROCESSES": "1",  # helpers start no helpers
            PARENT_ENV: str(os.getpid()),
        }
        return subprocess.Popen([sys.executable, "-m", "jobs.push"], env=env)  # noqa: S603

    def start(self) -> HelperProcesses:
        if self.count < 1:
            return self
        self.procs = [self._spawn() for _ in range(self.count)]
        log.info("push: %d more dispatcher processes %s", self.count, self.pids())
        self._watcher = threading.Thread(target=self._watch, name="push-helpers", daemon=True)
        self._watcher.start()
        return self

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            with self._lock:
                for i, proc in enumerate(self.procs):
                    if proc.poll() is None or self._stopping.is_set():
                        continue
                    log.warning(
                        "push dispatcher process %d exited %s; starting another",
                        proc.pid,
                        proc.returncode,
                    )
                    if self._stopping.wait(self.restart_delay):
                        return
                    self.procs[i] = self._spawn()
                    self.restarts += 1
                    log.info("push dispatcher process %d started", self.procs[i].pid)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the helpers (each finishes the batch in hand) and wait for them."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join()
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("push dispatcher process %d did not stop; killing it", proc.pid)
                proc.kill()
                proc.wait()
            if proc.returncode:
                log.warning("push dispatcher process %d exited %s", proc.pid, proc.returncode)


def _watch_parent(parent: int, stop: threading.Event, every: float = 1.0) -> None:
    """Set `stop` once the process that started us is gone (we were re-parented)."""
    while not stop.wait(every):
        if os.getppid() != parent:
            log.warning(
                "push dispatcher process %d: parent %d is gone, stopping", os.getpid(), parent
            )
            stop.set()


def main() -> int:
    """`python -m jobs.push`: one dispatcher loop (a helper of `python -m jobs`)."""
    # Before anything slow: a SIGTERM during start-up (the parent stopping while we load)
    # must end in a clean stop, not the default handler's death by signal.
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    from app import create_app

    app = create_app(SHIELD_SCHEDULER="off", SHIELD_PUSH_PROCESSES=1)
    parent = os.environ.get(PARENT_ENV)
    if parent:
        threading.Thread(
            target=_watch_parent, args=(int(parent), stop), name="parent-watch", daemon=True
        ).start()
    try:
        handled = run_forever(app, stop)
    finally:
        with app.app_context():
            db.engine.dispose()
    log.info("push dispatcher process %d stopped after %d deliveries", os.getpid(), handled)
    return 0


if __name__ == "__main__":
    sys.exit(main())
