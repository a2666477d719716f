"""Which deployment this process belongs to: the id its Redis channel and keys carry.

Redis pub/sub ignores the database number, so two deployments on one Redis server would
share a channel. Each one's channel, presence keys and messages therefore carry a
deployment id: SHIELD_DEPLOYMENT_ID if set, else a random id stored once in the
deployment's own database (table `deployment`), so every process serving that database,
whatever URL it reaches it by, agrees on it, and no two databases share one by chance.
"""

from __future__ import annotations

import threading
import uuid

from flask import Flask
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from models import Deployment, db, utcnow

from .settings import Settings

ROW = 1

_cache: dict[str, str] = {}  # database URI -> id (read once per process)
_lock = threading.Lock()


def namespace(app: Flask, settings: Settings) -> str:
    """The prefix of this deployment's Redis channel and keys: `<prefix><deployment id>:`."""
    return f"{settings.redis_prefix}{deployment_id(app, settings)}:"


def deployment_id(app: Flask, settings: Settings) -> str:
    """This deployment's id (the setting, else the one stored in its database)."""
    if settings.deployment_id:
        return settings.deployment_id
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    found = _cache.get(uri)
    if found is None:
        with _lock:
            found = _cache.get(uri)
            if found is None:
                with app.app_context():
                    found = _cache[uri] = stored_id(db.engine)
    return found


def stored_id(engine) -> str:
    """Read the stored id, writing a new one first if there is none (race-safe)."""
    query = select(Deployment.deployment_id).where(Deployment.id == ROW)
    with engine.connect() as conn:
        found = conn.execute(query).scalar()
    if found:
        return found
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(Deployment).values(
                    id=ROW, deployment_id=f"dep-{uuid.uuid4().hex[:16]}", created_at=utcnow()
                )
            )
    except IntegrityError:
        pass  # another process wrote it first: use theirs
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()
