"""The push dispatcher: claim a delivery when a send slot is free for it, send, store each
outcome as its send ends.

- A delivery is claimed (leased) only when one of the `concurrency` send slots is free for
  it, so nothing waits leased behind other sends, whatever FCM's latency.
- While it is sent, its lease is renewed every third of `lease_seconds`: no other
  dispatcher, in this process or another, takes a delivery whose sender is alive; after a
  crash only the sends in flight may repeat, and they are taken over within the lease.
- Each send's outcome is written when the send ends (results that end together share one
  commit), with delays counted from the answer (reactions.py).
- Messages about one claim to one device go in order: one waits for the other's answer.
- The breaker (breaker.py) stops claiming while FCM fails for everyone; deliveries keep
  their place and their retry budget, probes find the recovery.

`Dispatcher.step()` does one round of that; the worker thread (worker.py) runs it as a loop,
`run_pass()` runs it until nothing more is due now (the scheduler's safety net, tests).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.orm import Session

from models import DeliveryAttempt, PushDelivery, utcnow
from models.delivery import SENT

from . import results as r
from .breaker import CLOSED, OPEN, Breaker, breaker_for
from .items import Item, load_items
from .leases import finish, new_owner, renew
from .pauses import project_fault, project_recovered
from .planning import EPOCH, claim_due, next_due, plan_pending
from .reactions import OUTCOMES, react
from .settings import PushSettings

log = logging.getLogger(__name__)

__all__ = ["Dispatcher", "PassResult", "new_owner", "run_pass"]


@dataclass
class PassResult:
    processed: int  # deliveries handled: sent, failed, cancelled or rescheduled
    more: bool  # stopped at its limit with work left
    next_due: datetime | None  # when the next pending delivery falls due


@dataclass(frozen=True)
class _Done:
    item: Item
    result: r.SendResult
    started: float  # time.monotonic() when the send began
    answered: float  # time.monotonic() when its answer arrived
    answered_at: datetime  # the same, as the wall clock the delays count from


class Dispatcher:
    """One sender's state: leased deliveries, sends in flight, results to store."""

    def __init__(
        self,
        session: Session,
        sender,
        settings: PushSettings,
        *,
        owner: str | None = None,
        now: datetime | None = None,
        breaker: Breaker | None = None,
        once: bool = False,
    ):
        self.session = session
        self.sender = sender
        self.settings = settings
        self.owner = owner or new_owner()
        self.fixed_now = now  # tests and the safety-net job may set the clock
        self.breaker = breaker or breaker_for(sender, settings)
        self.executor = getattr(sender, "executor", None)  # None: send inline
        self.held: dict[str, Item] = {}  # leased to us: being sent or waiting for its key
        self.waiting: dict[tuple[str, str], deque[Item]] = {}  # key -> items behind a send
        self.done: queue.SimpleQueue[_Done] = queue.SimpleQueue()
        self.wake = threading.Event()  # a send ended, or new work was committed
        self.plan_needed = True
        self._pokes = 0  # counts poke() calls: one during planning is not lost
        self.processed = 0
        self._dry_until = 0.0  # monotonic: nothing due for us before this (or a poke)
        # A single pass (run_pass) sends each delivery at most once: a delivery that failed
        # and is due again at once (an outage keeps its place) waits for the next pass.
        self.tried: set[str] | None = set() if once else None
        self._renewed = time.monotonic()

    # -- clock and wake-ups -------------------------------------------------------------------
    def now(self) -> datetime:
        return self.fixed_now or utcnow()

    def poke(self) -> None:
        """New work may have been committed: plan and claim at the next step."""
        self._pokes += 1
        self.plan_needed = True
        self._dry_until = 0.0
        self.wake.set()

    @property
    def busy(self) -> bool:
        return bool(self.held)

    # -- one step -----------------------------------------------------------------------------
    def step(self) -> int:
        """Store ended sends, renew leases, claim and start what free slots allow. Commits.

        Returns the number of deliveries claimed."""
        self.record()
        self._renew()
        free = self.settings.concurrency - len(self.held)
        # A poke (new work) overrides the idle time: it may have come while that was reckoned.
        if free <= 0 or (time.monotonic() < self._dry_until and not self.plan_needed):
            return 0
        # Claim in bunches (a quarter of the slots) unless idle, not one per ended send.
        if self.held and free < max(1, self.settings.concurrency // 4) and not self.plan_needed:
            return 0
        now = self.now()
        if self.plan_needed:  # also while the breaker is open: the backlog then drains in order
            pokes = self._pokes
            planned = plan_pending(self.session, self.settings, now)
            self.plan_needed = planned >= self.settings.batch_size or self._pokes != pokes
        room = self.breaker.room(free)
        if room <= 0:
            return 0
        try:
            return self._claim_and_start(now, room)
        except BaseException:
            self.breaker.probe_unused()  # a probe that was granted but never sent
            raise

    def _claim_and_start(self, now: datetime, room: int) -> int:
        ids = claim_due(self.session, self.settings, now, self.owner, room)
        if self.tried is not None and self.tried.intersection(ids):
            again = [i for i in ids if i in self.tried]
            finish(self.session, again, self.owner)
            self.session.commit()
            ids = [i for i in ids if i not in self.tried]
            self._dry_until = float("inf")
        elif len(ids) < room and not self.plan_needed:
            self._dry_until = time.monotonic() + self._idle_seconds(now)
        if self.tried is not None:
            self.tried.update(ids)
        items = []
        if ids:
            items = load_items(self.session, self.settings, ids, now=now, owner=self.owner)
        self.processed += len(ids) - len(items)
        if not items:
            self.breaker.probe_unused()
            return len(ids)
        for item in items:
            self.held[item.delivery_id] = item
            if item.key in self.waiting:
                self.waiting[item.key].append(item)
            else:
                self.waiting[item.key] = deque()
                self._start(item)
        return len(ids)

    def _idle_seconds(self, now: datetime) -> float:
        """Nothing more is due now: how long until the next delivery may be (poll at most).

        A due time in the past means deliveries other senders hold (or we do): look again
        in a second rather than spin."""
        due = next_due(self.session)
        if due is None:
            return self.settings.poll_seconds
        if due == EPOCH:  # events wait to be planned (committed while we planned)
            self.plan_needed = True
        wait = (due - now).total_seconds()
        return min(self.settings.poll_seconds, wait if wait > 0 else 1.0)

    def seconds_idle(self) -> float:
        """How long the loop may sleep before its next step (sends wake it sooner)."""
        waits = [self.settings.poll_seconds, max(0.0, self._dry_until - time.monotonic())]
        if self.held:
            waits.append(self.settings.lease_seconds / 3)
        probe = self.breaker.seconds_to_probe()
        if probe is not None:
            waits.append(probe)
        return min(waits)

    def wait(self, timeout: float) -> None:
        """Sleep until a send ends or work is poked, at most `timeout` seconds."""
        if not self.plan_needed:
            self.wake.wait(timeout)
        self.wake.clear()
        if self.held and self.settings.concurrency > 1:
            time.sleep(0.005)  # let sends that end together share one commit

    # -- sending ------------------------------------------------------------------------------
    def _start(self, item: Item) -> None:
        if self.executor is None:
            self._send(item)
        else:
            self.executor.submit(self._send, item).add_done_callback(_raised)

    def _send(self, item: Item) -> None:
        started = time.monotonic()
        try:
            result = self.sender.send(item.message)
        except Exception as exc:  # never lose a delivery to one odd failure
            log.exception("unexpected error sending push %s", item.delivery_id)
            result = r.SendResult(r.RETRYABLE, error_code="ERROR", detail=repr(exc)[:300])
        self.done.put(_Done(item, result, started, time.monotonic(), self.now()))
        self.wake.set()

    # -- storing outcomes ---------------------------------------------------------------------
    def record(self) -> int:
        """Store the outcome of every send that ended; start what waited behind them."""
        ended: list[_Done] = []
        while True:
            try:
                ended.append(self.done.get_nowait())
            except queue.Empty:
                break
        if not ended:
            return 0
        changes = [c for d in ended if (c := self.breaker.record(d.result, d.answered))]
        try:
            dead_devices = self._store(ended, changes)
        except BaseException:
            self.session.rollback()
            for d in ended:  # stored at the next step (the leases are still renewed)
                self.done.put(d)
            raise
        self.processed += len(ended)
        for d in ended:
            self.held.pop(d.item.delivery_id, None)
            self._next_of(d.item.key, dead_devices)
        if not self.held and time.monotonic() < self._dry_until < float("inf"):
            # The due time seen when claiming counted the rows we were sending.
            self._dry_until = time.monotonic() + self._idle_seconds(self.now())
        return len(ended)

    def _store(self, ended: list[_Done], changes: list) -> set[str]:
        """Write the ended sends' outcomes and attempts in one transaction; return the
        devices found dead. Commits."""
        sent: dict[datetime, list[str]] = {}
        attempts: list[dict] = []
        dead_devices: set[str] = set()
        for d in ended:
            item, result = d.item, d.result
            if result.kind in (r.SENT, r.RECORDED):
                sent.setdefault(d.answered_at, []).append(item.delivery_id)
                outcome = OUTCOMES[result.kind]
            else:
                token_only = self.breaker.token_only(d.started)
                outcome = react(
                    self.session,
                    self.settings,
                    item,
                    result,
                    d.answered_at,
                    self.owner,
                    token_only=token_only,
                )
                if result.kind == r.TOKEN_DEAD:
                    dead_devices.add(item.device_id)
            attempts.append(_attempt(d, outcome))
        for at, ids in sent.items():
            finish(
                self.session,
                ids,
                self.owner,
                status=SENT,
                sent_at=at,
                last_error=None,
                attempts=PushDelivery.attempts + 1,
            )
        self.session.execute(insert(DeliveryAttempt), attempts)
        for change in changes:
            self._announce(change, ended[-1].answered_at)
        self.session.commit()
        return dead_devices

    def _next_of(self, key: tuple[str, str], dead_devices: set[str]) -> None:
        """Start the next message waiting behind `key` (or give back what may not go now)."""
        behind = self.waiting.get(key)
        while behind:
            item = behind.popleft()
            if item.device_id in dead_devices:  # cancelled with its device
                self.held.pop(item.delivery_id, None)
                continue
            if self.breaker.state != CLOSED:  # keeps its place for after the outage
                self.held.pop(item.delivery_id, None)
                finish(self.session, item.delivery_id, self.owner)
                self.session.commit()
                continue
            self._start(item)
            return
        self.waiting.pop(key, None)

    def _announce(self, change, at: datetime) -> None:
        result = change.result
        if change.state == OPEN:
            what = "a configuration fault" if result.config_fault else "failing for everyone"
            log.error(
                "FCM is %s (%s %s: %s): push sends paused, probing every %.0f s or more; "
                "deliveries keep their place and retry budget",
                what,
                result.http_status,
                result.error_code,
                (result.detail or "")[:200],
                change.open_seconds,
            )
            if result.config_fault:
                log.critical(
                    "PUSH CONFIGURATION FAULT: %s answered %s without an FCM error code; "
                    "no device is deactivated; fix SHIELD_FCM_ENDPOINT / the service account",
                    getattr(self.sender, "endpoint", "FCM"),
                    result.http_status,
                )
                until = at + timedelta(seconds=self.settings.breaker_max_open_seconds)
                project_fault(self.session, result, self.settings, at, until)
        else:
            log.warning("FCM answers again: push sends resume, the backlog drains")
            project_recovered(self.session, at)

    # -- leases -------------------------------------------------------------------------------
    def _renew(self) -> None:
        if not self.held:
            self._renewed = time.monotonic()
            return
        if time.monotonic() - self._renewed < self.settings.lease_seconds / 3:
            return
        ids = list(self.held)
        kept = renew(self.session, ids, self.owner, self.now(), self.settings.lease_seconds)
        self._renewed = time.monotonic()
        if kept < len(ids):
            log.info("%d of %d held deliveries were cancelled meanwhile", len(ids) - kept, len(ids))

    def drain(self, timeout: float | None = None) -> None:
        """Wait for the sends in flight to end and store them; give back what waits."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for behind in self.waiting.values():
            for item in behind:
                self.held.pop(item.delivery_id, None)
                finish(self.session, item.delivery_id, self.owner)
            behind.clear()
        self.session.commit()
        while self.held:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                log.warning("%d push sends still in flight at stop", len(self.held))
                return
            self.wait(min(left or 1.0, 1.0))
            self.record()
            self._renew()


def _raised(future) -> None:
    if future.exception() is not None:  # a bug in _send itself: say so loudly
        log.error("BUG: push send task failed", exc_info=future.exception())


def _attempt(d: _Done, outcome: str) -> dict:
    result = d.result
    detail = result.detail if result.kind == r.RECORDED else (result.message_id or result.detail)
    return {
        "delivery_id": d.item.delivery_id,
        "attempted_at": d.answered_at,
        "outcome": outcome,
        "http_status": result.http_status,
        "error_code": result.error_code,
        "detail": detail,
    }


def run_pass(
    session: Session,
    sender,
    settings: PushSettings,
    *,
    now: datetime | None = None,
    owner: str | None = None,
    limit: int | None = None,
) -> PassResult:
    """Send everything due now (at most `limit` deliveries, default 20 batches) and store
    the outcomes; return when nothing more is due or may be sent. Commits."""
    dispatcher = Dispatcher(session, sender, settings, owner=owner, now=now, once=True)
    limit = limit or settings.batch_size * 20
    claimed = idle = 0
    try:
        while True:
            got = dispatcher.step()
            claimed += got
            if claimed >= limit:
                dispatcher.drain()
                return PassResult(dispatcher.processed, True, None)
            if dispatcher.busy:
                dispatcher.wait(1.0)
                continue
            if got:
                idle = 0
                continue
            idle += 1
            if idle >= 2 or not dispatcher.plan_needed or dispatcher.breaker.state == OPEN:
                break
    except BaseException:
        dispatcher.drain(timeout=settings.timeout_seconds * 2)
        raise
    return PassResult(dispatcher.processed, False, next_due(session))
