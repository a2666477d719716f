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
- POST /bench/warm?targets=<tsv>: this worker verifies every token of a wrk targets file
  and reads each of their members' versions once, through the caches' own paths (the
  steady state of members who poll every 30 s: each worker has met each of them), once
  per file and worker; answers {pid, members, seconds}.
"""

from __future__ import annotations

import os
import threading
import time

from flask import Flask, Response, g, jsonify, request
from sqlalchemy import Integer, bindparam, select

from app import create_app
from models import db, utcnow
from shield import hot_reads
from shield.api import member_blueprint
from shield.auth import TOKEN_CACHE_KEY, _token_cache, decode_token
from shield.claims import service
from shield.claims.serialize import claim_json
from shield.polling import CACHE_CONTROL
from shield.versions import version_store

PING = hot_reads.HotQuery(select(bindparam("n", type_=Integer)))


def _token_stats(tokens) -> dict:
    if not tokens:
        return {"entries": 0}
    if hasattr(tokens, "stats"):
        return tokens.stats()
    return {"entries": len(tokens._items)}  # the entry-bounded cache of before issue 14


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
            tokens=_token_stats(tokens),
        )

    warmed: dict[str, dict] = {}
    warm_lock = threading.Lock()

    @app.post("/bench/warm")
    def warm():
        path = request.args["targets"]
        with warm_lock:  # one warm-up per file and worker; others wait for it
            if path not in warmed:
                started = time.perf_counter()
                cache = _token_cache(app)
                store = version_store()
                if hasattr(store, "wait_ready"):
                    store.wait_ready(timeout=10)
                members = set()
                with open(path) as f:
                    for line in f:
                        _, token, _ = line.rstrip("\n").split("\t")
                        principal = (
                            cache.principal(token, app.config)
                            if cache
                            else decode_token(token, app.config)
                        )
                        if principal.id not in members:
                            members.add(principal.id)
                            store.read(principal.id, "claims")
                db.session.remove()
                warmed[path] = {"members": len(members), "seconds": time.perf_counter() - started}
        return jsonify(pid=os.getpid(), **warmed[path])

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
