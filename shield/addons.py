"""Optional pieces wired at start-up, each owned by its package:
push wake-up (shield.push), the in-process scheduler (jobs), the socket addon (shield.realtime)."""

from __future__ import annotations

import importlib
import logging

from flask import Flask

log = logging.getLogger(__name__)


def _call(module: str, function: str, app: Flask) -> None:
    try:
        target = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError):
        log.warning("addon %s.%s is not available", module, function)
        return
    target(app)


def init_addons(app: Flask) -> None:
    """Start what the configuration asks for (tests turn all of it off)."""
    if app.config.get("SHIELD_WS_ENABLED") or app.config.get("SHIELD_SOCKETIO_ENABLED"):
        _call("shield.realtime", "init_app", app)
    if app.config.get("SHIELD_SCHEDULER") == "inprocess":
        _call("jobs.scheduler", "start_in_process", app)
    # Decides itself (SHIELD_PUSH_WORKER=auto|on|off): the wake-on-commit push dispatcher.
    _call("shield.push", "init_app", app)
