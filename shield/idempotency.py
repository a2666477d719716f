"""Idempotency-Key for money-moving calls, with Stripe's semantics.

Same key and same body -> the stored response is replayed; same key, other body -> 422;
the first call still running -> 409. Keys are scoped per caller and kept at least 24 h
(the retention job prunes older ones). The stored response is written in the same
transaction as the call's own changes, so a crash can never leave a change without its
key or a key pointing at a change that did not happen.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from datetime import timedelta

from flask import g, jsonify, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from models import IdempotencyKey, db, utcnow
from models.idempotency import DONE, RUNNING

from .errors import ApiError, Conflict
from .members import ensure_member

KEY_HEADER = "Idempotency-Key"
KEY_MAX_LENGTH = 255
# Visible ASCII only: what every client library sends unchanged and every log shows as typed.
KEY_PATTERN = "^[!-~]+$"
_KEY = re.compile(r"[!-~]+")
KEEP_FOR = timedelta(hours=24)
# A call that has not finished in this long is assumed to have died with its process.
RUNNING_LEASE = timedelta(minutes=2)


def _request_hash() -> str:
    body = request.get_data(cache=True) or b""
    try:
        canonical = (
            json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")) if body else ""
        )
    except (ValueError, RecursionError):  # the body's own check answers 400 after this
        canonical = body.decode("utf-8", "replace")
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()


LEASE_KEY = "_idempotency_lease"


def _claim_key(owner_id: str, key: str, request_hash: str):
    """Insert the key as running (committed), or return the existing row's verdict.

    The lease this call took (its `locked_until`) is kept in `g`: only the holder of the
    current lease may store the outcome (see `_owned_row`).
    """
    now = utcnow()
    try:
        with db.session.begin_nested():
            db.session.add(
                IdempotencyKey(
                    owner_id=owner_id,
                    key=key,
                    request_hash=request_hash,
                    status=RUNNING,
                    created_at=now,
                    locked_until=now + RUNNING_LEASE,
                )
            )
        db.session.commit()
        setattr(g, LEASE_KEY, now + RUNNING_LEASE)
        return None
    except IntegrityError:
        db.session.rollback()
    row = db.session.execute(
        select(IdempotencyKey)
        .where(IdempotencyKey.owner_id == owner_id, IdempotencyKey.key == key)
        .with_for_update()
    ).scalar_one()
    if row.request_hash != request_hash:
        db.session.rollback()
        raise ApiError(
            "This Idempotency-Key was used with a different request.",
            code="IDEMPOTENCY_KEY_REUSED",
            status=422,
        )
    if row.status == DONE:
        response = jsonify(row.response_body)
        response.status_code = row.response_status
        response.headers["Idempotent-Replayed"] = "true"
        db.session.rollback()
        return response
    if row.locked_until and row.locked_until > now:
        db.session.rollback()
        raise Conflict(
            "A request with this Idempotency-Key is still being processed.",
            code="IDEMPOTENCY_KEY_IN_USE",
        )
    lease = now + RUNNING_LEASE
    row.locked_until = lease  # the earlier call died: take it over
    db.session.commit()
    setattr(g, LEASE_KEY, lease)
    return None


def _owned_row(owner_id: str, key: str) -> IdempotencyKey | None:
    """The key's row, locked, if this call still holds its lease (None: taken over)."""
    row = db.session.execute(
        select(IdempotencyKey)
        .where(IdempotencyKey.owner_id == owner_id, IdempotencyKey.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if row is None or row.status != RUNNING or row.locked_until != g.get(LEASE_KEY):
        return None
    return row


def _lease_lost() -> Conflict:
    return Conflict(
        "A retry with this Idempotency-Key took over this request; it changed nothing.",
        code="IDEMPOTENCY_KEY_IN_USE",
    )


def _store(owner_id: str, key: str, status: int, body) -> None:
    row = _owned_row(owner_id, key)
    if row is None:  # ran past its lease and a retry took over: this call must not commit
        db.session.rollback()
        raise _lease_lost()
    row.status = DONE
    row.response_status = status
    row.response_body = body
    row.locked_until = None


def idempotent(view):
    """Require an Idempotency-Key; the view must not commit (this wrapper does, once)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(KEY_HEADER, "").strip()
        if not key:
            raise ApiError(f"The {KEY_HEADER} header is required for this call.", status=400)
        if len(key) > KEY_MAX_LENGTH:
            raise ApiError(
                f"The {KEY_HEADER} header is longer than {KEY_MAX_LENGTH} characters.", status=400
            )
        if not _KEY.fullmatch(key):
            raise ApiError(
                f"The {KEY_HEADER} header must be visible ASCII characters (no spaces).",
                status=400,
            )
        principal = g.principal
        ensure_member(db.session, principal)
        db.session.commit()
        replay = _claim_key(principal.id, key, _request_hash())
        if replay is not None:
            return replay
        try:
            body, status = view(*args, **kwargs)
        except ApiError as exc:
            # A decided client error is part of the key's history: replay it too.
            db.session.rollback()
            error = {"code": exc.code, "message": exc.message}
            if exc.details:
                error["details"] = exc.details
            _store(principal.id, key, exc.status, {"error": error})
            db.session.commit()
            raise
        except Exception:
            db.session.rollback()
            row = _owned_row(principal.id, key)
            if row is not None:  # free the key for a retry, unless a retry already holds it
                db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == row.id))
            db.session.commit()
            raise
        _store(principal.id, key, status, body)
        db.session.commit()
        return jsonify(body), status

    return wrapper
