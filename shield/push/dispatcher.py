"""The push dispatcher: plan, claim, send concurrently, react to each result, commit per batch.

Reactions to a result (FCM's documented error handling, see shield/push/results.py):
| result | delivery | device | retry |
|---|---|---|---|
| sent / recorded | sent | | |
| token_dead (UNREGISTERED, invalid token, SENDER_ID_MISMATCH) | failed | deactivated | no |
| payload_rejected (400 about the message) | failed, logged as a bug | kept | no |
| third_party_auth (401 THIRD_PARTY_AUTH_ERROR) | waits out the pause | kept | after it |
| quota_exceeded (429) | pending | kept | >= 60 s, or Retry-After if longer |
| retryable (5xx, network, OAuth) | pending | kept | exponential backoff + jitter, >= Retry-After |
Retries stop after `max_attempts` (delivery failed). Each HTTP attempt is a DeliveryAttempt
row; deliveries that are cancelled (acked, device gone), expired or held by a pause are not
attempts and say why in `last_error`.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from models import DeliveryAttempt, Device, EventAck, OutboxEvent, PushDelivery, utcnow
from models.delivery import CANCELLED, FAILED, PENDING, SENT
from shield.events import rule_for

from . import results as r
from .messages import PayloadTooLarge, PushMessage, build_message
from .pauses import active_pauses, pause_platform
from .planning import claim_due, next_due, plan_pending
from .settings import PushSettings

log = logging.getLogger(__name__)


@dataclass
class PassResult:
    processed: int  # deliveries handled: sent, failed, cancelled or rescheduled
    more: bool  # stopped at max_batches with work left
    next_due: datetime | None  # when the next pending delivery falls due


@dataclass(frozen=True)
class _Item:
    delivery_id: str
    attempts: int
    device_id: str
    token: str
    platform: str
    event_id: str
    message: PushMessage


def new_owner() -> str:
    """A lease owner id unique to this pass: host, pid (tests look for it) and a nonce."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def run_pass(
    session: Session,
    sender,
    settings: PushSettings,
    *,
    now: datetime | None = None,
    owner: str | None = None,
    max_batches: int = 20,
) -> PassResult:
    """Send everything due now, a batch at a time; commits after every step.

    Pipelined: the next batch is planned, claimed and built while the sends of the one
    before are in flight, and is sent only once those results are recorded - so messages
    about one claim to one device still go in order. If a result changes what the prepared
    batch should do (a dead token, a paused platform, a retry), the prepared batch is
    released and prepared again.
    """
    owner = owner or new_owner()
    processed = 0
    flight: _Flight | None = None
    try:
        for _ in range(max_batches):
            at = now or utcnow()
            ids = plan_pending(session, settings, at, owner)
            room = settings.batch_size - len(ids)
            if room > 0:
                ids += claim_due(session, settings, at, owner, room)
            batch = _prepare(session, settings, ids, now=at, owner=owner) if ids else None
            if flight is not None:
                done, clean = _land(session, settings, flight, owner)
                processed += done
                flight = None
                if batch is not None and not clean:
                    processed += batch.finished
                    _release(session, batch, owner)
                    continue
            if batch is None:
                return PassResult(processed, False, next_due(session))
            flight = _launch(sender, batch)
        if flight is not None:
            processed += _land(session, settings, flight, owner)[0]
            flight = None
    except BaseException:
        if flight is not None:  # let the sends in flight end before anything else runs
            flight.wait()
        raise
    return PassResult(processed, True, None)


@dataclass
class _Batch:
    now: datetime
    rows: int  # deliveries claimed
    finished: int  # of them, done without a send (cancelled, expired, paused, unsendable)
    items: list[_Item]


@dataclass
class _Flight:
    batch: _Batch
    groups: list[list[_Item]]
    wait: Callable[[], list[list[r.SendResult]]]


def send_batch(
    session: Session, sender, settings: PushSettings, ids: list[str], *, now: datetime, owner: str
) -> int:
    """Send the deliveries leased to `owner` and record what happened. Commits."""
    batch = _prepare(session, settings, ids, now=now, owner=owner)
    return _land(session, settings, _launch(sender, batch), owner)[0]


