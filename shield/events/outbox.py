"""The outbox hook: recorded events and resource-version bumps join the caller's transaction.

Services call `record(...)`; nothing is written until the session commits. A
`before_flush` hook notes whose resources each flushed row belongs to; a `before_commit`
hook then (1) bumps those per-member resource versions, (2) takes `seq` numbers from the
single `event_sequence` row and (3) adds the outbox rows, all inside the same transaction
as the change. The counter row stays locked until commit,
so `seq` order is commit order: a reader that has seen seq N never later finds a new
event below N (the event feed and socket replay rely on it). After commit, in-process
listeners are told (the push dispatcher and the socket fan-out wake on it); on
PostgreSQL a NOTIFY on the same transaction wakes other processes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import chain

from sqlalchemy import event, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from models import (
    Claim,
    CoveragePeriod,
    Notification,
    OutboxEvent,
    Payout,
    ResourceVersion,
    Subscription,
    Wallet,
    WalletTransaction,
    Withdrawal,
    new_id,
    utcnow,
)
from models.outbox import AUDIENCE_ADMIN, PUSH_NONE, PUSH_PENDING, EventRetention, EventSequence
from shield.versions.cache import CHANNEL as VERSIONS_CHANNEL
from shield.versions.cache import committed as versions_committed
from shield.versions.cache import notify_payloads

from .catalog import rule_for
from .envelope import envelope
from .inbox import add_entry

log = logging.getLogger(__name__)

PENDING_KEY = "shield.pending_events"
FLUSHED_KEY = "shield.flushed_events"
TOUCHED_KEY = "shield.touched_resources"
PG_CHANNEL = "shield_events"
BUMPED_KEY = "shield.bumped_members"  # for this process's version caches, after commit

# Which polled resources a change to each model invalidates.
RESOURCES_BY_MODEL: dict[type, tuple[str, ...]] = {
    Claim: ("claims",),
    Payout: ("claims", "wallet"),
    Wallet: ("wallet",),
    WalletTransaction: ("wallet",),
    Withdrawal: ("wallet",),
    Subscription: ("subscription",),
    CoveragePeriod: ("subscription",),
    Notification: ("notifications",),
}


@dataclass(frozen=True)
class CommittedEvent:
    id: str
    seq: int
    name: str
    member_id: str | None
    audience: str
    payload: dict

    def message(self) -> dict:
        return message(self.payload, self.id, self.seq)


def message(payload: dict, event_id: str, seq: int) -> dict:
    """Return what every channel sends: the spec envelope plus `id` and `seq`."""
    return {**payload, "id": event_id, "seq": seq}


@dataclass
class _Pending:
    id: str
    name: str
    member_id: str | None
    audience: str
    payload: dict
    push: bool


def record(
    session: Session, name: str, data: dict, *, member_id: str | None, now: datetime | None = None
) -> dict:
    """Queue a spec event on the session's transaction and return its envelope."""
    rule = rule_for(name)
    if rule.audience != AUDIENCE_ADMIN and not member_id:
        raise ValueError(f"{name} needs the owning member")
    payload = envelope(name, data, now or utcnow())
    pending = _Pending(
        id=new_id("evt"),
        name=name,
        member_id=None if rule.audience == AUDIENCE_ADMIN else member_id,
        audience=rule.audience,
        payload=payload,
        push=rule.push(payload["data"]),
    )
    session.info.setdefault(PENDING_KEY, []).append(pending)
    if pending.member_id and rule.inbox(payload["data"]):
        add_entry(
            session,
            record,
            name,
            payload["data"],
            rule.notification_type,
            pending.member_id,
            now or utcnow(),
        )
    return payload


def bump(session: Session, member_id: str, *resources: str) -> None:
    """Mark resources changed for a member when no model row of theirs changes."""
    session.info.setdefault(TOUCHED_KEY, {}).setdefault(member_id, set()).update(resources)


CommitListener = Callable[[list[CommittedEvent]], None]
_listeners: list[CommitListener] = []


def on_commit(listener: CommitListener) -> CommitListener:
    """Register a function called with the events of each commit that had any."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def remove_listener(listener: CommitListener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def _before_flush(session: Session, flush_context, instances) -> None:
    """Note which members' resources the rows about to be flushed belong to."""
    touched = session.info.setdefault(TOUCHED_KEY, {})
    for obj in chain(session.new, session.dirty, session.deleted):
        resources = RESOURCES_BY_MODEL.get(type(obj))
        member_id = getattr(obj, "member_id", None)
        if resources and member_id:
            touched.setdefault(member_id, set()).update(resources)


