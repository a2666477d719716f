"""The WSGI app the benchmark serves: the real app plus bench-only reference routes.

Only the benchmark imports this module (`gunicorn bench.app:app`); `wsgi.py` and
`create_app()` never register these routes, so normal runs do not have them.

- GET /bench/hello: Flask hello-world JSON, no auth (the reference of every ratio).
- GET /shield/v1/bench/naive-claims: the claims list answered Werkzeug `add_etag` style, as
  a plain Flask route would: load the rows with the ORM, serialise them, hash the body, then
  compare (same auth as the real route).
- GET /shield/v1/bench/naive-stored-claims: the same hashing over this app's own fastest
  body builder (stored renderings, one hot read): how much of the naive route's cost the
  ETag strategy alone explains.
- GET /bench/db-ping: hello-world plus one read on the hot-read pool (`SELECT 1`): the floor
  of any answer that reads PostgreSQL.
- GET /bench/stats: this worker's version and token cache counters.
"""

from __future__ import annotations

import os

from flask import Flask, Response, g, jsonify, request
from sqlalchemy import Integer, bindparam, select

from app import create_app
from models import db, utcnow
from shield import hot_reads
from shield.api import member_blueprint
from shield.auth import TOKEN_CACHE_KEY
from shield.claims import service
from shield.claims.serialize import claim_json
from shield.polling import CACHE_CONTROL
from shield.versions import version_store

PING = hot_reads.HotQuery(select(bindparam("n", type_=Integer)))


def add_bench_routes(app: Flask) -> Flask:
    @app.get("/bench/hello")
    def hello():
        return jsonify(hello="world")

    @app.get("/bench/db-ping")
    def db_ping():
        rows = hot_reads.fetch_all(PING, {"n": 1})
        return jsonify(hello="world", n=rows[0][0])

    @app.get("/bench/stats")
    def stats():
        tokens = app.extensions.get(TOKEN_CACHE_KEY)
        return jsonify(
            pid=os.getpid(),
            versions=version_store().stats(),
            tokens=len(tokens._items) if tokens else 0,
        )

    naive = member_blueprint("bench_naive", __name__)

    def hashed(body) -> Response:
        response = (
            body if isinstance(body, Response) else Response(body, mimetype="application/json")
        )
        response.add_etag()
        response.headers["Cache-Control"] = CACHE_CONTROL
        response.headers["Vary"] = "Authorization"
        return response.make_conditional(request)

    @naive.get("/bench/naive-claims")
    def naive_claims():
        # What a plain Flask route does: load the rows, serialise them, hash the body.
        now = utcnow()
        claims = service.list_member_claims(db.session, g.principal.id)
        items = [claim_json(c, now) for c in claims]
        return hashed(jsonify(claims=items, count=len(items)))

    @naive.get("/bench/naive-stored-claims")
    def naive_stored_claims():
        # The same hashing over this app's fastest body builder (stored renderings).
        body, _ = service.list_json(db.session, g.principal.id, utcnow())
        return hashed(body)

    app.register_blueprint(naive)
    return app


app = add_bench_routes(create_app())
