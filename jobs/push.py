"""Push dispatch jobs.

- `dispatch_push(now=None)`: one dispatcher pass (plan pending events, send what is due,
  retries and re-push rounds included). The scheduler runs it every 30 s inside an app
  context as a safety net; it is safe alongside the wake-able loop and in many processes.
- `run_forever(app)`: the low-latency loop on its own (blocks until SIGTERM/SIGINT);
  `python -m jobs` may instead call `shield.push.start_worker(app)` next to its scheduler.
"""

from __future__ import annotations

import signal
import threading
from datetime import datetime

from flask import Flask, current_app

from models import db
from shield.push import sender_for, settings_for, shutdown, start_worker
from shield.push.dispatcher import run_pass


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