def _prepare(
    session: Session, settings: PushSettings, ids: list[str], *, now: datetime, owner: str
) -> _Batch:
    """Load the leased deliveries, finish those not to be sent, build the messages. Commits."""
    # Plain rows of the columns used, not ORM objects: no identity map to fill and expire.
    rows = session.execute(
        select(
            PushDelivery.id,
            PushDelivery.attempts,
            PushDelivery.round,
            PushDelivery.created_at,
            OutboxEvent.id.label("event_id"),
            OutboxEvent.seq,
            OutboxEvent.name,
            OutboxEvent.payload,
            Device.id.label("device_id"),
            Device.token,
            Device.platform,
            Device.active,
            Device.deactivated_reason,
        )
        .join(OutboxEvent, PushDelivery.event_id == OutboxEvent.id)
        .join(Device, PushDelivery.device_id == Device.id)
        .where(
            PushDelivery.id.in_(ids),
            PushDelivery.lease_owner == owner,
            PushDelivery.status == PENDING,
        )
        .order_by(OutboxEvent.seq, PushDelivery.round, PushDelivery.id)
    ).all()
    # Ack-required events: a re-push round, or a first push held for a socket ack, is
    # cancelled once the app has acknowledged the event (over REST or the socket).
    ackable = {row.event_id for row in rows if rule_for(row.name).ack_required}
    acked = (
        set(
            session.execute(
                select(EventAck.event_id).where(EventAck.event_id.in_(ackable))
            ).scalars()
        )
        if ackable
        else set()
    )
    paused = active_pauses(session, now)
    ttl = timedelta(seconds=settings.ttl_seconds)
    items: list[_Item] = []
    for row in rows:
        if not row.active:
            _finish(
                session,
                row.id,
                owner,
                status=CANCELLED,
                last_error=f"device deactivated ({row.deactivated_reason or 'inactive'})",
            )
        elif row.event_id in acked:
            _finish(session, row.id, owner, status=CANCELLED, last_error="acknowledged")
        elif now - row.created_at > ttl:
            _finish(session, row.id, owner, status=FAILED, last_error="expired (past the TTL)")
        elif row.platform in paused:
            _finish(
                session,
                row.id,
                owner,
                next_attempt_at=paused[row.platform],
                last_error=f"{row.platform} sends paused (THIRD_PARTY_AUTH_ERROR)",
            )
        else:
            try:
                message = build_message(
                    delivery_id=row.id,
                    event_id=row.event_id,
                    seq=row.seq,
                    name=row.name,
                    payload=row.payload,
                    token=row.token,
                    platform=row.platform,
                    round_=row.round,
                    ttl_seconds=settings.ttl_seconds,
                    now=now,
                )
            except PayloadTooLarge as exc:
                log.error("BUG: push for %s not sendable: %s", row.event_id, exc)
                _finish(session, row.id, owner, status=FAILED, last_error=str(exc)[:200])
                continue
            items.append(
                _Item(
                    row.id,
                    row.attempts,
                    row.device_id,
                    row.token,
                    row.platform,
                    row.event_id,
                    message,
                )
            )
    session.commit()  # no transaction stays open across the network calls
    return _Batch(now, len(rows), len(rows) - len(items), items)


def _launch(sender, batch: _Batch) -> _Flight:
    """Start sending the batch; the senders that cannot send in the background send now."""
    groups = _groups(batch.items)
    messages = [[i.message for i in g] for g in groups]
    submit = getattr(sender, "submit_groups", None)
    if submit is None or len(groups) <= 1:
        outcomes = sender.send_groups(messages)
        return _Flight(batch, groups, lambda: outcomes)
    return _Flight(batch, groups, submit(messages))


def _release(session: Session, batch: _Batch, owner: str) -> None:
    """Give back the leases of a prepared batch that was not sent (claimed again later)."""
    if batch.items:
        _finish(session, [i.delivery_id for i in batch.items], owner)
    session.commit()


def _land(
    session: Session, settings: PushSettings, flight: _Flight, owner: str
) -> tuple[int, bool]:
    """Wait for the flight's results and record them. Commits.

    Returns (deliveries handled, whether every send succeeded)."""
    outcomes = flight.wait()
    now = flight.batch.now
    sent: list[str] = []
    attempts: list[dict] = []
    clean = True
    for group, group_results in zip(flight.groups, outcomes, strict=True):
        for item, result in zip(group, group_results, strict=True):
            if result.kind in (r.SENT, r.RECORDED):
                sent.append(item.delivery_id)  # the common case, written in one statement
                outcome = OUTCOMES[result.kind]
            else:
                clean = False
                outcome = _react(session, settings, item, result, now, owner)
            detail = (
                result.detail if result.kind == r.RECORDED else (result.message_id or result.detail)
            )
            attempts.append(
                {
                    "delivery_id": item.delivery_id,
                    "attempted_at": now,
                    "outcome": outcome,
                    "http_status": result.http_status,
                    "error_code": result.error_code,
                    "detail": detail,
                }
            )
    if sent:
        _finish(
            session,
            sent,
            owner,
            status=SENT,
            sent_at=now,
            last_error=None,
            attempts=PushDelivery.attempts + 1,
        )
    if attempts:
        session.execute(insert(DeliveryAttempt), attempts)
    session.commit()
    return flight.batch.rows, clean


