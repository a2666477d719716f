"""Push under the faults a real FCM has: slow answers, outages for everyone, a wrong endpoint,
a failing OAuth endpoint, every token expiring at once.

Real dispatcher loops (PushWorker threads, each its own lease owner, like processes) send
through pyfcm to the HTTP stand-in; timers are shortened only where that keeps what is
checked: the lease is shorter than FCM's latency (so only renewal can prevent a second
send), the breaker probes every fraction of a second (so an outage of seconds has many
probe intervals in it).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

import shield.push
from jobs.push import dispatch_push
from models import Device, OutboxEvent, PushDelivery, db, utcnow
from models.delivery import PENDING, SENT
from models.outbox import PUSH_PENDING
from shield.push import sender_for, settings_for
from shield.push.breaker import breaker_for
from shield.push.worker import PushWorker
from tests.fakes import fcm_server as F
from tests.push.helpers import device, emit

pytestmark = pytest.mark.postgres

CRITICAL = {"claim_approved", "payout_completed"}


@pytest.fixture
def fault_app(app, make_app, fcm, service_account):
    papp = make_app(
        SHIELD_FCM_SERVICE_ACCOUNT=str(service_account),
        SHIELD_FCM_ENDPOINT=fcm.url,
        SHIELD_PUSH_CONCURRENCY=8,
        SHIELD_PUSH_TIMEOUT_SECONDS=6,
        SHIELD_PUSH_LEASE_SECONDS=1.5,
        SHIELD_PUSH_POLL_SECONDS=0.5,
        SHIELD_PUSH_BREAKER_OPEN_SECONDS=0.3,
        SHIELD_PUSH_BREAKER_MAX_OPEN_SECONDS=1.0,
    )
    with papp.app_context():
        yield papp
        db.session.remove()
    shield.push.shutdown(papp)


def _workers(app, count: int) -> list[PushWorker]:
    """`count` dispatcher loops sharing the app's sender (one process, `count` lease owners)."""
    sender, settings = sender_for(app), settings_for(app)
    return [PushWorker(app, sender, settings, listen=False).start() for _ in range(count)]


def _members(count: int, devices: int = 1) -> dict[str, list[str]]:
    tokens = {}
    for i in range(count):
        member = f"m{i:03d}"
        tokens[member] = [f"tok-{member}-{d}-{'x' * 16}" for d in range(devices)]
        for token in tokens[member]:
            device(member, token)
    return tokens


def _settled() -> bool:
    db.session.rollback()
    busy = db.session.execute(
        select(func.count())
        .select_from(PushDelivery)
        .where(PushDelivery.status == PENDING, PushDelivery.round == 0)
    ).scalar_one()
    planned = db.session.execute(
        select(func.count()).select_from(OutboxEvent).where(OutboxEvent.push_state == PUSH_PENDING)
    ).scalar_one()
    db.session.rollback()
    return busy == 0 and planned == 0


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def _stop(workers) -> None:
    for worker in workers:
        worker.stop()


def test_a_slow_fcm_gets_each_delivery_exactly_once(fault_app, fcm):
    tokens = _members(30, devices=2)
    fcm.delay = 2.0  # longer than the 1.5 s lease: only renewal keeps a second sender off
    workers = _workers(fault_app, 2)
    safety_net = threading.Event()

    def safety_net_job() -> None:  # the scheduler's pass, in the same process, meanwhile
        with fault_app.app_context():
            while not safety_net.wait(0.3):
                dispatch_push()
            db.session.remove()

    job = threading.Thread(target=safety_net_job, daemon=True)
    job.start()
    try:
        for member in tokens:
            emit(member, "claim_approved")
        assert _wait(_settled, timeout=90), "not all deliveries were sent"
    finally:
        safety_net.set()
        job.join(10)
        _stop(workers)
    delivered = fcm.delivered()
    assert len(delivered) == 60
    assert sorted(set(delivered.values())) == [1]  # every device got each message once
    assert len(fcm.sends()) == 60


def test_an_outage_for_everyone_costs_time_not_attempts_and_criticals_drain_first(fault_app, fcm):
    tokens = _members(12)
    breaker = breaker_for(sender_for(fault_app), settings_for(fault_app))
    workers = _workers(fault_app, 1)
    try:
        fcm.outage(3600, F.UNAVAILABLE)  # down until end_outage()
        started = time.monotonic()
        for i, member in enumerate(tokens):  # approvals, payments and notices meanwhile
            emit(member, "claim_under_review", claim_id=f"clm_{i}_review")
            emit(member, "claim_approved", claim_id=f"clm_{i}")
            emit(member, "payout_completed", claim_id=f"clm_{i}_paid")
        assert _wait(lambda: breaker.state != "closed", timeout=30)
        time.sleep(max(0.0, 5.0 - (time.monotonic() - started)))  # probes fail meanwhile
        fcm.end_outage()
        outage = time.monotonic() - started
        assert _wait(_settled, timeout=60), "the backlog did not drain after recovery"
        drained = time.monotonic() - started - outage
    finally:
        _stop(workers)
    delivered = fcm.delivered()
    assert len(delivered) == 36 and set(delivered.values()) == {1}  # none lost, none twice
    failed = [s for s in fcm.sends() if s.status != 200]
    # Sends stopped while FCM was down: a few to notice it, then probes at a bounded rate
    # (every 0.3 s doubling to 1 s here; every 5 s doubling to 60 s by default).
    concurrency = settings_for(fault_app).concurrency
    assert len(failed) <= 5 + concurrency + outage / 0.3 + 2
    rows = db.session.execute(select(PushDelivery).where(PushDelivery.round == 0)).scalars()
    assert {(r.status, r.attempts) for r in rows} == {(SENT, 1)}  # no budget spent
    # After recovery the critical deliveries went first: claimed before any other, so all
    # answered before the others but for the last sends in flight beside them.
    after = [s.message["data"]["event"] for s in fcm.sends(status=200)]
    assert set(after[: 24 - concurrency]) <= CRITICAL, after
    assert max(i for i, name in enumerate(after) if name in CRITICAL) < 24 + concurrency
    assert drained < 30


