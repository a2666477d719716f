"""Cheap polling: ETags from per-member resource versions, 304 without loading the resource.

The ETag of a resource is built from the member, the resource (and item) name, the
member's version counter for it and `valid_until`, the next instant a clock-derived field
(daysRemaining, canCancel, appealable) changes. A 304 is given only while the stored version
matches and the clock has not passed `valid_until`; the 200 path stores the new instant.
The version is read *before* the resource, so an ETag can only be older than its body
(costing one extra 200), never newer (which would hide a change).

Versions come from `shield.versions.version_store()`: the database (one SELECT) or a
per-process cache kept fresh by LISTEN/NOTIFY, whose lag behind a commit is bounded by
SHIELD_VERSION_CACHE_MAX_STALENESS (see shield/versions/cache.py). Where both the token and
the versions are in memory, `shield.polling_fastpath` answers the same 304 before Flask.

A 304 promises that the body of an ETag has not changed, so the body of a 200 is itself a
function of its ETag (and URL): with the version cache on, 200s are also kept per process
(`BodyCache`, SHIELD_BODY_CACHE_BYTES) and a 200 for an unchanged version - a client that
lost or never had the ETag - is answered without loading or serialising anything.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from datetime import datetime

from flask import Response, current_app, g, jsonify, request
from sqlalchemy import update

from models import ResourceVersion, db, utcnow

from .members import ensure_member
from .versions import resolve_mode, version_store
from .versions.store import CLOCKED, DatabaseVersionStore

CACHE_CONTROL = "private, no-cache"

# Kept for callers of the former names.
VersionStore = DatabaseVersionStore

__all__ = [
    "CACHE_CONTROL",
    "CLOCKED",
    "cache_headers",
    "conditional_get",
    "etag_matches",
    "make_etag",
    "not_modified",
    "version_store",
]


DEFAULT_BODY_CACHE_BYTES = 32 * 1024 * 1024


class BodyCache:
    """JSON bodies of 200s by (ETag, URL), at most `max_bytes` of them (oldest out first)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: dict[tuple[str, str], bytes] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> bytes | None:
        return self._items.get(key)

    def put(self, key: tuple[str, str], body: bytes) -> None:
        size = len(body)
        if size > self.max_bytes // 16:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            while self._items and self._bytes + size > self.max_bytes:
                self._bytes -= len(self._items.pop(next(iter(self._items))))
            self._items[key] = body
            self._bytes += size

    def __len__(self) -> int:
        return len(self._items)


def body_cache() -> BodyCache | None:
    """This app's body cache: on by default where the version cache is (PostgreSQL)."""
    app = current_app._get_current_object()
    cache = app.extensions.get("shield.bodies")
    if cache is None:
        size = app.config.get("SHIELD_BODY_CACHE_BYTES")
        if size is None:
            size = os.environ.get("SHIELD_BODY_CACHE_BYTES") or None
        if size is None:
            size = DEFAULT_BODY_CACHE_BYTES if resolve_mode(app) == "notify" else 0
        cache = app.extensions.setdefault("shield.bodies", BodyCache(int(size)) if size else False)
    return None if cache is False else cache


def make_etag(member_id: str, item: str, version: int, valid_until: datetime | None) -> str:
    """Return a strong ETag unique to the member, the item and its state."""
    stamp = int(valid_until.timestamp()) if valid_until else 0
    digest = hashlib.blake2s(
        f"{member_id}|{item}|{version}|{stamp}".encode(), digest_size=12
    ).hexdigest()
    return f'"{digest}"'


def cache_headers(response: Response, etag: str) -> Response:
    """The headers every polled answer carries, 200 or 304 alike."""
    for name, value in validator_headers(etag):
        response.headers[name] = value
    return response


class NotModified(Response):
    """A 304: no body, so no Content-Type to set and then strip again."""

    default_mimetype = None


def validator_headers(etag: str) -> list[tuple[str, str]]:
    """The headers of a 304 (a 200 carries the same ones)."""
    return [("ETag", etag), ("Cache-Control", CACHE_CONTROL), ("Vary", "Authorization")]


def not_modified(etag: str) -> Response:
    return NotModified(status=304, headers=validator_headers(etag))


def current_etag(member_id: str, item: str, state: tuple, now: datetime) -> str | None:
    """The ETag of a stored (version, valid_until), or None once its clock instant is due."""
    version, valid_until = state
    if valid_until is not None and now >= valid_until:
        return None
    return make_etag(member_id, item, version, valid_until)


def names_etag(if_none_match: str | None, etag: str, *, exists: bool = True) -> bool:
    """Whether an If-None-Match value names `etag` (weak comparison, as RFC 9110).

    `*` matches only a representation known to exist (`exists`): before a claim is looked
    up, `*` must not turn a 404 into a 304.
    """
    if not if_none_match:
        return False
    if if_none_match == etag:
        return True
    if if_none_match.strip() == "*":
        return exists
    return etag in {t.strip().removeprefix("W/") for t in if_none_match.split(",")}


def etag_matches(etag: str, *, exists: bool = True) -> bool:
    """Whether the request's If-None-Match names `etag`."""
    return names_etag(request.environ.get("HTTP_IF_NONE_MATCH"), etag, exists=exists)


Builder = Callable[[datetime], tuple[object, datetime | None]]


def conditional_get(
    resource: str, item: str, build: Builder, *, always_exists: bool = True
) -> Response:
    """Answer a GET of a member's resource: 304 on a matching If-None-Match, else 200.

    `build(now)` returns the JSON body and the next instant a clock-derived field in it
    changes (None when nothing in it depends on the clock); it raises 404 for a missing item.
    `always_exists=False` (one claim by id) keeps `If-None-Match: *` from answering 304
    before `build` has found the item.
    """
    principal = g.principal
    store = version_store()
    now = utcnow()
    state = store.read(principal.id, resource)
    bodies = None
    if state is not None:
        version, valid_until = state
        etag = current_etag(principal.id, item, state, now)
        if etag is not None:
            if etag_matches(etag, exists=always_exists):
                return not_modified(etag)
            bodies = body_cache()
            cached = bodies.get((etag, request.full_path)) if bodies is not None else None
            if cached is not None:
                return cache_headers(Response(cached, mimetype="application/json"), etag)
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
        store.changed(db.session, principal.id)
        db.session.commit()
        store.committed(principal.id)
    etag = make_etag(principal.id, item, version, next_change if clock else None)
    if etag_matches(etag):  # unchanged after all (the clock moved nothing we show)
        return not_modified(etag)
    if isinstance(body, str):  # already JSON (the claims list sends stored renderings)
        response = Response(body, mimetype="application/json")
    else:
        response = jsonify(body)
    if bodies is None:
        bodies = body_cache()
    if bodies is not None:
        bodies.put((etag, request.full_path), response.get_data())
    return cache_headers(response, etag)
