"""Writing to deliveries a sender holds: finishing them, and renewing their leases while sending.

Every write is conditional on the lease still being ours and the delivery still pending, so
a sender that lost a lease (it stalled, another took over) never overwrites the new owner's
work; its attempt rows are kept.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from models import PushDelivery
from models.delivery import PENDING

log = logging.getLogger(__name__)


def new_owner() -> str:
    """A lease owner id unique to one dispatcher: host, pid (tests look for it) and a nonce."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _ours(ids: list[str], owner: str):
    return (
        PushDelivery.id.in_(ids),
        PushDelivery.lease_owner == owner,
        PushDelivery.status == PENDING,
    )


def finish(session: Session, ids: str | list[str], owner: str, **values) -> int:
    """Update deliveries we still hold (lease ours, still pending) and release the lease."""
    ids = [ids] if isinstance(ids, str) else ids
    values.setdefault("lease_owner", None)
    values.setdefault("lease_until", None)
    done = session.execute(
        update(PushDelivery)
        .where(*_ours(ids, owner))
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if done < len(ids):
        log.warning(
            "%d of %d deliveries were cancelled or their lease lost meanwhile; attempts kept only",
            len(ids) - done,
            len(ids),
        )
    return done


def renew(session: Session, ids: list[str], owner: str, now: datetime, seconds: float) -> int:
    """Extend the leases of the deliveries we are sending. Commits."""
    if not ids:
        return 0
    kept = session.execute(
        update(PushDelivery)
        .where(*_ours(ids, owner))
        .values(lease_until=now + timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return kept
