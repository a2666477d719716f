"""This deployment's identity: one row, written once, kept by backups and restores.

Processes that share infrastructure with other deployments (one Redis server) tell their
traffic apart by it. A database copied to make another deployment (staging from a
production dump) carries the same id: delete the row there, or set SHIELD_DEPLOYMENT_ID.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import UTCDateTime, db, utcnow


class Deployment(db.Model):
    __tablename__ = "deployment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    deployment_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
