"""Several dispatcher processes on PostgreSQL: every push exactly once; a kill -9 loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Device, OutboxEvent, PushDelivery, db
from models.delivery import PENDING, SENT
from models.outbox import PUSH_PENDING
from shield import events
from shield.members import ensure_member_id
from tests.push.helpers import event_data

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]


def _spawn(
    database_uri, service_account, fcm, tmp_path, *names, extra=()
) -> list[subprocess.Popen]:
    """Start one runner per name (in parallel) and wait until each is ready."""
    procs = []
    for name in names:
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.push.runner",
                database_uri,
                str(service_account),
                fcm.url,
                *extra,
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        proc.log = log
        procs.append(proc)
    for name, proc in zip(names, procs, strict=True):
        assert proc.stdout.readline().strip() == "ready", (tmp_path / f"{name}.log").read_text()
    return procs


def _go(*procs: subprocess.Popen) -> None:
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()


def _stop(*procs: subprocess.Popen) -> list[int]:
    """SIGTERM them all, wait, and return how many deliveries each reported handling."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    handled = []
    for proc in procs:
        out, _ = proc.communicate(timeout=20)
        proc.log.close()
        counts = [
            int(line.split()[1]) for line in out.splitlines() if line.startswith("processed ")
        ]
        handled.append(counts[0] if counts else -1)
    return handled


def _make_events(count: int, members: int) -> set[tuple[str, str]]:
    """`count` push events spread over `members` members with one device each."""
    tokens = {}
    for i in range(members):
        member_id = f"m{i:03d}"
        ensure_member_id(db.session, member_id)
        tokens[member_id] = f"tok-{member_id}-{'x' * 20}"
        db.session.add(Device(member_id=member_id, token=tokens[member_id], platform="android"))
    db.session.commit()
    for start in range(0, count, 100):
        for i in range(start, min(count, start + 100)):
            member_id = f"m{i % members:03d}"
            events.record(
                db.session, "claim_approved", event_data("claim_approved"), member_id=member_id
            )
        db.session.commit()
    rows = db.session.execute(
        select(OutboxEvent.id, OutboxEvent.member_id).where(OutboxEvent.name == "claim_approved")
    ).all()
    assert len(rows) == count
    return {(tokens[member_id], event_id) for event_id, member_id in rows}


def _drained(count: int) -> bool:
    db.session.rollback()
    sent = db.session.execute(
        select(func.count()).select_from(PushDelivery).where(PushDelivery.status == SENT)
    ).scalar_one()
    waiting = db.session.execute(
        select(func.count()).select_from(OutboxEvent).where(OutboxEvent.push_state == PUSH_PENDING)
    ).scalar_one()
    db.session.rollback()
    return sent == count and waiting == 0


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_two_dispatcher_processes_send_every_push_exactly_once(
    ctx, fcm, service_account, database_uri, tmp_path
):
    expected = _make_events(1000, members=40)
    procs = _spawn(
        database_uri, service_account, fcm, tmp_path, "d0", "d1", extra=("--batch", "50", "--wait")
    )
    try:
        _go(*procs)  # both start draining at the same moment
        assert _wait(lambda: _drained(1000), timeout=90), "not drained"
    finally:
        handled = _stop(*procs)
    delivered = fcm.delivered()
    assert set(delivered) == expected  # every push, to the right device
    assert all(n == 1 for n in delivered.values())  # and each exactly once
    assert len(fcm.sends()) == 1000 and fcm.shape_errors == []
    assert sum(handled) == 1000 and all(n > 0 for n in handled), handled


def test_a_dispatcher_killed_mid_batch_loses_nothing(
    ctx, fcm, service_account, database_uri, tmp_path
):
    expected = _make_events(300, members=30)
    fcm.delay = 0.05  # keep requests in flight
    [victim] = _spawn(
        database_uri,
        service_account,
        fcm,
        tmp_path,
        "victim",
        extra=("--batch", "20", "--concurrency", "4"),  # the default lease (10 s)
    )
    assert _wait(lambda: len(fcm.sends()) >= 40, timeout=30)
    fcm.hold()  # the sends now arriving stay in flight...
    assert _wait(lambda: fcm.held > 0, timeout=30)
    victim.kill()  # ...when the dispatcher dies (SIGKILL: no cleanup, leases stay)
    killed = time.monotonic()
    victim.wait(10)
    victim.stdin.close()
    victim.stdout.close()
    victim.log.close()
    fcm.delay = 0
    fcm.release()
    db.session.rollback()
    in_flight = {
        (token, event_id)
        for token, event_id in db.session.execute(
            select(Device.token, PushDelivery.event_id)
            .join(Device, Device.id == PushDelivery.device_id)
            .where(
                PushDelivery.status == PENDING, PushDelivery.lease_owner.like(f"%:{victim.pid}:%")
            )
        ).all()
    }
    assert in_flight, "the victim held no work when killed"
    # It held only what it was sending: one delivery per send slot, no batch behind them.
    assert len(in_flight) <= 4
    sent_before = set(fcm.delivered())
    assert len(sent_before) < 300
    [survivor] = _spawn(database_uri, service_account, fcm, tmp_path, "survivor")

    def resumed() -> bool:
        done = fcm.delivered()
        return all(key in done for key in in_flight)

    try:
        assert _wait(resumed, timeout=60)
        assert time.monotonic() - killed <= 15  # taken over within seconds, not a minute
        assert _wait(lambda: _drained(300), timeout=60), "not drained after the restart"
    finally:
        _stop(survivor)
    delivered = fcm.delivered()
    assert set(delivered) == expected  # nothing lost
    repeated = {key for key, n in delivered.items() if n > 1}
    assert repeated <= in_flight  # only what was in flight may repeat
    assert all(n <= 2 for n in delivered.values())
