"""Cheap polling: ETags from per-member resource versions, 304 without loading the resource.

The ETag of a resource is built from the member, the resource (and item) name, the
member's version counter for it and `valid_until`, the next instant a clock-derived field
(daysRemaining, canCancel, appealable) changes. A 304 is given only while the stored version
matches and the clock has not passed `valid_until`; the 200 path stores the new instant.
The version is read *before* the resource, so an ETag can only be older than its body
(costing one extra 200), never newer (which would hide a change).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from flask import Response, current_app, g, jsonify, request
from sqlalchemy import select, update

from models import ResourceVersion, db, utcnow

from .members import ensure_member

CACHE_CONTROL = "private, no-cache"

# Resources whose representation holds clock-derived fields.
CLOCKED = {"claims": "claims_valid_until", "subscription": "subscription_valid_until"}


class VersionStore:
    """Reads a member's version for a resource; one indexed SELECT (swappable for a cache)."""

    def read(self, member_id: str, resource: str) -> tuple[int, datetime | None] | None:
        columns = [getattr(ResourceVersion, resource)]
        clock = CLOCKED.get(resource)
        if clock:
            columns.append(getattr(ResourceVersion, clock))
        row = db.session.execute(
            select(*columns).where(ResourceVersion.member_id == member_id)
        ).first()
        if row is None:
            return None
        return row[0], (row[1] if clock else None)


def version_store():
    return current_app.extensions.get("shield.versions") or _DEFAULT_STORE


_DEFAULT_STORE = VersionStore()


def make_etag(member_id: str, item: str, version: int, valid_until: datetime | None) -> str:
    """Return a strong ETag unique to the member, the item and its state."""
    stamp = int(valid_until.timestamp()) if valid_until else 0
    digest = hashlib.blake2s(
        f"{member_id}|{item}|{version}|{stamp}".encode(), digest_size=12
    ).hexdigest()
    return f'"{digest}"'


def _headers(response: Response, etag: str) -> Response:
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["Vary"] = "Authorization"
    return response


def _not_modified(etag: str) -> Response:
    return _headers(Response(status=304), etag)


def _matches(etag: str) -> bool:
    inm = request.headers.get("If-None-Match")
    if not inm:
        return False
    if inm.strip() == "*":
        return True
    return etag in {t.strip().removeprefix("W/") for t in inm.split(",")}


Builder = Callable[[datetime], tuple[object, datetime | None]]


def conditional_get(resource: str, item: str, build: Builder) -> Response:
    """Answer a GET of a member's resource: 304 on a matching If-None-Match, else 200.

    `build(now)` returns the JSON body and the next instant a clock-derived field in it
    changes (None when nothing in it depends on the clock).
    """
    principal = g.principal
    store = version_store()
    now = utcnow()
    state = store.read(principal.id, resource)
    if state is not None:
        version, valid_until = state
        if valid_until is None or now < valid_until:
            etag = make_etag(principal.id, item, version, valid_until)
            if _matches(etag):
                return _not_modified(etag)
    else:
        ensure_member(db.session, principal)
        db.session.commit()
        version, valid_until = store.read(principal.id, resource)
    body, next_change = build(now)
    clock = CLOCKED.get(resource)
    if clock and next_change != valid_until:
        db.session.execute(
            update(ResourceVersion)
            .where(ResourceVersion.member_id == principal.id)
            .values({clock: next_change})
        )
        db.session.commit()
    etag = make_etag(principal.id, item, version, next_change if clock else None)
    response = jsonify(body)
    if _matches(etag):  # unchanged after all (the clock moved nothing we show)
        return _not_modified(etag)
    return _headers(response, etag)
