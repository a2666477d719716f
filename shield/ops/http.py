"""/healthz, /readyz and /metrics, unauthenticated (the metrics behind SHIELD_METRICS_TOKEN
when it is set); the same three in the jobs process (`wsgi_app`, jobs/http.py)."""

from __future__ import annotations

import json
from collections.abc import Callable

from flask import Blueprint, Flask, Response, current_app, request

from . import exposition, health

bp = Blueprint("ops", __name__)
QUIET_ROUTES = ("/healthz", "/readyz", "/metrics")  # counted, not logged at INFO


def _json(status: int, body: dict) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def metrics_answer(app: Flask, authorization: str | None, extra=None, polls=True) -> Response:
    if not exposition.authorized(app, authorization):
        response = _json(
            401, {"error": {"code": "AUTH_INVALID", "message": "A metrics token is required."}}
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return Response(
        exposition.render(app, extra, polls=polls),
        mimetype=None,
        content_type=exposition.CONTENT_TYPE,
    )


def ready_answer(app: Flask, extra=None, polls=True) -> Response:
    ready, body = health.readiness(app, extra, polls=polls)
    response = _json(200 if ready else 503, body)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz():
    return _json(200, health.liveness())


@bp.get("/readyz")
def readyz():
    return ready_answer(current_app._get_current_object())


@bp.get("/metrics")
def metrics():
    return metrics_answer(current_app._get_current_object(), request.headers.get("Authorization"))


def wsgi_app(app: Flask, extra_checks: Callable[[], dict]) -> Callable:
    """The three answers as a bare WSGI app (no API routes) for the jobs process's port,
    which answers no polls: its readiness leaves the version cache out."""

    def application(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            response = _json(405, {"error": {"code": "METHOD_NOT_ALLOWED", "message": "GET only."}})
        elif path == "/healthz":
            response = _json(200, health.liveness())
        elif path == "/readyz":
            response = ready_answer(app, extra_checks(), polls=False)
        elif path == "/metrics":
            response = metrics_answer(
                app, environ.get("HTTP_AUTHORIZATION"), extra_checks(), polls=False
            )
        else:
            response = _json(404, {"error": {"code": "NOT_FOUND", "message": "Not found."}})
        return response(environ, start_response)

    return application
