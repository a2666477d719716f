"""Push notifications: FCM through pyfcm, or a log backend that records what would be sent.

Entry points:
- `init_app(app)`: called at start-up (shield/addons.py); starts the wake-able dispatcher
  thread when SHIELD_PUSH_WORKER=on, or =auto (default) with SHIELD_SCHEDULER=inprocess.
- `start_worker(app)`: start it explicitly (the jobs process does); idempotent per app.
- `jobs.push.dispatch_push(now=None)`: one pass, for the scheduler's safety-net job.
- `sender_for(app)` / `settings_for(app)` / `use_sender(app, sender)` / `shutdown(app)`.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading

from flask import Flask

from .settings import PushSettings

log = logging.getLogger(__name__)

SENDER_KEY = "shield.push.sender"
SETTINGS_KEY = "shield.push.settings"
WORKER_KEY = "shield.push.worker"
_lock = threading.RLock()
_started_apps: list[Flask] = []


def settings_for(app: Flask) -> PushSettings:
    settings = app.extensions.get(SETTINGS_KEY)
    if settings is None:
        settings = app.extensions[SETTINGS_KEY] = PushSettings.from_config(app.config)
    return settings


def _make_sender(settings: PushSettings):
    if settings.service_account:
        from .fcm import FcmSender

        return FcmSender(
            settings.service_account,
            endpoint=settings.endpoint,
            concurrency=settings.concurrency,
            timeout=settings.timeout_seconds,
        )
    from .recorder import LogSender

    return LogSender()


def sender_for(app: Flask):
    """The app's sender: FCM when SHIELD_FCM_SERVICE_ACCOUNT is set, else the log backend."""
    sender = app.extensions.get(SENDER_KEY)
    if sender is None:
        with _lock:
            sender = app.extensions.get(SENDER_KEY)
            if sender is None:
                sender = app.extensions[SENDER_KEY] = _make_sender(settings_for(app))
    return sender


def use_sender(app: Flask, sender) -> None:
    """Replace the app's sender (tests, tools)."""
    app.extensions[SENDER_KEY] = sender


def start_worker(app: Flask, **options):
    """Start the dispatcher thread for `app` (once) and return it."""
    from .worker import PushWorker

    with _lock:
        worker = app.extensions.get(WORKER_KEY)
        if worker is not None and worker.alive:
            return worker
        worker = PushWorker(app, sender_for(app), settings_for(app), **options)
        app.extensions[WORKER_KEY] = worker
        if not _started_apps:
            atexit.register(_stop_all)
            os.register_at_fork(after_in_child=_after_fork)
        if app not in _started_apps:
            _started_apps.append(app)
    return worker.start()


def init_app(app: Flask) -> None:
    """Start the dispatcher thread if the configuration asks for it."""
    mode = settings_for(app).worker
    if mode == "on" or (mode == "auto" and app.config.get("SHIELD_SCHEDULER") == "inprocess"):
        start_worker(app)


def shutdown(app: Flask, timeout: float = 10.0) -> None:
    """Stop the app's dispatcher thread and close its sender."""
    worker = app.extensions.pop(WORKER_KEY, None)
    if worker is not None:
        worker.stop(timeout)
    sender = app.extensions.pop(SENDER_KEY, None)
    if sender is not None:
        sender.close()
    if app in _started_apps:
        _started_apps.remove(app)


def _stop_all() -> None:
    for app in list(_started_apps):
        try:
            shutdown(app, timeout=5.0)
        except Exception:
            log.exception("push shutdown failed")


def _after_fork() -> None:
    # Threads do not survive fork (gunicorn --preload): start afresh in the child.
    global _lock
    _lock = threading.RLock()  # it may have been held by a thread that is gone now
    for app in list(_started_apps):
        app.extensions.pop(WORKER_KEY, None)
        app.extensions.pop(SENDER_KEY, None)
        start_worker(app)