def _groups(items: list[_Item]) -> list[list[_Item]]:
    """Messages about one claim to one device go in order, one after another."""
    groups: dict[tuple[str, str], list[_Item]] = {}
    for item in items:
        groups.setdefault((item.device_id, item.message.collapse_key), []).append(item)
    return list(groups.values())


def _finish(session: Session, ids: str | list[str], owner: str, **values) -> int:
    """Update deliveries we still hold (lease ours, still pending) and release the lease."""
    ids = [ids] if isinstance(ids, str) else ids
    values.setdefault("lease_owner", None)
    values.setdefault("lease_until", None)
    done = session.execute(
        update(PushDelivery)
        .where(
            PushDelivery.id.in_(ids),
            PushDelivery.lease_owner == owner,
            PushDelivery.status == PENDING,
        )
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


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter, never below `base * 2**(attempt-1)` (capped)."""
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    return delay * random.uniform(1.0, 1.5)


OUTCOMES = {
    r.SENT: "sent",
    r.RECORDED: "recorded",
    r.TOKEN_DEAD: "token_dead",
    r.PAYLOAD_REJECTED: "payload_rejected",
    r.THIRD_PARTY_AUTH: "paused",
    r.QUOTA: "retry",
    r.RETRYABLE: "retry",
}


def _react(
    session: Session,
    settings: PushSettings,
    item: _Item,
    result: r.SendResult,
    now: datetime,
    owner: str,
) -> str:
    """Apply a failed attempt's reaction (table above); return the attempt's outcome."""
    attempts = item.attempts + 1
    outcome = OUTCOMES[result.kind]
    error = f"{result.error_code} ({result.http_status})" if result.error_code else None
    if result.kind == r.TOKEN_DEAD:
        _finish(
            session,
            item.delivery_id,
            owner,
            status=FAILED,
            attempts=attempts,
            last_error=f"{error}: token deactivated",
        )
        session.execute(
            update(Device)
            .where(Device.id == item.device_id, Device.token == item.token)
            .values(active=False, deactivated_reason=result.error_code)
            .execution_options(synchronize_session=False)
        )
        # Its other waiting deliveries (re-push rounds, retries) will never go out. Rows
        # another dispatcher holds locked are skipped (no lock cycles); they are cancelled
        # when claimed, as the device is inactive by then.
        others = (
            select(PushDelivery.id)
            .where(
                PushDelivery.device_id == item.device_id,
                PushDelivery.status == PENDING,
                PushDelivery.id != item.delivery_id,
            )
            .with_for_update(skip_locked=True)
        )
        session.execute(
            update(PushDelivery)
            .where(PushDelivery.id.in_(others), PushDelivery.status == PENDING)
            .values(
                status=CANCELLED,
                last_error=f"device deactivated ({result.error_code})",
                lease_owner=None,
                lease_until=None,
            )
            .execution_options(synchronize_session=False)
        )
        return outcome
    if result.kind == r.PAYLOAD_REJECTED:
        log.error(
            "BUG: FCM rejected the payload of push %s (event %s): %s %s",
            item.delivery_id,
            item.event_id,
            result.error_code,
            result.detail,
        )
        _finish(
            session,
            item.delivery_id,
            owner,
            status=FAILED,
            attempts=attempts,
            last_error=f"{error}: payload rejected (bug)",
        )
        return outcome
    if result.kind == r.THIRD_PARTY_AUTH:
        resume = pause_platform(
            session,
            item.platform,
            result,
            settings,
            now,
            event_id=item.event_id,
            delivery_id=item.delivery_id,
        )
        delay = (resume - now).total_seconds()
    elif result.kind == r.QUOTA:
        delay = backoff(
            attempts,
            settings.quota_retry_seconds,
            max(settings.retry_cap_seconds, settings.quota_retry_seconds),
        )
    else:
        delay = backoff(attempts, settings.retry_base_seconds, settings.retry_cap_seconds)
    delay = max(delay, result.retry_after or 0.0)
    if attempts >= settings.max_attempts:
        _finish(
            session,
            item.delivery_id,
            owner,
            status=FAILED,
            attempts=attempts,
            last_error=f"{error}: gave up after {attempts} attempts",
        )
        return "gave_up"
    _finish(
        session,
        item.delivery_id,
        owner,
        attempts=attempts,
        last_error=error,
        next_attempt_at=now + timedelta(seconds=delay),
    )
    return outcome