def test_a_404_page_for_everyone_touches_no_device_alerts_once_and_delivers_later(fault_app, fcm):
    tokens = _members(6)
    workers = _workers(fault_app, 1)
    try:
        fcm.outage(4.0, F.PROXY_404_HTML)  # a wrong endpoint or a proxy, fixed after 4 s
        for member in tokens:
            emit(member, "claim_approved")
        assert _wait(_settled, timeout=60)
    finally:
        _stop(workers)
    assert any(s.status == 404 for s in fcm.sends())
    assert db.session.execute(select(Device).where(Device.active.is_(False))).all() == []
    assert set(fcm.delivered().values()) == {1} and len(fcm.delivered()) == 6
    alerts = db.session.execute(
        select(OutboxEvent).where(OutboxEvent.name == "admin_action_required")
    ).scalars()
    [alert] = list(alerts)
    assert alert.payload["data"]["metadata"]["reason"] == "push_configuration_fault"


def test_a_failing_oauth_endpoint_feeds_the_breaker_with_few_token_requests(fault_app, fcm):
    tokens = _members(10)
    emit("m000", "claim_under_review")
    dispatch_push()  # a token is fetched
    before = fcm.token_requests
    fcm.expire_access_tokens()  # FCM refuses it; a new one cannot be had for 5 s
    outage = 5.0
    fcm.oauth_outage(outage)
    workers = _workers(fault_app, 1)
    try:
        for member in tokens:
            emit(member, "claim_approved")
        assert _wait(_settled, timeout=60)
    finally:
        _stop(workers)
    assert set(fcm.delivered().values()) == {1} and len(fcm.delivered()) == 11
    # One refresh at a time, only when a probe needs one: not one per send or per second
    # of google-auth's own retries.
    assert fcm.token_requests - before <= outage / 0.3 + 3


def test_every_token_expiring_at_once_costs_one_refresh(fault_app, fcm):
    tokens = _members(40)
    emit("m000", "claim_under_review")
    dispatch_push()
    before = fcm.token_requests
    fcm.expire_access_tokens()
    for member in tokens:
        emit(member, "claim_approved")
    dispatch_push()
    assert len(fcm.delivered()) == 41
    assert fcm.token_requests - before == 1


def test_retry_after_counts_from_the_answer(fault_app, fcm):
    token = "tok-slow-503-zzzzzz"
    dev = device("alice", token)
    fcm.latency(token, 1.5)
    fcm.fail(token, F.UNAVAILABLE(retry_after="30"))
    event_id = emit("alice", "claim_approved")
    started = utcnow()
    dispatch_push()
    db.session.expire_all()
    row = db.session.execute(
        select(PushDelivery).where(PushDelivery.event_id == event_id, PushDelivery.device_id == dev)
    ).scalar_one()
    assert row.status == PENDING
    assert row.next_attempt_at >= started + timedelta(seconds=31)  # 30 s after the answer


def test_a_repush_round_never_goes_before_the_first_push(fault_app, fcm):
    token = "tok-repush-first-yyyy"
    dev = device("alice", token)
    fcm.always(token, F.UNAVAILABLE())
    event_id = emit("alice", "payout_completed")
    now = utcnow()
    dispatch_push(now=now)  # round 0 fails (FCM down for this token, nobody else answers)
    dispatch_push(now=now + timedelta(minutes=2, seconds=1))  # round 1 falls due
    rounds = [s.message["data"].get("round") for s in fcm.sends()]
    assert "1" not in rounds, rounds
    fcm.always(token, None)
    dispatch_push(now=now + timedelta(minutes=3))
    rows = db.session.execute(
        select(PushDelivery.round, PushDelivery.status, PushDelivery.next_attempt_at).where(
            PushDelivery.event_id == event_id, PushDelivery.device_id == dev
        )
    ).all()
    states = {r.round: r for r in rows}
    assert states[0].status == SENT
    assert states[1].status == PENDING and states[1].next_attempt_at > now + timedelta(minutes=3)