def _before_commit(session: Session) -> None:
    """Bump versions and append the queued events as the last writes of the transaction.

    Done at commit, not at each flush, so the version rows and the sequence row are locked
    only for the commit itself (short, and never before a service's own row locks).
    """
    if (
        session.info.get(PENDING_KEY)
        or session.info.get(TOUCHED_KEY)
        or session.new
        or session.dirty
        or session.deleted
    ):
        session.flush()
    touched: dict[str, set[str]] = session.info.pop(TOUCHED_KEY, {})
    pending: list[_Pending] = session.info.pop(PENDING_KEY, [])
    if not touched and not pending:
        return
    conn = session.connection()
    _bump_versions(conn, touched)
    if touched:
        session.info.setdefault(BUMPED_KEY, set()).update(touched)
    if pending:
        _append_events(session, conn, pending)


def _bump_versions(conn, touched: dict[str, set[str]]) -> None:
    for member_id, resources in sorted(touched.items()):  # one lock order: no deadlocks
        values = {r: getattr(ResourceVersion, r) + 1 for r in sorted(resources)}
        conn.execute(
            update(ResourceVersion).where(ResourceVersion.member_id == member_id).values(**values)
        )
    if touched and conn.dialect.name == "postgresql":  # other processes' version caches
        for payload in notify_payloads(touched):
            conn.execute(
                text("SELECT pg_notify(:channel, :ids)"),
                {"channel": VERSIONS_CHANNEL, "ids": payload},
            )


def _append_events(session: Session, conn, pending: list[_Pending]) -> None:
    # The counter row stays locked until this commit ends: seq order is commit order.
    take = (
        update(EventSequence)
        .where(EventSequence.id == 1)
        .values(value=EventSequence.value + len(pending))
        .returning(EventSequence.value)
    )
    top = conn.execute(take).scalar_one_or_none()
    if top is None:  # first event ever on this database: create the row, race-safe
        dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(dialect_insert(EventSequence).values(id=1, value=0).on_conflict_do_nothing())
        top = conn.execute(take).scalar_one()
    first = top - len(pending) + 1
    committed = session.info.setdefault(FLUSHED_KEY, [])
    for offset, ev in enumerate(pending):
        seq = first + offset
        session.add(
            OutboxEvent(
                id=ev.id,
                seq=seq,
                member_id=ev.member_id,
                audience=ev.audience,
                name=ev.name,
                payload=ev.payload,
                push_state=PUSH_PENDING if ev.push else PUSH_NONE,
            )
        )
        committed.append(CommittedEvent(ev.id, seq, ev.name, ev.member_id, ev.audience, ev.payload))
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_notify(:channel, :seq)"), {"channel": PG_CHANNEL, "seq": str(top)}
        )


def _after_commit(session: Session) -> None:
    bumped = session.info.pop(BUMPED_KEY, None)
    if bumped:
        versions_committed(bumped)
    committed = session.info.pop(FLUSHED_KEY, None)
    session.info.pop(PENDING_KEY, None)
    if not committed:
        return
    for listener in list(_listeners):
        try:
            listener(committed)
        except Exception:  # a listener must never undo or block a commit
            log.exception("commit listener %r failed", listener)


def _after_rollback(session: Session) -> None:
    session.info.pop(BUMPED_KEY, None)
    session.info.pop(FLUSHED_KEY, None)
    session.info.pop(PENDING_KEY, None)
    session.info.pop(TOUCHED_KEY, None)


def install() -> None:
    """Attach the hooks to every ORM session (idempotent)."""
    for name, fn in (
        ("before_flush", _before_flush),
        ("before_commit", _before_commit),
        ("after_commit", _after_commit),
        ("after_rollback", _after_rollback),
    ):
        if not event.contains(Session, name, fn):
            event.listen(Session, name, fn)


def pruned_through(session: Session) -> int:
    """Every event with seq <= this may have been deleted by retention (0: none was)."""
    value = session.execute(select(EventRetention.pruned_through).where(EventRetention.id == 1))
    return value.scalar() or 0


def mark_pruned(session: Session, seq: int) -> None:
    """In the transaction that deletes events up to `seq`: move the watermark (never back).

    Its own row, not the sequence row, so a prune never makes a commit that takes a seq wait.
    """
    raised = session.execute(
        update(EventRetention)
        .where(EventRetention.id == 1, EventRetention.pruned_through < seq)
        .values(pruned_through=seq)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not raised and session.get(EventRetention, 1) is None:
        session.add(EventRetention(id=1, pruned_through=seq))
        session.flush()
