"""The wake-able dispatcher loop: a committed event is pushed without waiting for a poll."""

from __future__ import annotations

import threading
import time

import pytest

import shield.push
from jobs.push import run_forever
from models import db
from shield.push.worker import PushWorker
from tests.conftest import ON_POSTGRES
from tests.push.helpers import device, emit

SLOW_POLL = 60  # seconds: far longer than any wait below, so only a wake-up can explain a send
WAKE = 10  # generous (loaded CI machines), still far below SLOW_POLL


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def slow_app(app, make_app, fcm, service_account):
    papp = make_app(
        SHIELD_FCM_SERVICE_ACCOUNT=str(service_account),
        SHIELD_FCM_ENDPOINT=fcm.url,
        SHIELD_PUSH_POLL_SECONDS=SLOW_POLL,
    )
    yield papp
    shield.push.shutdown(papp)


def test_a_commit_wakes_the_dispatcher(slow_app, fcm):
    with slow_app.app_context():
        device("alice", "tok-wake-000001")
        worker = shield.push.start_worker(slow_app, listen=False)
        assert wait_for(lambda: worker.passes >= 1)
        started = time.monotonic()
        emit("alice", "claim_approved")
        assert wait_for(lambda: len(fcm.sends()) == 1, timeout=WAKE)
        assert time.monotonic() - started < WAKE
        # the step that stored the send has ended
        assert wait_for(lambda: not worker.dispatcher.busy and worker.passes >= 3)
        time.sleep(0.1)
        passes = worker.passes
        emit("alice", "claim_submitted")  # not push-worthy: no pass needed
        time.sleep(0.2)
        assert worker.passes == passes
        db.session.remove()


@pytest.mark.postgres
def test_listen_notify_wakes_a_dispatcher_in_another_process(slow_app, fcm):
    # wake_on_commit=False: only PostgreSQL's NOTIFY (sent in the committing transaction)
    # can wake this one, as it would in the jobs process.
    assert ON_POSTGRES
    with slow_app.app_context():
        device("alice", "tok-listen-000001")
        worker = PushWorker(
            slow_app,
            shield.push.sender_for(slow_app),
            shield.push.settings_for(slow_app),
            wake_on_commit=False,
        ).start()
        try:
            assert wait_for(lambda: worker.passes >= 1)
            time.sleep(0.3)  # LISTEN is in place
            emit("alice", "claim_approved")
            assert wait_for(lambda: len(fcm.sends()) == 1, timeout=WAKE)
        finally:
            worker.stop()
        db.session.remove()


def test_the_due_time_of_a_retry_wakes_the_dispatcher(make_app, app, fcm, service_account):
    from tests.fakes import fcm_server as F

    papp = make_app(
        SHIELD_FCM_SERVICE_ACCOUNT=str(service_account),
        SHIELD_FCM_ENDPOINT=fcm.url,
        SHIELD_PUSH_POLL_SECONDS=SLOW_POLL,
        SHIELD_PUSH_RETRY_BASE_SECONDS=0.2,
    )
    try:
        with papp.app_context():
            device("alice", "tok-retry-000001")
            fcm.fail("tok-retry-000001", F.UNAVAILABLE())
            shield.push.start_worker(papp, listen=False)
            emit("alice", "claim_approved")
            ok = wait_for(lambda: [s.status for s in fcm.sends()] == [503, 200], timeout=WAKE)
            assert ok, [(s.status, s.message.get("data")) for s in fcm.sends()]
            db.session.remove()
    finally:
        shield.push.shutdown(papp)


@pytest.mark.parametrize(
    ("worker", "scheduler", "started"),
    [
        ("auto", "off", False),
        ("auto", "inprocess", True),
        ("on", "off", True),
        ("off", "inprocess", False),
    ],
)
def test_init_app_starts_the_worker_when_configured(
    make_app, app, worker, scheduler, started, monkeypatch
):
    # The in-process scheduler is another module's business; only the push worker is checked.
    monkeypatch.setattr("shield.addons._call", lambda module, fn, a: None)
    papp = make_app(SHIELD_PUSH_WORKER=worker, SHIELD_SCHEDULER=scheduler)
    try:
        shield.push.init_app(papp)
        assert (shield.push.WORKER_KEY in papp.extensions) is started
        if started:
            assert papp.extensions[shield.push.WORKER_KEY].alive
            assert shield.push.start_worker(papp) is papp.extensions[shield.push.WORKER_KEY]
    finally:
        shield.push.shutdown(papp)
    assert shield.push.WORKER_KEY not in papp.extensions


def test_run_forever_sends_until_stopped(slow_app, fcm):
    stop = threading.Event()
    runner = threading.Thread(target=run_forever, args=(slow_app, stop))
    runner.start()
    try:
        with slow_app.app_context():
            device("alice", "tok-forever-000001")
            assert wait_for(lambda: shield.push.WORKER_KEY in slow_app.extensions)
            emit("alice", "claim_approved")
            assert wait_for(lambda: len(fcm.sends()) == 1, timeout=WAKE)
            db.session.remove()
    finally:
        stop.set()
        runner.join(10)
    assert not runner.is_alive()
    assert shield.push.WORKER_KEY not in slow_app.extensions
