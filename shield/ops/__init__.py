"""Operations: probes (/healthz, /readyz), Prometheus metrics (/metrics), request ids and
logs. `install(app)` wires them into the app; docs/operations.md is the operator's guide.

Modules: `health` (readiness checks), `metrics` (every metric and the calls that feed it),
`meter` (the cheap HTTP counting), `exposition` (the scrape), `multiproc` (prometheus_client's
multiprocess directory), `logs` (formats, request ids, scrubbing), `http` (the routes).
"""

from __future__ import annotations

import logging
import time

from flask import Flask, g, request

from . import logs

access_log = logging.getLogger("shield.access")
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))


def metrics_enabled(config) -> bool:
    return str(config.get("SHIELD_METRICS", "on")).strip().lower() not in (
        "0",
        "off",
        "false",
        "no",
    )


def install(app: Flask) -> None:
    """Request ids on every answer; counts and access lines; the three routes."""
    from . import http
    from .meter import observe

    count = metrics_enabled(app.config)
    log_access = _access_log_enabled(app.config)

    @app.before_request
    def _begin() -> None:
        g.request_started = time.perf_counter()
        g.request_id = logs.request_id(request.headers.get(logs.REQUEST_ID_HEADER))

    @app.after_request
    def _end(response):
        request_id = g.get("request_id") or logs.new_request_id()
        response.headers[logs.REQUEST_ID_HEADER] = request_id
        started = g.get("request_started")
        if started is None:
            return response
        seconds = time.perf_counter() - started
        rule = request.url_rule
        route = rule.rule if rule is not None else "unmatched"
        method = request.method if request.method in METHODS else "other"
        if count:
            observe(route, method, str(response.status_code), seconds)
        if log_access:
            access_log.log(
                logging.DEBUG if route in http.QUIET_ROUTES else logging.INFO,
                "%s %s %s %.1f ms",
                method,
                route,
                response.status_code,
                seconds * 1000,
                extra={"status": response.status_code, "duration_ms": round(seconds * 1000, 2)},
            )
        return response

    app.register_blueprint(http.bp)


def _access_log_enabled(config) -> bool:
    """SHIELD_ACCESS_LOG: on / off; by default on with JSON logs (text logs are for a
    developer's terminal, where the server prints its own access lines)."""
    raw = config.get("SHIELD_ACCESS_LOG")
    if raw is None or str(raw).strip() == "":
        return (config.get("SHIELD_LOG_FORMAT") or "text").strip().lower() == "json"
    return str(raw).strip().lower() not in ("0", "off", "false", "no")
