"""The WSGI app the benchmark serves: the real app plus bench-only reference routes.

Only the benchmark imports this module (`gunicorn bench.app:app`); `wsgi.py` and
`create_app()` never register these routes, so normal runs do not have them.

- GET /bench/hello: Flask hello-world JSON, no auth (the reference of every ratio).
- GET /shield/v1/bench/naive-claims: the claims list answered Werkzeug `add_etag` style -
  load, serialise, hash the body, then compare (same auth as the real route).
- GET /bench/stats: this worker's version and token cache counters.
"""

from __future__ import annotations

import os

from flask import Flask, Response, g, jsonify, request

from app import create_app
from models import db, utcnow
from shield.api import member_blueprint
from shield.claims import service
from shield.polling import CACHE_CONTROL
from shield.versions import version_store


def add_bench_routes(app: Flask) -> Flask:
    @app.get("/bench/hello")
    def hello():
        return jsonify(hello="world")

    @app.get("/bench/stats")
    def stats():
        tokens = app.extensions.get("shield.token_cache")
        return jsonify(
            pid=os.getpid(),
            versions=version_store().stats(),
            tokens=len(tokens._items) if tokens else 0,
        )

    naive = member_blueprint("bench_naive", __name__)

    @naive.get("/bench/naive-claims")
    def naive_claims():
        # The same body the real route builds (its fastest builder), then hashed.
        body, _ = service.list_json(db.session, g.principal.id, utcnow())
        response = Response(body, mimetype="application/json")
        response.add_etag()
        response.headers["Cache-Control"] = CACHE_CONTROL
        response.headers["Vary"] = "Authorization"
        return response.make_conditional(request)

    app.register_blueprint(naive)
    return app


app = add_bench_routes(create_app())
