"""The jobs process's own /healthz, /readyz and /metrics (SHIELD_JOBS_HTTP_PORT, off unset).

SHIELD_JOBS_HTTP_PORT is a port (listening on every address, for a container's probes) or
HOST:PORT. Readiness is the web app's (database, schema, Redis when set) plus `scheduler`:
the scheduler runs and started a job run within the last `stale_after(jobs)` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from apscheduler.schedulers.base import BaseScheduler
from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from shield.config import ConfigError
from shield.ops.http import wsgi_app

from . import Job
from . import scheduler as scheduling

log = logging.getLogger("jobs")


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code="-", size="-") -> None:  # probes every few seconds: no lines
        pass


def address(raw: str) -> tuple[str, int]:
    host, _, port = str(raw).strip().rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"SHIELD_JOBS_HTTP_PORT={raw!r}: give a port (8081) or HOST:PORT")
    return host or "0.0.0.0", int(port)  # noqa: S104 (probes come from outside the container)


def stale_after(jobs: list[Job]) -> float:
    """No run started for three of the shortest intervals (at least 30 s): not dispatching."""
    return max(30.0, 3.0 * min(job.seconds for job in jobs))


def scheduler_check(scheduler: BaseScheduler, jobs: list[Job], since: float) -> Callable:
    limit = stale_after(jobs)

    def check(app: Flask) -> str | None:
        if not scheduler.running:
            return "the scheduler is not running"
        last = scheduling.last_dispatch[0] if scheduling.last_dispatch else None
        idle = time.monotonic() - (last if last is not None else since)
        if idle > limit:
            what = "the last job run started" if last is not None else "no job run started in"
            return f"{what} {idle:.0f} s ago (more than {limit:.0f} s)"
        return None

    return check


def start(app: Flask, scheduler: BaseScheduler, jobs: list[Job]) -> Callable[[], None] | None:
    """Serve the three answers in a thread; return the stopper (None when the port is unset)."""
    raw = app.config.get("SHIELD_JOBS_HTTP_PORT")
    if not raw:
        return None
    host, port = address(raw)
    checks = {"scheduler": scheduler_check(scheduler, jobs, time.monotonic())}
    server = make_server(
        host, port, wsgi_app(app, lambda: checks), threaded=True, request_handler=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="jobs-http", daemon=True)
    thread.start()
    log.info("jobs health and metrics on http://%s:%d (/healthz /readyz /metrics)", host, port)

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return stop
